"""``salespulse alerts``: follow the alerts topic and print each alert readably."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import TextIO

from aiokafka import AIOKafkaConsumer
from pydantic import ValidationError

from schemas import Alert

from .kafka_admin import client_options
from .settings import Settings

__all__ = ["follow_alerts", "format_alert"]


def format_alert(alert: Alert) -> str:
    """A few lines a person reads at a glance: state, rule, subject, why, the numbers."""
    who = [
        f"rep {alert.rep_id}" if alert.rep_id else None,
        f"team {alert.team_id}" if alert.team_id else None,
        f"manager {alert.manager_id}" if alert.manager_id else None,
    ]
    context = ", ".join(w for w in who if w)
    when = alert.resolved_at if alert.status == "resolved" else alert.started_at
    numbers = "  ".join(f"{k}={v}" for k, v in alert.metrics.items())
    head = (
        f"{alert.status.upper():8} {alert.severity:8} {alert.rule}  "
        f"{alert.subject.kind}:{alert.subject.id}"
    )
    lines = [
        head + (f"  ({context})" if context else ""),
        f"         {alert.title}",
        f"         {alert.summary}",
        f"         {numbers}",
        f"         {alert.status} at {when:%Y-%m-%d %H:%M} UTC, id {alert.alert_id}",
    ]
    return "\n".join(lines)


async def follow_alerts(
    settings: Settings,
    *,
    from_beginning: bool = True,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    stop: asyncio.Event | None = None,
    on_alert: Callable[[Alert], None] | None = None,
) -> int:
    """Print alerts until ``stop`` is set (or forever). Returns how many were printed."""
    consumer = AIOKafkaConsumer(
        settings.topics.alerts,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest" if from_beginning else "latest",
        **client_options(settings),
    )
    await consumer.start()
    printed = 0
    try:
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500)
            for records in batches.values():
                for record in records:
                    if record.value is None:
                        continue
                    try:
                        alert = Alert.from_json(record.value)
                    except ValidationError as error:
                        print(f"(unreadable alert at offset {record.offset}: {error})", file=out)
                        continue
                    if as_json:
                        print(record.value.decode("utf-8"), file=out)
                    else:
                        print(format_alert(alert) + "\n", file=out)
                    out.flush()
                    printed += 1
                    if on_alert is not None:
                        on_alert(alert)
    finally:
        await consumer.stop()
    return printed
