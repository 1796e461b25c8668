"""Many messages to the partitions of one topic in one step, through aiokafka's batches.

Faust sends one message per ``await`` (its ``Topic.send``, then aiokafka's ``send``, each
checking metadata, choosing a partition and finding a batch in the accumulator). A run of
the processor forwards hundreds of records to each internal partition at once; filling one
record batch per partition and handing each to the accumulator whole costs a fraction of
that. The messages still leave through the producer the app uses (its connection, acks,
retries and size limits), reached as ``app.producer._ensure_producer()``: the contract test
(tests/streamer/faust_app/test_batch_send_contract.py) holds it against the pinned Faust.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["OutgoingMessage", "send_batches"]

#: ``(partition, key, value, headers)`` of one message for a topic.
OutgoingMessage = tuple[int, bytes | None, bytes | None, Sequence[tuple[str, bytes]]]


def aiokafka_producer(app: Any) -> Any:
    """The started ``aiokafka.AIOKafkaProducer`` behind the app's Faust producer."""
    return app.producer._ensure_producer()


async def send_batches(
    app: Any, topic: str, messages: Iterable[OutgoingMessage]
) -> list[asyncio.Future[Any]]:
    """Queue ``messages`` for ``topic``, in their order per partition, as few record
    batches as they fit in; returns one future per batch (done when the broker has it,
    as the producer's acks setting defines). A message too large for an empty batch goes
    alone through ``send``, which raises the producer's size error for it."""
    producer = aiokafka_producer(app)
    open_batches: dict[int, Any] = {}
    futures: list[asyncio.Future[Any]] = []
    for partition, key, value, headers in messages:
        batch = open_batches.get(partition)
        if batch is None:
            batch = open_batches[partition] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is not None:
            continue
        # full: send what it holds (in order, before this message), then start another
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
        batch = open_batches[partition] = producer.create_batch()
        if batch.append(key=key, value=value, timestamp=None, headers=list(headers)) is None:
            del open_batches[partition]
            futures.append(
                await producer.send(
                    topic, value, key=key, partition=partition, headers=list(headers)
                )
            )
    for partition, batch in open_batches.items():
        if batch.record_count():
            futures.append(await producer.send_batch(batch, topic, partition=partition))
    return futures
