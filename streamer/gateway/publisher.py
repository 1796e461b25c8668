"""One producer for everything the gateway writes: contract events, dead letters, knowledge.

Sends are awaited until the brokers acknowledge them (``acks=all``) before a
request is answered, so a CRM retries what was not written.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from ..kafka_admin import client_options

__all__ = ["Message", "Publisher", "dead_letter_headers"]


@dataclass(frozen=True, slots=True)
class Message:
    topic: str
    key: str | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()


def dead_letter_headers(
    error: str, topic: str, partition: int, offset: int
) -> tuple[tuple[str, bytes], ...]:
    """The contract's dead-letter headers (section 1). A webhook has no topic: its
    ``original_topic`` is ``gateway:<source>`` and partition and offset are ``-1``."""
    return (
        ("error", error.encode("utf-8")),
        ("original_topic", topic.encode("utf-8")),
        ("original_partition", str(partition).encode("ascii")),
        ("original_offset", str(offset).encode("ascii")),
    )


class Publisher:
    def __init__(self, settings: Any) -> None:
        self._producer = AIOKafkaProducer(
            acks="all",
            linger_ms=2,
            max_request_size=8 * 1_048_576,
            **client_options(settings),  # type: ignore[arg-type]
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def send_all(self, messages: Sequence[Message]) -> None:
        """Send in order and wait until every message is acknowledged."""
        futures = [
            await self._producer.send(
                m.topic,
                key=m.key.encode("utf-8") if m.key is not None else None,
                value=m.value,
                headers=list(m.headers),
            )
            for m in messages
        ]
        if futures:
            await asyncio.gather(*futures)
