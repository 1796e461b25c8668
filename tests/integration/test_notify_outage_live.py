"""Notifications under fault (issue 11 item 6): Slack answers 500 and the mail server is
down, both for two minutes, while alerts keep coming; afterwards every notification has
arrived, each exactly once (no worker crashes here, so not even the one repeat
docs/notifications.md allows for a send in flight at a crash), to each target in the
order the alerts came.

Real parts: a worker process, a Kafka broker of the test's own (a test this long on the
shared broker would see its topics deleted by another session's clean-up), a local
HTTP server answering as Slack does (500 throughout the outage) and an in-process SMTP
server with STARTTLS and login, stopped for the outage (connections refused) and
started again on the same port. The retry settings are the defaults: they are what
must outlast the outage.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import pytest

from streamer.kafka_admin import ensure_topics

from .kafka_faults import own_broker
from .kafka_helpers import Collector, isolated_settings
from .notify_servers import FakeSlack, FakeSmtp
from .test_notify_lifecycle_live import alert, send_alerts

pytestmark = pytest.mark.kafka

OUTAGE_SECONDS = 120.0
ALERT_EVERY_SECONDS = 15.0


def outage_config(slack: FakeSlack, smtp: FakeSmtp) -> dict:
    return {
        "receivers": {
            "team": {"type": "slack_webhook", "url": slack.url("/hook/team")},
            "mail": {
                "type": "email",
                "host": "127.0.0.1",
                "port": smtp.port,
                "username": "alerts",
                "password": "s3cret",
                "start_tls": True,
                "ca_file": str(smtp.cert),
                "sender": "salespulse <alerts@example.com>",
                "to": ["sales-managers@example.com"],
            },
        },
        "routes": [{"rules": ["deal_stalled"], "receivers": ["team", "mail"]}],
        "repeat_interval_seconds": 0,
        "dlq_topic": f"t-{uuid.uuid4().hex[:10]}.notifications-dlq",
    }


def notification_ids(deal: str) -> tuple[str, str]:
    episode = f"deal_stalled:{deal}:2026-11-20T09:00:00Z:firing:1"
    return f"{episode}:team", f"{episode}:mail"


@pytest.mark.timeout(600)
async def test_slack_500_and_smtp_down_for_two_minutes_every_notification_arrives_once(
    make_worker, tmp_path
):
    async with FakeSlack() as slack:
        with FakeSmtp(tmp_path) as smtp, own_broker(tmp_path / "broker") as broker:
            config = outage_config(slack, smtp)
            settings = isolated_settings(
                tmp_path, kafka_bootstrap=broker.kafka_bootstrap, notifications=config
            )
            await ensure_topics(settings)
            worker = make_worker(settings)
            worker.start()
            worker.wait_ready()

            def mailed() -> Counter[str]:
                return Counter(
                    str(m["X-Salespulse-Notification-Id"]).strip() for m in smtp.messages
                )

            def slacked() -> Counter[str]:
                return Counter(c.notification_id or "" for c in slack.delivered("/hook/team"))

            before = [f"before-{i}" for i in range(2)]
            await send_alerts(settings, *(alert(d) for d in before))
            await slack.wait_for(
                lambda: len(slacked()) == len(before) and len(mailed()) == len(before),
                60,
                "the notifications before the outage",
                worker.tail,
            )

            # the outage: Slack answers 500, the mail server refuses connections
            slack.failing_until = time.time() + OUTAGE_SECONDS
            smtp.down()
            outage_start = time.monotonic()
            during = []
            while time.monotonic() - outage_start < OUTAGE_SECONDS - ALERT_EVERY_SECONDS / 2:
                deal = f"during-{len(during)}"
                during.append(deal)
                await send_alerts(settings, alert(deal))
                await asyncio.sleep(ALERT_EVERY_SECONDS)
            await asyncio.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - outage_start)))
            smtp.up()
            back_at = time.monotonic()
            failed_tries = sum(c.status == 500 for c in slack.calls)
            after = [f"after-{i}" for i in range(2)]
            await send_alerts(settings, *(alert(d) for d in after))

            deals = [*before, *during, *after]
            await slack.wait_for(
                lambda: len(slacked()) >= len(deals) and len(mailed()) >= len(deals),
                240,
                "every notification after the outage",
                worker.tail,
            )
            caught_up = time.monotonic() - back_at
            async with Collector(settings, config["dlq_topic"]) as dlq:
                await dlq.read_to_end(timeout=30)
                dead = list(dlq.records)
            metrics = worker.metrics()
            assert worker.stop() == 0, worker.tail()  # while its broker is there

    print(
        f"\n{len(deals)} alerts ({len(during)} during the {OUTAGE_SECONDS:.0f}s outage), each "
        f"to Slack and to email; Slack answered 500 {failed_tries} times; every notification "
        f"delivered {caught_up:.1f}s after both were back"
    )
    assert failed_tries >= 1, "the outage was never felt: nothing tried during it"
    assert dead == [], [(dict(r.headers), r.value[:200]) for r in dead]
    assert "salespulse_notifications_failed_total{" not in metrics
    slack_ids = {notification_ids(d)[0] for d in deals}
    mail_ids = {notification_ids(d)[1] for d in deals}
    assert set(slacked()) == slack_ids and set(mailed()) == mail_ids
    assert max(slacked().values()) == 1, slacked()
    assert max(mailed().values()) == 1, mailed()
    # and in the order the alerts came, to each target (Counter keeps first-seen order)
    assert list(slacked()) == [notification_ids(d)[0] for d in deals]
    assert list(mailed()) == [notification_ids(d)[1] for d in deals]
