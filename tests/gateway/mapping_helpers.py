"""Run changes through the pure mapping path with an in-memory knowledge, as the gateway does."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from streamer.gateway.changes import Change, Ignored, Unusable, coalesce
from streamer.gateway.config import SourceMapping
from streamer.gateway.knowledge import Record, merge
from streamer.gateway.store import knowledge_key
from streamer.gateway.translate import translate


@dataclass
class Run:
    events: list[dict[str, Any]] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    pending: int = 0
    ignored: int = 0
    known: dict[str, Record] = field(default_factory=dict)

    def feed(self, mapping: SourceMapping, results: Iterable[Change | Unusable | Ignored]) -> Run:
        for result in coalesce(list(results)):
            if isinstance(result, Ignored):
                self.ignored += 1
                continue
            if isinstance(result, Unusable):
                self.errors.append(result.reason)
                continue
            key = knowledge_key(result.source, result.kind, result.crm_id)
            outcome = translate(result, self.known.get(key, Record()), mapping)
            if outcome.record is not None:
                current = self.known.get(key)
                self.known[key] = (
                    outcome.record if current is None else merge(current, outcome.record)
                )
            for emit in outcome.events:
                self.events.append(emit.event.model_dump(mode="json", exclude_none=True))
                self.keys.append(emit.key)
            if outcome.error:
                self.errors.append(outcome.error)
            self.pending += outcome.pending
        return self

    def types(self) -> list[str]:
        return [e["event_type"] for e in self.events]
