"""The gateway's knowledge of CRM records, shared by every gateway process through a
compacted Kafka topic.

Each process reads the whole topic at start (``/ready`` answers 200 only then)
and keeps following it, so what one process learns (a deal's owner, its stage)
completes the partial updates another process receives. Records are joins
(:func:`.knowledge.merge`), so the order in which processes see each other's
writes does not matter, and compaction keeps the topic at one record per CRM
object. The key is ``<source>:<kind>:<crm id>``.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from ..kafka_admin import client_options
from ..logs import get_logger
from .knowledge import Record, merge

__all__ = ["KnowledgeStore", "knowledge_key"]

log = get_logger(__name__)


def knowledge_key(source: str, kind: str, crm_id: str) -> str:
    return f"{source}:{kind}:{crm_id}"


class KnowledgeStore:
    """In-memory records, loaded from and following the knowledge topic."""

    def __init__(self, settings: Any, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.records: dict[str, Record] = {}
        self.loaded = asyncio.Event()
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    def get(self, key: str) -> Record:
        return self.records.get(key) or Record()

    def learn(self, key: str, record: Record) -> Record:
        current = self.records.get(key)
        merged = record if current is None else merge(current, record)
        self.records[key] = merged
        return merged

    async def ensure_topic(self) -> None:
        admin = AIOKafkaAdminClient(**client_options(self.settings))  # type: ignore[arg-type]
        await admin.start()
        try:
            if self.topic not in set(await admin.list_topics()):
                with contextlib.suppress(Exception):  # another gateway may create it first
                    await admin.create_topics(
                        [
                            NewTopic(
                                name=self.topic,
                                num_partitions=self.settings.partitions,
                                replication_factor=self.settings.replication_factor,
                                topic_configs={"cleanup.policy": "compact"},
                            )
                        ]
                    )
        finally:
            await admin.close()

    async def start(self) -> None:
        await self.ensure_topic()
        consumer = AIOKafkaConsumer(
            group_id=None, enable_auto_commit=False, **client_options(self.settings)
        )
        await consumer.start()
        self._consumer = consumer
        partitions: set[int] | None = None
        for _ in range(100):
            partitions = consumer.partitions_for_topic(self.topic)
            if partitions:
                break
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a new topic
        if not partitions:
            raise RuntimeError(f"knowledge topic {self.topic} has no partitions")
        assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        self._task = asyncio.create_task(self._follow(consumer, ends))

    async def _follow(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        waiting = {tp: end for tp, end in ends.items() if end > 0}
        if not waiting:
            self.loaded.set()
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, messages in batches.items():
                for message in messages:
                    if message.key is None or message.value is None:
                        continue
                    try:
                        record = Record.from_json(message.value)
                    except (ValueError, KeyError, TypeError, IndexError):
                        log.warning(
                            "gateway_knowledge_unreadable",
                            topic=tp.topic,
                            partition=tp.partition,
                            offset=message.offset,
                        )
                        continue
                    self.learn(message.key.decode("utf-8", "replace"), record)
            if not self.loaded.is_set():
                for tp in list(waiting):
                    if await consumer.position(tp) >= waiting[tp]:
                        del waiting[tp]
                if not waiting:
                    log.info("gateway_knowledge_loaded", records=len(self.records))
                    self.loaded.set()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
