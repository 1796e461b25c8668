"""Every worker's whole view of the small, shared topics.

Partition statistics (``<app_id>-partition-stats``) and the org chart
(``sales.org``) are compacted and small. Each worker reads both topics whole,
from the beginning and then as they grow, with a plain aiokafka consumer that
is not part of the consumer group, and keeps the newest value per key in its
:class:`~streamer.core.deal_engine.SharedView`. This stands in for Faust's global
tables, whose recovery has known problems, and it is the same view on every
worker however partitions are assigned.
"""

from __future__ import annotations

import asyncio
import json

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas import EventRejected, RepUpserted, parse_event

from ..core.deal_engine import PartitionSnapshot, RepPartitionSnapshot, SharedView
from ..kafka_admin import client_options
from ..logs import get_logger
from ..settings import Settings

__all__ = ["SharedFeed"]

log = get_logger(__name__)


class SharedFeed:
    def __init__(self, settings: Settings, view: SharedView, stats_topic: str) -> None:
        self.settings = settings
        self.view = view
        self.stats_topic = stats_topic
        self.org_topic = settings.topics.org
        self.caught_up = asyncio.Event()
        self.changed = asyncio.Event()  # set whenever a partition's snapshot came in
        self.positions: dict[str, int] = {}  # "topic:partition" -> next offset to read

    async def _partitions(self, consumer: AIOKafkaConsumer) -> list[TopicPartition]:
        """All partitions of both topics, waiting for topics the worker is still creating."""
        while True:
            found: list[TopicPartition] = []
            missing = []
            for topic in (self.stats_topic, self.org_topic):
                parts = consumer.partitions_for_topic(topic)
                if not parts:
                    missing.append(topic)
                found += [TopicPartition(topic, p) for p in parts or ()]
            if not missing:
                return found
            await consumer._client.force_metadata_update()  # noqa: SLF001 - no public way
            await asyncio.sleep(0.5)

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(self.settings),
        )
        await consumer.start()
        try:
            partitions = await self._partitions(consumer)
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            ends = await consumer.end_offsets(partitions)
            pending = {tp for tp, end in ends.items() if end > 0}
            if not pending:
                self.caught_up.set()
            while True:
                batches = await consumer.getmany(timeout_ms=1000)
                for tp, records in batches.items():
                    for record in records:
                        self._apply(tp.topic, record.key, record.value)
                    if records:
                        self.positions[f"{tp.topic}:{tp.partition}"] = records[-1].offset + 1
                    if tp in pending and records and records[-1].offset + 1 >= ends[tp]:
                        pending.discard(tp)
                if pending and not self.caught_up.is_set():
                    positions = {tp: await consumer.position(tp) for tp in pending}
                    pending = {tp for tp, pos in positions.items() if pos < ends[tp]}
                if not pending:
                    self.caught_up.set()
        finally:
            await consumer.stop()

    def _apply(self, topic: str, key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        if topic == self.stats_topic:
            # p<n>: a deal partition; r<n>: a rep partition's newest team sums;
            # t<n>@<boundary>: a rep partition's team sums at one boundary
            prefix = (key or b"")[:1]
            kind = RepPartitionSnapshot if prefix in (b"r", b"t") else PartitionSnapshot
            try:
                snapshot = kind.from_wire(json.loads(value))
                self.view.put_snapshot(snapshot, at_boundary=prefix == b"t")
            except (ValueError, KeyError, TypeError) as error:
                log.warning("partition_stats_unreadable", key=key, error=str(error))
            self.changed.set()
            return
        try:
            event = parse_event(value)
        except EventRejected:
            return  # the org agent dead-letters it; the view just skips it
        if isinstance(event, RepUpserted):
            self.view.upsert_rep(event)
