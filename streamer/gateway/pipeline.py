"""The one path from parsed notifications to Kafka, shared by the webhooks and the
Salesforce CDC reader.

For each notification, in the order received: complete it from what the gateway
knows (:class:`.store.KnowledgeStore`), translate it (:func:`.translate.translate`),
and collect the contract events, the dead letters and the updated knowledge;
then send them all and wait for the brokers. Knowledge is learnt locally at once,
so later notifications of the same request (a HubSpot creation followed by its
properties) are completed by the earlier ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..logs import get_logger
from ..metrics import GatewayMetrics
from .changes import Change, Ignored, Unusable, coalesce
from .config import SourceMapping
from .publisher import Message, Publisher, dead_letter_headers
from .store import KnowledgeStore, knowledge_key
from .translate import translate

__all__ = ["Origin", "Pipeline", "Summary"]

log = get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where notifications came from, for the dead-letter headers."""

    topic: str
    partition: int = -1
    offset: int = -1


@dataclass
class Summary:
    results: Counter[str] = field(default_factory=Counter)
    events: int = 0


class Pipeline:
    def __init__(
        self,
        settings: Any,
        publisher: Publisher,
        store: KnowledgeStore,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.store = store
        self.metrics = metrics

    def _topic(self, role: str) -> str:
        return str(getattr(self.settings.topics, role))

    def plan(
        self,
        source: str,
        mapping: SourceMapping,
        results: Sequence[Change | Unusable | Ignored],
        origin: Origin,
    ) -> tuple[list[Message], Summary]:
        """The messages these notifications imply (learning their knowledge locally)."""
        messages: list[Message] = []
        knowledge: dict[str, bytes] = {}
        summary = Summary()
        dlq = self._topic("dlq")
        for result in coalesce(list(results)):
            if isinstance(result, Ignored):
                summary.results["ignored"] += 1
                continue
            if isinstance(result, Unusable):
                summary.results["dead_lettered"] += 1
                headers = dead_letter_headers(
                    result.reason, origin.topic, origin.partition, origin.offset
                )
                messages.append(Message(dlq, result.key, result.original, headers))
                log.warning(
                    "gateway_dead_letter",
                    source=source,
                    error=result.reason,
                    topic=origin.topic,
                    partition=origin.partition,
                    offset=origin.offset,
                )
                continue
            key = knowledge_key(source, result.kind, result.crm_id)
            outcome = translate(result, self.store.get(key), mapping)
            if outcome.record is not None:
                knowledge[key] = self.store.learn(key, outcome.record).to_json()
            for emit in outcome.events:
                messages.append(
                    Message(self._topic(emit.role), emit.key, emit.event.to_json_bytes())
                )
                self.metrics.events.labels(source, emit.event.event_type).inc()
                summary.events += 1
            if outcome.error is not None:
                summary.results["dead_lettered"] += 1
                headers = dead_letter_headers(
                    outcome.error, origin.topic, origin.partition, origin.offset
                )
                messages.append(Message(dlq, result.crm_id, result.original, headers))
                log.warning(
                    "gateway_dead_letter",
                    source=source,
                    crm_id=result.crm_id,
                    error=outcome.error,
                    topic=origin.topic,
                    partition=origin.partition,
                    offset=origin.offset,
                )
            elif outcome.pending:
                summary.results["pending"] += 1
            else:
                summary.results["mapped"] += 1
        # knowledge after the events: a crash between them re-derives the events on the
        # CRM's retry, with the same ids
        topic = self.settings.gateway.knowledge_topic
        messages.extend(Message(topic, key, value) for key, value in knowledge.items())
        for result_name, count in summary.results.items():
            self.metrics.notifications.labels(source, result_name).inc(count)
        self.metrics.knowledge_records.set(len(self.store.records))
        return messages, summary

    async def handle(
        self,
        source: str,
        mapping: SourceMapping,
        results: Sequence[Change | Unusable | Ignored],
        origin: Origin,
    ) -> Summary:
        messages, summary = self.plan(source, mapping, results, origin)
        await self.publisher.send_all(messages)
        return summary
