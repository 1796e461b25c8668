"""The size limits against a real broker: whatever an input topic accepts reaches the
dead-letter topic, whole where the project created the topics, cut where it did not."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import MessageSizeTooLargeError

from streamer.core.dead_letter import DeadLetter, dead_letter_record
from streamer.kafka_admin import (
    DEAD_LETTER_MAX_BYTES,
    INPUT_MAX_MESSAGE_BYTES,
    dead_letter_max_bytes,
    ensure_topics,
    producer_size_options,
)
from streamer.settings import Settings

from .kafka_helpers import Collector, isolated_settings

pytestmark = pytest.mark.kafka

# The largest key + value a one-record batch can carry on an input topic (v2 batch
# header 61 bytes, record framing and varints up to 21 + 4 + 3 bytes).
LARGEST_INPUT = INPUT_MAX_MESSAGE_BYTES - 61 - 28


async def _send(settings: Settings, topic: str, key: bytes, value: bytes | None, **kw) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", **kw)
    await producer.start()
    try:
        await producer.send_and_wait(topic, key=key, value=value)
    finally:
        await producer.stop()


async def _dead_letter(settings: Settings, record: DeadLetter) -> None:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        acks="all",
        max_request_size=producer_size_options()["producer_max_request_size"],
    )
    await producer.start()
    try:
        await producer.send_and_wait(
            settings.topics.dlq, key=record.key, value=record.value, headers=list(record.headers)
        )
    finally:
        await producer.stop()


async def _read_one(settings: Settings, topic: str):
    async with Collector(settings, topic) as collector:
        await collector.wait_for(lambda rs: len(rs) >= 1, 30, f"a record on {topic}")
        return collector.records[0]


async def test_the_largest_message_an_input_topic_takes_is_dead_lettered_whole(
    kafka_broker: str, tmp_path: Path
) -> None:
    settings = isolated_settings(tmp_path)
    await ensure_topics(settings)
    value = b"{" + b"x" * (LARGEST_INPUT - 12) + b"}"  # key of 10 bytes
    key = b"deal-00042"
    await _send(
        settings, settings.topics.deals, key, value, max_request_size=INPUT_MAX_MESSAGE_BYTES
    )
    original = await _read_one(settings, settings.topics.deals)
    assert original.value == value  # the broker took it on the input topic...
    with pytest.raises(MessageSizeTooLargeError):  # ...and it is as large as it takes
        await _send(
            settings,
            settings.topics.deals,
            key,
            value + b" " * 64,
            max_request_size=DEAD_LETTER_MAX_BYTES,
        )

    max_bytes = await dead_letter_max_bytes(settings)
    record = dead_letter_record(
        original.value,
        original.key,
        "message is not valid JSON",
        original.topic,
        original.partition,
        original.offset,
        max_bytes,
    )
    await _dead_letter(settings, record)
    dead = await _read_one(settings, settings.topics.dlq)

    assert max_bytes == DEAD_LETTER_MAX_BYTES
    assert not record.truncated
    assert (dead.key, dead.value) == (key, value)
    headers = dict(dead.headers)
    assert headers["original_topic"] == settings.topics.deals.encode()
    assert headers["original_offset"] == str(original.offset).encode()
    assert headers["original_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert "truncated" not in headers


async def test_a_dead_letter_topic_created_smaller_gets_cut_records_the_broker_accepts(
    kafka_broker: str, tmp_path: Path
) -> None:
    settings = isolated_settings(tmp_path)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:  # created by hand before the worker, with a limit below the input topics'
        await admin.create_topics(
            [NewTopic(settings.topics.dlq, 1, 1, topic_configs={"max.message.bytes": "200000"})]
        )
    finally:
        await admin.close()
    await ensure_topics(settings)
    value = b"y" * 900_000

    max_bytes = await dead_letter_max_bytes(settings)
    record = dead_letter_record(
        value, b"rep-7", "too big", settings.topics.activities, 2, 9, max_bytes
    )
    await _dead_letter(settings, record)
    dead = await _read_one(settings, settings.topics.dlq)

    assert max_bytes == 200_000
    assert record.truncated
    headers = dict(dead.headers)
    assert headers["truncated"] == b"true"
    assert headers["original_size"] == b"900000"
    assert headers["original_sha256"] == hashlib.sha256(value).hexdigest().encode()
    assert dead.key == b"rep-7"
    assert 150_000 < len(dead.value) < 200_000 and value.startswith(dead.value)
