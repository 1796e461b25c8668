"""deal_stalled through the real Kafka and a real worker process."""

from __future__ import annotations

import pytest

from streamer.kafka_admin import ensure_topics
from tests.factories import created, moved

from .kafka_helpers import Collector, event_bytes, isolated_settings, produce

pytestmark = pytest.mark.kafka


def deal_msgs(settings, *events):
    return [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in events]


async def test_stalled_deal_alerts_with_no_event_of_its_own_and_resolves_when_it_moves(
    make_worker, tmp_path
):
    settings = isolated_settings(tmp_path, clock="event", allowed_lateness_seconds=0)
    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    async with Collector(settings, settings.topics.alerts) as alerts:
        # One deal enters proposal on day 0 and is never heard of again; other deals
        # (on other partitions, as keys spread) carry event time forward to day 30.
        others = [created(f"other-{i}", 25, "proposal") for i in range(6)]
        await produce(
            settings,
            deal_msgs(
                settings,
                created("stuck", 0, "proposal", rep_id="rep-17"),
                *others,
                created("clock", 30, "prospecting"),
            ),
        )
        await alerts.wait_for(
            lambda rs: any(b'"firing"' in r.value for r in rs),
            60,
            "a firing alert",
            worker.tail,
        )
        [firing] = alerts.values()
        assert firing["alert_id"] == "deal_stalled:stuck:2026-11-01T09:00:00Z"
        assert firing["subject"] == {"kind": "deal", "id": "stuck"}
        assert firing["rep_id"] == "rep-17"
        assert firing["metrics"]["threshold_days"] == 28.0
        assert firing["metrics"]["days_in_stage"] >= 28.0
        assert alerts.records[0].key == b"deal:stuck"

        await produce(settings, deal_msgs(settings, moved("stuck", 31, "proposal", "negotiation")))
        await alerts.wait_for(lambda rs: len(rs) >= 2, 60, "the resolution", worker.tail)
        resolved = alerts.values()[1]
        assert resolved["status"] == "resolved"
        assert resolved["alert_id"] == firing["alert_id"]
        assert resolved["resolved_at"] == "2026-12-02T09:00:00Z"
    metrics = worker.metrics()
    assert 'salespulse_alerts_total{rule="deal_stalled",status="firing"} 1.0' in metrics
    assert 'salespulse_events_accepted_total{event_type="deal.created"} 8.0' in metrics


async def test_wall_clock_worker_reports_a_deal_that_entered_its_stage_weeks_ago(
    make_worker, tmp_path
):
    from datetime import UTC, datetime, timedelta

    from tests.factories import T0

    settings = isolated_settings(tmp_path, clock="wall")
    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    days_ago = (datetime.now(UTC) - T0) / timedelta(days=1)
    async with Collector(settings, settings.topics.alerts) as alerts:
        await produce(
            settings,
            deal_msgs(
                settings,
                created("old", days_ago - 40, "proposal"),
                created("young", days_ago - 1, "proposal"),
            ),
        )
        await alerts.wait_for(lambda rs: len(rs) >= 1, 60, "a firing alert", worker.tail)
        [alert] = alerts.values()
        assert alert["subject"]["id"] == "old" and alert["status"] == "firing"
        assert 39.9 < alert["metrics"]["days_in_stage"] < 40.5
