"""``salespulse alerts ack|snooze|unsnooze KEY``: write an alert command to Kafka.

The command goes to the alert-commands topic keyed by the alert's subject key
(``deal:<id>``, ``rep:<id>``), the key of its alerts, so the worker that owns
the alert's partition applies it.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import AlertAck, AlertSnooze, AlertUnsnooze

from ..kafka_admin import client_options
from .lifecycle import subject_key_of

__all__ = ["build_command", "parse_until", "send_command"]

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_until(text: str, now: datetime) -> datetime:
    """``2h``, ``30m``, ``1d`` (from now) or an RFC 3339 timestamp with an offset."""
    match = _RELATIVE.fullmatch(text.strip())
    if match:
        return now + timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"{text!r}: give an offset (e.g. Z or +01:00) or a duration like 2h")
    return moment.astimezone(UTC)


def build_command(
    action: str,
    alert_key: str,
    by: str,
    now: datetime,
    until: datetime | None = None,
    reason: str | None = None,
) -> AlertAck | AlertSnooze | AlertUnsnooze:
    subject_key_of(alert_key)  # refuse what is not an alert key before sending it
    common: dict[str, Any] = {
        "event_id": f"cmd-{uuid.uuid4()}",
        "occurred_at": now,
        "source": "salespulse-cli",
        "alert_key": alert_key,
        "by": by,
        "reason": reason,
    }
    if action == "ack":
        return AlertAck(**common)
    if action == "snooze":
        return AlertSnooze(**common, until=until)
    if action == "unsnooze":
        return AlertUnsnooze(**common)
    raise ValueError(f"unknown alert command {action!r}")


async def send_command(settings: object, command: AlertAck | AlertSnooze | AlertUnsnooze) -> None:
    producer = AIOKafkaProducer(acks="all", **client_options(settings))  # type: ignore[arg-type]
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.commands,  # type: ignore[attr-defined]
            key=subject_key_of(command.alert_key).encode(),
            value=command.model_dump_json(exclude_none=True).encode(),
        )
    finally:
        await producer.stop()
