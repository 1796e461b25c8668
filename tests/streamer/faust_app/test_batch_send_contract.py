"""``streamer.faust_app.batch_send`` against the pinned Faust and aiokafka, and a real broker.

It reaches the aiokafka producer behind Faust's (``Producer._ensure_producer``, private)
and uses aiokafka's batch interface: an upgrade that moves either fails here by name.
"""

from __future__ import annotations

import inspect
import uuid
from pathlib import Path

import faust
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from faust.transport.drivers.aiokafka import Producer as FaustAIOKafkaProducer

from streamer.faust_app.batch_send import aiokafka_producer, send_batches
from tests.integration.conftest import kafka_broker
from tests.integration.kafka_helpers import BOOTSTRAP, delete_topics

__all__ = ["kafka_broker"]  # the session's broker fixture, used below


def test_faust_keeps_its_aiokafka_producer_behind_ensure_producer() -> None:
    assert list(inspect.signature(FaustAIOKafkaProducer._ensure_producer).parameters) == ["self"]


def test_aiokafka_keeps_its_batch_interface() -> None:
    assert list(inspect.signature(AIOKafkaProducer.create_batch).parameters) == ["self"]
    assert inspect.iscoroutinefunction(AIOKafkaProducer.send_batch)
    assert list(inspect.signature(AIOKafkaProducer.send_batch).parameters) == [
        "self",
        "batch",
        "topic",
        "partition",
    ]


@pytest.mark.kafka
async def test_batches_reach_the_broker_in_order_per_partition_with_their_headers(
    kafka_broker: str, tmp_path: Path
) -> None:
    topic = f"t-{uuid.uuid4().hex[:10]}.batch-send"
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    finally:
        await admin.close()
    app = faust.App(
        f"salespulse-test-{uuid.uuid4().hex[:10]}",
        broker=f"kafka://{BOOTSTRAP}",
        store="memory://",
        datadir=str(tmp_path),
        # small batches, so 3,000 messages of 200 bytes fill many of them
        producer_max_batch_size=16_384,
    )
    await app.producer.start()
    try:
        assert isinstance(aiokafka_producer(app), AIOKafkaProducer)
        sent = [
            (i % 2, f"k{i}".encode(), (b"%06d" % i) * 33, [("n", str(i).encode())])
            for i in range(3_000)
        ]
        futures = await send_batches(app, topic, sent)
        assert len(futures) > 2  # more than one batch per partition: the split is exercised
        for future in futures:
            await future
    finally:
        await app.producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=BOOTSTRAP, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        got: dict[int, list[tuple[bytes | None, bytes | None, list]]] = {0: [], 1: []}
        while sum(map(len, got.values())) < len(sent):
            for tp, records in (await consumer.getmany(timeout_ms=2_000)).items():
                got[tp.partition] += [(r.key, r.value, list(r.headers)) for r in records]
    finally:
        await consumer.stop()
        await delete_topics([topic])
    for partition in (0, 1):
        want = [(k, v, h) for p, k, v, h in sent if p == partition]
        assert got[partition] == want
