"""Notifications through a real worker, the real Kafka and a local server answering as Slack.

Alerts are written straight to the alerts topic (the worker reads them back
from there), so each test controls the lifecycle exactly.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from schemas import Alert
from streamer.kafka_admin import ensure_topics
from streamer.notify.commands import build_command, send_command

from .kafka_helpers import Collector, isolated_settings, produce
from .notify_servers import FakeSlack, receivers_config

pytestmark = pytest.mark.kafka


def alert(deal: str, status: str = "firing", rule: str = "deal_stalled", **extra) -> Alert:
    started = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    fields = {
        "alert_id": f"{rule}:{deal}:2026-11-20T09:00:00Z",
        "alert_key": f"{rule}:deal:{deal}",
        "rule": rule,
        "status": status,
        "severity": "warning",
        "subject": {"kind": "deal", "id": deal},
        "rep_id": "rep-1",
        "team_id": "emea",
        "title": f"Deal {deal} stalled in proposal",
        "summary": "In proposal for 31.0 days; deals usually leave after 12.4 days.",
        "metrics": {"days_in_stage": 31.0, "threshold_days": 24.8, "samples": 57},
        "started_at": started,
        "resolved_at": started + timedelta(days=3) if status == "resolved" else None,
        "emitted_at": datetime.now(UTC),
    }
    fields.update(extra)
    return Alert.model_validate(fields)


async def send_alerts(settings, *alerts: Alert) -> None:
    await produce(
        settings,
        [(settings.topics.alerts, a.subject.key.encode(), a.to_json_bytes()) for a in alerts],
    )


def headers_of(slack: FakeSlack, deal: str) -> list[str]:
    return [
        c.payload["blocks"][0]["text"]["text"]
        for c in slack.delivered("/hook/")
        if f"deal:{deal}" in json.dumps(c.payload)
    ]


async def test_firing_reminder_ack_snooze_and_resolution_each_reach_slack_once(
    make_worker, tmp_path
):
    async with FakeSlack() as slack:
        settings = isolated_settings(
            tmp_path, notifications=receivers_config(slack, repeat_interval_seconds=2.0)
        )
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        tail = worker.tail

        # firing: one message; after the repeat interval, a reminder
        await send_alerts(settings, alert("a"))
        await slack.wait_for(lambda: len(headers_of(slack, "a")) >= 2, 60, "a reminder", tail)
        first, second = headers_of(slack, "a")[:2]
        assert first.startswith("\U0001f6a8 Firing: Deal a stalled")
        assert second.startswith("\U0001f501 Still firing: Deal a stalled")
        gap = [c.received_at for c in slack.delivered("/hook/")]
        assert gap[1] - gap[0] >= 1.9

        # ack: no more reminders. Another alert's reminder proves time has passed.
        await send_command(settings, build_command("ack", "deal_stalled:deal:a", "mgr-3", now()))
        await _wait_metric(worker, 'salespulse_notifications_commands_total{command="ack"} 1.0')
        count_after_ack = len(headers_of(slack, "a"))
        await send_alerts(settings, alert("b"))
        await slack.wait_for(lambda: len(headers_of(slack, "b")) >= 3, 60, "b's reminders", tail)
        assert len(headers_of(slack, "a")) == count_after_ack

        # snooze: quiet until it ends, then the alert comes back (and is re-sent on the topic)
        await send_command(
            settings,
            build_command(
                "snooze", "deal_stalled:deal:b", "mgr-3", now(), now() + timedelta(seconds=5)
            ),
        )
        await _wait_metric(worker, 'salespulse_notifications_commands_total{command="snooze"} 1.0')
        snoozed_at = time.time()
        count_at_snooze = len(headers_of(slack, "b"))
        await slack.wait_for(
            lambda: len(headers_of(slack, "b")) > count_at_snooze, 60, "b after its snooze", tail
        )
        back = [c for c in slack.delivered("/hook/") if "deal:b" in json.dumps(c.payload)]
        back = back[count_at_snooze]
        assert back.received_at - snoozed_at >= 4.5, "nothing while snoozed"
        assert back.payload["blocks"][0]["text"]["text"].startswith("\U0001f6a8 Firing")
        async with Collector(settings, settings.topics.alerts) as alerts_topic:
            await alerts_topic.wait_for(
                lambda rs: sum(b'"deal_stalled:deal:b"' in r.value for r in rs) >= 2,
                30,
                "b re-sent on the alerts topic after the snooze",
            )

        # resolution: one message; nothing after it
        await send_alerts(settings, alert("a", "resolved"), alert("a", "resolved"))
        await slack.wait_for(
            lambda: any("Resolved" in h for h in headers_of(slack, "a")), 60, "a resolved", tail
        )
        ids = [c.notification_id for c in slack.delivered("/hook/")]
        assert len(ids) == len(set(ids)), "every notification exactly once"
        assert sum("Resolved" in h for h in headers_of(slack, "a")) == 1
        metrics = worker.metrics()
        assert 'salespulse_notifications_delivered_total{kind="firing",receiver="team-hook"}' in (
            metrics
        )
        assert "hook/team" not in metrics and "xoxb" not in metrics


def now() -> datetime:
    return datetime.now(UTC)


async def _wait_metric(worker, line: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in worker.metrics():
        if time.monotonic() > deadline:
            raise AssertionError(f"metric {line!r} not seen\n{worker.tail()}")
        await _pause()


async def _pause() -> None:
    import asyncio

    await asyncio.sleep(0.2)


async def test_an_episode_already_over_when_it_becomes_known_reaches_nobody(make_worker, tmp_path):
    """A backfill reveals, long after, a stall and its end together: both are on the
    alerts topic, nobody is told. A stall revealed as late that still holds is told."""
    async with FakeSlack() as slack:
        settings = isolated_settings(
            tmp_path, notifications=receivers_config(slack, repeat_interval_seconds=0)
        )
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        began = datetime.now(UTC) - timedelta(days=9)  # days before the rules wrote it
        over = alert("x", started_at=began)
        still = alert("x", rule="follow_up_gap", started_at=began)
        ended = alert("x", "resolved", started_at=began, resolved_at=began + timedelta(days=2))
        await send_alerts(settings, over, ended, still)  # one subject: read in this order

        def told(rule: str) -> list[str]:
            return [
                c.payload["blocks"][0]["text"]["text"]
                for c in slack.delivered("/hook/")
                if f"{rule}:deal:x" in json.dumps(c.payload)
            ]

        await slack.wait_for(lambda: told("follow_up_gap"), 60, "the stall that holds", worker.tail)
        # it was held to the tick after the messages, as the other was: had the other been
        # told, it would be here by now
        assert told("deal_stalled") == [], "neither its firing nor its resolution"
        metrics = worker.metrics()
        assert 'salespulse_notifications_notices_total{kind="firing"} 1.0' in metrics
        assert 'salespulse_notifications_notices_total{kind="resolved"}' not in metrics
