"""A real Prometheus scrapes a real worker fed through the real Kafka and answers PromQL."""

from __future__ import annotations

import pytest

from streamer.kafka_admin import ensure_topics
from tests.factories import created, moved

from .kafka_helpers import event_bytes, isolated_settings, produce
from .prometheus_helpers import start_prometheus

pytestmark = pytest.mark.kafka


async def test_prometheus_answers_stage_kpis_from_a_live_worker(make_worker, tmp_path) -> None:
    settings = isolated_settings(tmp_path, clock="event", store="memory://")
    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    # 7 deals end up in proposal: 5 created there, 2 created in qualification and moved on
    # after 4 days; 3 more stay in qualification. The two completed visits of
    # qualification (4 days each) are the learned average's only samples.
    events = [created(f"p{i}", 0, "proposal") for i in range(5)]
    events += [created(f"m{i}", 0, "qualification") for i in range(2)]
    events += [moved(f"m{i}", 4, "qualification", "proposal") for i in range(2)]
    events += [created(f"q{i}", 1, "qualification") for i in range(3)]
    # on the event clock, time stands at the newest event less the allowed lateness:
    # one more deal a day later takes it past all of the above (and itself waits)
    events += [created("later", 5, "negotiation")]
    events.sort(key=lambda e: e.occurred_at)  # as a CRM sends them (later than the
    # allowed lateness behind its partition, an event goes to the late topic)
    await produce(
        settings, [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in events]
    )
    prometheus = start_prometheus(tmp_path, [f"127.0.0.1:{settings.web_port}"])
    try:
        prometheus.wait_value('up{job="salespulse"}', 1, 30)
        prometheus.wait_value("sum(salespulse_ready)", 1, 30)
        answer = prometheus.wait_value('max(salespulse_stage_open_deals{stage="proposal"})', 7, 90)
        print(f'\nmax(salespulse_stage_open_deals{{stage="proposal"}}) -> {answer}')
        prometheus.wait_value('max(salespulse_stage_open_deals{stage="qualification"})', 3, 30)
        # the recording rule over the same gauge, as the dashboards read it
        prometheus.wait_value(
            'salespulse:stage_open_deals:max{pipeline="default", stage="proposal"}', 7, 30
        )
        avg = prometheus.wait_value('salespulse_stage_avg_days{stage="qualification"}', 4, 30)
        print(f'salespulse_stage_avg_days{{stage="qualification"}} -> {avg}')
        prometheus.wait_value(
            'salespulse:stage_stall_threshold_days:factor2{stage="qualification"}', 8, 30
        )
        accepted = prometheus.wait_value(
            'sum(salespulse_events_accepted_total{event_type="deal.created"})', 11, 30
        )
        assert accepted
    finally:
        prometheus.stop()
