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
import uuid
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


def _app(kafka_broker: str, tmp_path: Path, run: str) -> faust.App:
    return faust.App(
        f"salespulse-test-{run}-rewind",
        broker=f"kafka://{kafka_broker}",
        store="memory://",
        datadir=str(tmp_path),
        web_enabled=False,
        consumer_auto_offset_reset="earliest",
        topic_partitions=1,
    )


def _subscribe(app: faust.App, topic: str) -> None:
    @app.agent(app.topic(topic, value_serializer="raw"), name="rewind")
    async def agent(stream: Any) -> None:
        async for _ in stream.events():
            raise RuntimeError("a message bypassed the batch hand-over")


async def _read_all(app: faust.App, offsets: list[Any], report: dict[str, Any]) -> None:
    """Run the app until every record's offset was handed over, or a minute passed; then
    ``report`` holds the consumer's partition report (what ``/progress`` shows)."""
    await app.start()
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while len(set(offsets)) < RECORDS and loop.time() < deadline:
            await asyncio.sleep(0.2)
        consumer: Any = app.consumer
        report.update(consumer.partition_report(consumer.assignment()))
    finally:
        await app.stop()


async def test_records_dropped_while_the_flow_stopped_are_read_again(
    kafka_broker: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    RUNS.append(run)  # its topics (and Faust's own) are deleted after the test
    topic = f"t-{run}.rewind"
    await _topic_with_records(kafka_broker, topic)
    app = _app(kafka_broker, tmp_path, run)
    offsets: list[int] = []

    async def handler(tp: Any, messages: list[Any]) -> list[Any]:
        offsets.extend(m.offset for m in messages)
        return messages

    install(app, {topic: handler})
    base: Any = app.transport.Consumer
    stops: list[int] = []

    class StoppedOnFirstFetch(base):  # type: ignore[misc, valid-type]
        async def _wait_next_records(self, timeout: float) -> Any:
            records, active = await super()._wait_next_records(timeout)
            if records and not stops:
                stops.append(sum(len(r) for r in records.values()))
                self.stop_flow()  # what a rebalance starting now does
                asyncio.get_running_loop().call_later(0.5, self.resume_flow)
            return records, active

    app.transport.Consumer = StoppedOnFirstFetch
    _subscribe(app, topic)
    report: dict[str, Any] = {}
    await _read_all(app, offsets, report)
    assert stops, "the first fetch returned records (the flow was stopped on it)"
    assert sorted(set(offsets)) == list(range(RECORDS)), (
        f"{stops[0]} records dropped by the stopped flow; read afterwards: "
        f"{sorted(set(offsets))[:5]}... ({len(set(offsets))} of {RECORDS})"
    )
    state = report[f"{topic}:0"]  # the diagnosis /progress gives, from the client itself
    assert (state["position"], state["client_paused"], state["paused"]) == (RECORDS, False, False)
    assert (state["held"], state["read_offset"]) == (0, RECORDS - 1)


async def test_a_partition_paused_while_its_fetch_is_handed_over_still_gets_it(
    kafka_broker: str, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:10]
    RUNS.append(run)  # its topics (and Faust's own) are deleted after the test
    topic = f"t-{run}.rewind"
    await _topic_with_records(kafka_broker, topic, partitions=2)
    app = _app(kafka_broker, tmp_path, run)
    offsets: list[tuple[int, int]] = []
    first_fetch: list[set[int]] = []

    async def handler(tp: Any, messages: list[Any]) -> list[Any]:
        if not offsets:  # as the worker holds back a partition that runs ahead
            other = [t for t in app.consumer.assignment() if t.topic == topic and t != tp]
            app.consumer.pause_partitions(other)
            asyncio.get_running_loop().call_later(0.5, app.consumer.resume_partitions, other)
        offsets.extend((m.partition, m.offset) for m in messages)
        return messages

    install(app, {topic: handler})
    base: Any = app.transport.Consumer

    class FirstFetchSeen(base):  # type: ignore[misc, valid-type]
        async def _wait_next_records(self, timeout: float) -> Any:
            records, active = await super()._wait_next_records(timeout)
            if records and not first_fetch:
                first_fetch.append({tp.partition for tp in records})
            return records, active

    app.transport.Consumer = FirstFetchSeen
    _subscribe(app, topic)
    await _read_all(app, offsets, {})
    assert first_fetch == [{0, 1}], f"the first fetch had both partitions: {first_fetch}"
    assert sorted(set(offsets)) == sorted(
        (partition, n) for partition in (0, 1) for n in range(RECORDS // 2)
    ), f"read {len(set(offsets))} of {RECORDS}"
