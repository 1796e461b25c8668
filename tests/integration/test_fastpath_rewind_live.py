"""Nothing a fetch returned is lost to a pause or a stopped flow (``FastPathConsumer``; a
real broker, Faust's consumer and the client in-process).

Faust drops what a fetch returns while its flow is stopped (a rebalance under way) and
counts on its seek to the committed offsets to read it again; the client's seek leaves a
partition with no committed offset where it is, after the dropped records. Two workers
starting on a fresh group's backlog lost whole input partitions that way. The one thing
arranged here is the moment: the flow is stopped as the first fetch returns, as a
rebalance would stop it, and resumed half a second later.

The worker also pauses an input partition that runs ahead of event time while a fetch's
batches are handed over; the rest of that fetch is still the partition's to deliver (the
client has moved past it).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.faust_app.fastpath import install

from .kafka_helpers import RUNS

pytestmark = pytest.mark.kafka

RECORDS = 50


async def _topic_with_records(bootstrap: str, topic: str, partitions: int = 1) -> None:
    """``topic`` with RECORDS records, spread evenly over its partitions."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(RECORDS):
            await producer.send_and_wait(topic, value=str(n).encode(), partition=n % partitions)
    finally:
        await producer.stop()


@dataclass
class Reading:
    """What a consumer read of a topic of RECORDS records (see :func:`_read`)."""

    topic: str
    read: set[tuple[int, int]]  # (partition, offset) handed over
    first_fetch: dict[int, int]  # partition -> records, of the first fetch with records
    report: dict[str, Any]  # the consumer's partition report then (what /progress shows)


async def _read(
    kafka_broker: str,
    tmp_path: Path,
    *,
    partitions: int = 1,
    on_first_fetch: Callable[[Any], None] | None = None,
    on_first_batch: Callable[[faust.App, Any], None] | None = None,
) -> Reading:
    """A topic of RECORDS records read by a Faust app with the fast path, until every
    record was handed over or a minute passed; ``on_first_fetch(consumer)`` runs as the
    first fetch with records returns, ``on_first_batch(app, tp)`` before the first batch
    is taken."""
    run = uuid.uuid4().hex[:10]
    RUNS.append(run)  # its topics (and Faust's own) are deleted after the test
    topic = f"t-{run}.rewind"
    await _topic_with_records(kafka_broker, topic, partitions)
    app = faust.App(
        f"salespulse-test-{run}-rewind",
        broker=f"kafka://{kafka_broker}",
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=1,
    )
    reading = Reading(topic, set(), {}, {})
    everything = asyncio.Event()

    async def handler(tp: Any, messages: list[Any]) -> list[Any]:
        if not reading.read and on_first_batch is not None:
            on_first_batch(app, tp)
        reading.read.update((m.partition, m.offset) for m in messages)
        if len(reading.read) == RECORDS:
            everything.set()
        return messages

    install(app, {topic: handler})
    base: Any = app.transport.Consumer

    class FirstFetchSeen(base):  # type: ignore[misc, valid-type]
        async def _wait_next_records(self, timeout: float) -> Any:
            records, active = await super()._wait_next_records(timeout)
            if records and not reading.first_fetch:
                reading.first_fetch.update({tp.partition: len(r) for tp, r in records.items()})
                if on_first_fetch is not None:
                    on_first_fetch(self)
            return records, active

    app.transport.Consumer = FirstFetchSeen

    @app.agent(app.topic(topic, value_serializer="raw"), name="rewind")
    async def agent(stream: Any) -> None:
        async for _ in stream.events():
            raise RuntimeError("a message bypassed the batch hand-over")

    await app.start()
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everything.wait(), timeout=60)
        consumer: Any = app.consumer
        reading.report.update(consumer.partition_report(consumer.assignment()))
    finally:
        await app.stop()
    return reading


def _stop_the_flow(consumer: Any) -> None:
    """What a rebalance starting now does; resumed half a second later."""
    consumer.stop_flow()
    asyncio.get_running_loop().call_later(0.5, consumer.resume_flow)


def _pause_the_other(app: faust.App, tp: Any) -> None:
    """As the worker holds back a partition that runs ahead; resumed half a second later."""
    consumer: Any = app.consumer
    other = [t for t in consumer.assignment() if t.topic == tp.topic and t != tp]
    consumer.hold_back(other)
    asyncio.get_running_loop().call_later(0.5, consumer.let_go, other)


async def test_records_dropped_while_the_flow_stopped_are_read_again(
    kafka_broker: str, tmp_path: Path
) -> None:
    reading = await _read(kafka_broker, tmp_path, on_first_fetch=_stop_the_flow)
    read = sorted(offset for _, offset in reading.read)
    assert reading.first_fetch, "the first fetch returned records (the flow was stopped on it)"
    assert read == list(range(RECORDS)), (
        f"{sum(reading.first_fetch.values())} records dropped by the stopped flow; read "
        f"afterwards: {read[:5]}... ({len(read)} of {RECORDS})"
    )
    state = reading.report[f"{reading.topic}:0"]  # the diagnosis /progress gives
    assert (state["position"], state["client_paused"], state["paused"]) == (RECORDS, False, False)
    assert (state["held"], state["read_offset"]) == (0, RECORDS - 1)


async def test_a_partition_paused_while_its_fetch_is_handed_over_still_gets_it(
    kafka_broker: str, tmp_path: Path
) -> None:
    reading = await _read(kafka_broker, tmp_path, partitions=2, on_first_batch=_pause_the_other)
    assert set(reading.first_fetch) == {0, 1}, (
        f"the first fetch had both partitions: {reading.first_fetch}"
    )
    assert sorted(reading.read) == sorted(
        (partition, n) for partition in (0, 1) for n in range(RECORDS // 2)
    ), f"read {len(reading.read)} of {RECORDS}"
