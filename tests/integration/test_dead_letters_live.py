"""Bad input goes to the dead-letter topic byte for byte, and the worker goes on."""

from __future__ import annotations

import pytest

from streamer.kafka_admin import ensure_topics
from tests.factories import created

from .kafka_helpers import Collector, event_bytes, isolated_settings, produce

pytestmark = pytest.mark.kafka

GOOD = (
    '"event_id":"x-{n}","occurred_at":"2026-11-05T10:00:00Z","source":"crm",'
    '"deal_id":"d-{n}","rep_id":"r1","stage":"proposal"'
)

BAD = [
    (b"this is not json", "JSON"),
    (
        b'{"event_type":"deal.created",'
        + GOOD.format(n=1).replace('"source":"crm",', "").encode()
        + b"}",
        "source",
    ),
    (
        b'{"event_type":"deal.created",'
        + GOOD.format(n=2).replace("10:00:00Z", "10:00:00").encode()
        + b"}",
        "offset",
    ),
    (b'{"event_type":"deal.teleported",' + GOOD.format(n=3).encode() + b"}", "event_type"),
    (b'{"event_type":"deal.created","amount":-5,' + GOOD.format(n=4).encode() + b"}", "amount"),
    (b"[1, 2, 3]", "object"),
]


async def test_rejected_messages_keep_their_bytes_and_headers_and_good_ones_still_flow(
    make_worker, tmp_path
):
    settings = isolated_settings(tmp_path, clock="event", allowed_lateness_seconds=0)
    await ensure_topics(settings)
    worker = make_worker(settings)
    worker.start()
    worker.wait_ready()
    deals = settings.topics.deals
    good_first = created("stuck", 0, "proposal")
    messages = [(deals, b"stuck", event_bytes(good_first))]
    messages += [(deals, f"bad-{i}".encode(), raw) for i, (raw, _) in enumerate(BAD)]
    messages += [(settings.topics.activities, b"r1", b'{"event_type":"activity.logged"}')]
    messages += [(deals, b"clock", event_bytes(created("clock", 30, "prospecting")))]
    sent = await produce(settings, messages)

    async with (
        Collector(settings, settings.topics.dlq) as dlq,
        Collector(settings, settings.topics.alerts) as alerts,
    ):
        await dlq.wait_for(lambda rs: len(rs) >= len(BAD) + 1, 60, "dead letters", worker.tail)
        await alerts.wait_for(lambda rs: len(rs) >= 1, 60, "the good deal's alert", worker.tail)
        assert alerts.values()[0]["subject"]["id"] == "stuck"

    by_value = {r.value: r for r in dlq.records}
    for i, (raw, reason_word) in enumerate(BAD):
        record = by_value[raw]  # byte for byte
        headers = {k: v.decode() for k, v in record.headers}
        meta = sent[1 + i]
        assert record.key == f"bad-{i}".encode()
        assert headers["original_topic"] == deals
        assert headers["original_partition"] == str(meta.partition)
        assert headers["original_offset"] == str(meta.offset)
        assert reason_word in headers["error"], headers["error"]
    activity = by_value[b'{"event_type":"activity.logged"}']
    assert dict(activity.headers)["original_topic"].decode() == settings.topics.activities
    assert worker.proc.poll() is None, "the worker must keep running"
    metrics = worker.metrics()
    assert f'salespulse_events_rejected_total{{topic="{deals}"}} {len(BAD)}.0' in metrics
