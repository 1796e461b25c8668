"""Slack's answers through a real worker: 429 slows without losing, 404 is reported and not
retried, 500 is retried with backoff, and SIGKILL mid-delivery repeats nothing delivered."""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter

import pytest

from streamer.kafka_admin import ensure_topics

from .kafka_helpers import Collector, isolated_settings
from .notify_servers import FakeSlack
from .test_notify_lifecycle_live import alert, send_alerts

pytestmark = pytest.mark.kafka


def hooks_config(slack: FakeSlack, *names: str, **extra) -> dict:
    receivers = {n: {"type": "slack_webhook", "url": slack.url(f"/hook/{n}")} for n in names}
    routes = [{"rules": [n], "receivers": [n]} for n in names]
    config = {
        "receivers": receivers,
        "routes": routes,
        "repeat_interval_seconds": 0,
        "retry": {"max_attempts": 4, "backoff_initial_seconds": 0.2, "backoff_max_seconds": 1},
        "dlq_topic": f"t-{uuid.uuid4().hex[:10]}.notifications-dlq",
    }
    config.update(extra)
    return config


def calls_to(slack: FakeSlack, name: str):
    return [c for c in slack.calls if c.path == f"/hook/{name}"]


async def test_429_slows_404_is_reported_not_retried_500_is_retried(make_worker, tmp_path):
    async with FakeSlack() as slack:
        slack.script = {"slow429": ["429:2"], "gone": ["404"], "flaky": ["500", "500"]}
        config = hooks_config(slack, "slow429", "gone", "flaky")
        settings = isolated_settings(tmp_path, notifications=config)
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        await send_alerts(
            settings,
            alert("x1", rule="slow429"),
            alert("x2", rule="slow429"),
            alert("y", rule="gone"),
            alert("z", rule="flaky"),
        )
        await slack.wait_for(
            lambda: len([c for c in slack.delivered() if c.path != "/hook/gone"]) >= 3,
            90,
            "the three deliverable notifications",
            worker.tail,
        )
        # 429: the same message again after Retry-After, then the next one; none lost
        slow = calls_to(slack, "slow429")
        assert [c.status for c in slow] == [429, 200, 200]
        assert slow[0].notification_id == slow[1].notification_id
        assert slow[1].received_at - slow[0].received_at >= 1.9
        assert slow[2].received_at - slow[1].received_at >= 0.9, "one message a second"
        # 500: retried with backoff until it goes through
        assert [c.status for c in calls_to(slack, "flaky")] == [500, 500, 200]
        # 404: one try, then the dead-letter topic with the reason
        async with Collector(settings, config["dlq_topic"]) as dlq:
            await dlq.wait_for(lambda rs: len(rs) >= 1, 30, "the dead letter", worker.tail)
            [record] = dlq.records
        headers = dict(record.headers)
        assert headers["error"] == b"http_404_channel_not_found"
        assert headers["receiver"] == b"gone"
        assert json.loads(record.value)["items"][0]["alert"]["alert_key"] == ("gone:deal:y")
        assert [c.status for c in calls_to(slack, "gone")] == [404]
        metrics = worker.metrics()
        assert (
            'salespulse_notifications_failed_total{reason="http_404_channel_not_found",'
            'receiver="gone"} 1.0' in metrics
        )
        assert (
            'salespulse_notifications_attempts_total{receiver="slow429",result="rate_limited"} 1.0'
            in metrics
        )
        assert "/hook/" not in metrics


async def test_sigkill_mid_delivery_then_restart_delivers_each_notification_once(
    make_worker, tmp_path
):
    async with FakeSlack() as slack:
        slack.script = {"team": ["slow:0.3", "slow:0.3", "slow:0.3", "slow:5"]}
        settings = isolated_settings(tmp_path, notifications=hooks_config(slack, "team"))
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        deals = [f"k{i}" for i in range(8)]
        await send_alerts(settings, *(alert(d, rule="team") for d in deals))
        # three answered, the fourth is being held by the server: kill the worker now
        await slack.wait_for(lambda: len(slack.calls) >= 4, 60, "4 requests", worker.tail)
        assert worker.stop(signal.SIGKILL) == -signal.SIGKILL
        in_flight = slack.calls[3].notification_id
        worker.start()
        worker.wait_ready()
        await slack.wait_for(
            lambda: len({c.notification_id for c in slack.delivered()}) >= len(deals),
            90,
            "every notification after the restart",
            worker.tail,
        )
        answered = Counter(c.notification_id for c in slack.delivered())
        assert set(answered) == {f"team:{d}:2026-11-20T09:00:00Z:firing:1:team" for d in deals}
        assert all(n == 1 for n in answered.values()), answered
        # the one in flight at the kill was sent again (its answer never arrived): the only
        # repeat a receiver without an idempotency key can see
        assert sum(c.notification_id == in_flight for c in slack.calls) == 2
        assert len(slack.calls) == len(deals) + 1
