"""A worker upgraded in place restores the changelog its previous version wrote.

Table values used to be JSON objects (``DealState.to_dict`` through Faust's JSON
serializer); they are now written by the state's own codecs (``encode_deal``: a version
byte and a compact array). A worker of the new version with an empty data directory
restores a deals changelog holding old values, and then one holding both kinds, and
judges and updates those deals as if it had written them itself.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from streamer.core.routing import partition_for
from streamer.core.state.deal import apply_deal_event, decode_deal
from streamer.kafka_admin import ensure_topics
from tests.factories import created, moved, won

from .kafka_helpers import Collector, event_bytes, isolated_settings, produce

pytestmark = pytest.mark.kafka

DEALS = [f"old{i}" for i in range(6)]


def deal_msgs(settings, *events):
    return [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in events]


def episodes(collector: Collector) -> Counter:
    return Counter(
        (v["alert_id"], v["status"]) for v in (json.loads(r.value) for r in collector.records)
    )


async def write_old_changelog(settings, partitions: int) -> None:
    """The deals as the previous version's worker left them on its changelog: created
    on day 0 in proposal, JSON keys and JSON object values."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for deal_id in DEALS:
            partition = partition_for(deal_id, partitions)
            state, _ = apply_deal_event(None, created(deal_id, 0, "proposal"), partition)
            await producer.send_and_wait(
                f"{settings.app_id}-deals-changelog",
                key=json.dumps(deal_id).encode(),
                value=json.dumps(state.to_dict()).encode(),
                partition=partition,
            )
    finally:
        await producer.stop()


async def changelog_values(settings) -> dict[bytes, list[bytes]]:
    """Every value on the deals changelog, per key, oldest first."""
    topic = f"{settings.app_id}-deals-changelog"
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    found: dict[bytes, list[bytes]] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    found.setdefault(record.key, []).append(record.value)
    finally:
        await consumer.stop()
    return found


async def test_old_json_changelog_is_restored(make_worker, tmp_path: Path):
    settings = isolated_settings(
        tmp_path, clock="event", allowed_lateness_seconds=0, store="rocksdb://"
    )
    await ensure_topics(settings)
    worker = make_worker(settings)
    # the changelog topic as the worker declares it, before anything is on it
    worker.start()
    worker.wait_ready()
    worker.stop()
    shutil.rmtree(settings.data_dir)
    await write_old_changelog(settings, settings.partitions)

    def stalled(deal_id: str) -> tuple[str, str]:
        return (f"deal_stalled:{deal_id}:2026-11-01T09:00:00Z", "firing")

    def resolved(deal_id: str) -> tuple[str, str]:
        return (f"deal_stalled:{deal_id}:2026-11-01T09:00:00Z", "resolved")

    async with Collector(settings, settings.topics.alerts) as alerts:
        worker.start()  # empty data directory: everything comes from the old changelog
        worker.wait_ready()
        await produce(
            settings, [(settings.topics.deals, b"clock-1", event_bytes(won("clock-1", 30)))]
        )
        expected = {stalled(d) for d in DEALS}
        await alerts.wait_for(
            lambda rs: expected <= set(episodes(alerts)), 90, "the restored deals stall",
            worker.tail,
        )  # fmt: skip
        # a restored deal takes new events: moving on resolves its alert
        await produce(settings, deal_msgs(settings, moved("old0", 31, "proposal", "negotiation")))
        expected.add(resolved("old0"))
        await alerts.wait_for(
            lambda rs: expected <= set(episodes(alerts)), 60, "old0 resolved", worker.tail
        )
        worker.stop()

        # the changelog now holds both versions (the old values, and new ones written for
        # every stalled deal); a second worker from scratch restores it as it is
        values = await changelog_values(settings)
        old = [values[json.dumps(d).encode()] for d in DEALS]
        assert all(v[0][:1] == b"{" for v in old), "the old JSON objects first"
        assert all(v[-1][:1] == b"\x01" for v in old), "then the new encoding"
        assert decode_deal(values[b'"old0"'][-1]).stage == "negotiation"
        shutil.rmtree(settings.data_dir)
        worker.start()
        worker.wait_ready()
        await produce(settings, deal_msgs(settings, moved("old1", 32, "proposal", "negotiation")))
        expected.add(resolved("old1"))
        await alerts.wait_for(
            lambda rs: expected <= set(episodes(alerts)), 60, "old1 resolved", worker.tail
        )
    seen = episodes(alerts)
    assert set(seen) == expected, "restored deals neither fire again nor lose their episodes"
    assert all(n == 1 for n in seen.values()), seen
