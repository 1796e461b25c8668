"""Reads Salesforce change events from their Kafka topic and maps them like a webhook.

A consumer group (``gateway.salesforce.group_id``) spreads the topic's partitions
over the gateway processes. Offsets are committed after the events of a batch are
acknowledged, so a crash repeats notifications, which the event ids make
duplicates. A message that is not a change event goes to the dead-letter topic
with its topic, partition and offset.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaConsumer

from ..kafka_admin import client_options
from ..logs import get_logger
from . import salesforce
from .changes import Malformed, Unusable
from .pipeline import Origin, Pipeline

__all__ = ["SalesforceFeed"]

log = get_logger(__name__)


class SalesforceFeed:
    def __init__(self, settings: Any, pipeline: Pipeline) -> None:
        self.settings = settings
        self.config = settings.gateway.salesforce
        self.pipeline = pipeline
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            self.config.topic,
            group_id=self.config.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **client_options(self.settings),  # type: ignore[arg-type]
        )
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        mapping = self.config.mapping
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for tp, messages in batches.items():
                for message in messages:
                    origin = Origin(tp.topic, tp.partition, message.offset)
                    value = message.value or b""
                    try:
                        results = salesforce.parse(value)
                    except Malformed as error:
                        key = message.key.decode("utf-8", "replace") if message.key else None
                        results = [Unusable(str(error), value, key)]
                    await self.pipeline.handle("salesforce", mapping, results, origin)
            if batches:
                await consumer.commit()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer is not None:
            await self._consumer.stop()
