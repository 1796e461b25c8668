"""Done when: a manager in sales.org hears of a stalled deal and of its end, by Slack and by
email, once each, across a worker restart."""

from __future__ import annotations

import signal

import pytest

from schemas import RepUpserted
from streamer.kafka_admin import ensure_topics
from tests.factories import at, created, moved

from .kafka_helpers import event_bytes, isolated_settings, produce
from .notify_servers import FakeSlack, FakeSmtp, receivers_config
from .test_notify_lifecycle_live import _wait_metric as wait_metric

pytestmark = pytest.mark.kafka


def person(rep_id: str, manager_id: str, **extra) -> RepUpserted:
    return RepUpserted(
        event_id=f"org-{rep_id}",
        occurred_at=at(-10),
        source="test",
        rep_id=rep_id,
        name=rep_id.title(),
        team_id="emea",
        manager_id=manager_id,
        **extra,
    )


async def test_manager_hears_of_stalled_deal_and_its_end_by_slack_and_email_once(
    make_worker, tmp_path
):
    async with FakeSlack() as slack:
        with FakeSmtp(tmp_path) as smtp:
            config = receivers_config(
                slack,
                smtp,
                routes=[{"rules": ["deal_stalled"], "receivers": ["mgr-slack", "mgr-email"]}],
            )
            settings = isolated_settings(
                tmp_path, clock="event", allowed_lateness_seconds=0, notifications=config
            )
            await ensure_topics(settings)
            org = [
                person("rep-17", "mgr-3"),
                person("mgr-3", "vp-1", email="dana@example.com", slack_user_id="U0DANA"),
            ]
            await produce(
                settings, [(settings.topics.org, p.rep_id.encode(), event_bytes(p)) for p in org]
            )
            worker = make_worker(settings)
            worker.start()
            worker.wait_ready()

            def tail() -> str:
                return worker.tail()

            deals = [
                created("stuck", 0, "proposal", rep_id="rep-17"),
                *(created(f"other-{i}", 25, "proposal") for i in range(6)),
                created("clock", 30, "prospecting"),
            ]
            await produce(
                settings,
                [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in deals],
            )
            await slack.wait_for(
                lambda: len(slack.delivered("/api/")) >= 1 and len(smtp.messages) >= 1,
                90,
                "the stalled deal by Slack and email",
                tail,
            )
            [dm] = slack.delivered("/api/")
            assert dm.payload["channel"] == "U0DANA"
            assert dm.payload["_authorization"] == "Bearer xoxb-test-token"
            assert dm.payload["text"].startswith("Firing: Deal stuck stalled in proposal")
            [mail] = smtp.messages
            assert smtp.recorder.envelopes[0][1] == ["dana@example.com"]
            assert smtp.logins == ["alerts"]
            assert mail["Subject"].startswith("[salespulse] WARNING Firing: Deal stuck stalled")
            assert mail["Auto-Submitted"] == "auto-generated"
            assert mail["Date"] and mail["Message-ID"].endswith("@example.com>")
            kinds = sorted(part.get_content_type() for part in mail.walk())
            assert "text/plain" in kinds and "text/html" in kinds

            # a restart (SIGKILL, the hard one) once both deliveries are in the delivery log
            # sends nothing again. (A kill between a receiver's answer and that record is
            # the in-flight case: test_notify_delivery_live covers it.)
            for receiver in ("mgr-slack", "mgr-email"):
                await wait_metric(
                    worker,
                    f'salespulse_notifications_delivered_total{{kind="firing",receiver="{receiver}"}}'
                    " 1.0",
                )
            worker.stop(signal.SIGKILL)
            worker.start()
            worker.wait_ready()
            await produce(
                settings,
                [
                    (
                        settings.topics.deals,
                        b"stuck",
                        event_bytes(moved("stuck", 31, "proposal", "negotiation", rep_id="rep-17")),
                    )
                ],
            )
            await slack.wait_for(
                lambda: len(slack.delivered("/api/")) >= 2 and len(smtp.messages) >= 2,
                90,
                "the resolution by Slack and email",
                tail,
            )
            texts = [c.payload["text"] for c in slack.delivered("/api/")]
            assert [t.split(":")[0] for t in texts] == ["Firing", "Resolved"]
            subjects = [m["Subject"] for m in smtp.messages]
            assert subjects[1].strip().startswith("[salespulse] WARNING Resolved: Deal stuck")
            assert len({m["Message-ID"] for m in smtp.messages}) == 2
            assert len(slack.calls) == 2 and len(smtp.messages) == 2, "no duplicates"
