"""HubSpot to a manager's Slack and back: a deal moved to a stage and left there becomes a
deal_stalled alert from a real worker, delivered to Slack with buttons; pressing
Acknowledge (signed, through the gateway) stops the reminders and updates the message."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from streamer.kafka_admin import ensure_topics
from tests.integration.kafka_helpers import Collector
from tests.integration.notify_servers import FakeSlack, receivers_config

from .live import SLACK_SECRET, SlackStandIn, gateway_settings, post, running
from .payloads import T_MS, hs_body, hs_notification, slack_press, slack_sign
from .test_gateway_live import hs_headers

pytestmark = pytest.mark.kafka

DAY = 86_400_000


def created(deal: int, day: float, stage: str = "appointmentscheduled") -> list[dict]:
    at = T_MS + int(day * DAY)
    return [
        hs_notification("deal.creation", deal, at),
        hs_notification("deal.propertyChange", deal, at, "dealstage", stage),
        hs_notification("deal.propertyChange", deal, at, "hubspot_owner_id", "910"),
    ]


def messages_about(slack: FakeSlack, deal: str) -> list[dict]:
    return [
        c.payload for c in slack.delivered("/hook/") if f"deal:{deal}`" in json.dumps(c.payload)
    ]


async def _wait_metric(worker, line: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while line not in worker.metrics():
        if time.monotonic() > deadline:
            raise AssertionError(f"metric {line!r} not seen\n{worker.tail()}")
        await asyncio.sleep(0.2)  # polling the worker's live metrics page for a condition


async def test_hubspot_deal_left_in_its_stage_alerts_and_a_slack_button_acks_it(
    make_worker, tmp_path
) -> None:
    async with FakeSlack() as slack, SlackStandIn() as stand_in:
        settings = gateway_settings(
            tmp_path,
            slack_url=stand_in.base,
            clock="event",
            allowed_lateness_seconds=0,
            notifications=receivers_config(slack, repeat_interval_seconds=2.0),
            gateway={"max_body_bytes": 65536},
        )
        await ensure_topics(settings)
        worker = make_worker(settings)
        worker.start()
        worker.wait_ready()
        async with running(settings), Collector(settings, settings.topics.alerts) as alerts:
            # deals 1 and 2 enter qualification on day 0 and are never heard of again;
            # others carry event time to day 30 (threshold: 2 x 14 days)
            items = created(1, 0) + created(2, 0)
            items += [n for d in range(10, 16) for n in created(d, 25)] + created(99, 30)
            body = hs_body(*items)
            status, answer, _ = await post(settings, "/hubspot", body, hs_headers(settings, body))
            assert status == 200, answer
            await alerts.wait_for(
                lambda rs: sum(b'"firing"' in r.value for r in rs) >= 2,
                90,
                "two stalls",
                worker.tail,
            )
            firing = {a["subject"]["id"]: a for a in alerts.values() if a["status"] == "firing"}
            assert firing["hs-1"]["rule"] == "deal_stalled" and firing["hs-1"]["rep_id"] == "rep-17"

            await slack.wait_for(
                lambda: len(messages_about(slack, "hs-1")) >= 1, 60, "hs-1 in Slack", worker.tail
            )
            delivered = messages_about(slack, "hs-1")[0]
            buttons = delivered["blocks"][-1]
            ack = next(e for e in buttons["elements"] if e["action_id"] == "salespulse_ack")
            press = slack_press(
                ack["value"],
                ack["action_id"],
                stand_in.base + "actions/T0TEAM/1/x",
                message=delivered,
            )
            status, _, seconds = await post(
                settings,
                "/slack/interactions",
                press,
                slack_sign(SLACK_SECRET, int(time.time()), press),
            )
            assert status == 200 and seconds < 3.0
            await _wait_metric(worker, 'salespulse_notifications_commands_total{command="ack"} 1.0')
            await stand_in.wait_for(1, 30)
            count_after_ack = len(messages_about(slack, "hs-1"))
            # hs-2's reminders prove time has passed; hs-1 stays quiet
            seen = len(messages_about(slack, "hs-2"))
            await slack.wait_for(
                lambda: len(messages_about(slack, "hs-2")) >= seen + 2, 60, "reminders", worker.tail
            )
            assert len(messages_about(slack, "hs-1")) == count_after_ack
    update = stand_in.posts[0]
    assert update["replace_original"] is True
    assert all(b.get("block_id") != "salespulse_actions" for b in update["blocks"])
    assert "Acknowledged `deal_stalled:deal:hs-1`" in json.dumps(update)
