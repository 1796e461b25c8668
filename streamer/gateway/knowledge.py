"""What the gateway knows about one CRM record: last-writer-wins fields and stage marks.

A partial update (a HubSpot property change, a Salesforce CDC UPDATE with only
the changed fields) cannot become a contract event by itself: ``deal.*`` needs
the owner and the stage. The gateway completes it from a :class:`Record` of
what earlier notifications said, never from a guess.

Records merge as a join (commutative, associative, idempotent): each field keeps
the value with the newest CRM timestamp (ties broken by the value, so every
gateway picks the same one); stage marks are the set of ``(at_ms, stage)`` seen, one
per instant (ties broken the same way; the newest :data:`MAX_MARKS`); the creation
time is the earliest seen. So notifications may arrive out of order, repeated, or at
different gateway processes, and every process that has seen the same notifications
knows the same thing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from .changes import Change

__all__ = ["MAX_MARKS", "Record", "apply_change", "merge"]

MAX_MARKS = 64
"""Stage marks kept per deal; older ones are only needed for very late repeats."""


@dataclass(frozen=True, slots=True)
class Record:
    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)
    marks: tuple[tuple[int, str], ...] = ()
    created_ms: int | None = None

    def value(self, name: str) -> Any:
        entry = self.fields.get(name)
        return entry[0] if entry is not None else None

    def stage_at(self, at_ms: int, strictly_before: bool = False) -> tuple[int, str] | None:
        """The stage mark in force at ``at_ms`` (or just before it)."""
        found = None
        for mark in self.marks:
            if mark[0] < at_ms or (mark[0] == at_ms and not strictly_before):
                found = mark
            else:
                break
        return found

    @property
    def stage(self) -> str | None:
        return self.marks[-1][1] if self.marks else None

    def to_json(self) -> bytes:
        body = {
            "fields": {k: [v, at] for k, (v, at) in sorted(self.fields.items())},
            "marks": [list(m) for m in self.marks],
            "created_ms": self.created_ms,
        }
        return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Record:
        body = json.loads(data)
        return cls(
            fields={k: (v[0], int(v[1])) for k, v in body.get("fields", {}).items()},
            marks=tuple((int(at), str(stage)) for at, stage in body.get("marks", [])),
            created_ms=body.get("created_ms"),
        )


def _newer(a: tuple[Any, int], b: tuple[Any, int]) -> tuple[Any, int]:
    if a[1] != b[1]:
        return a if a[1] > b[1] else b
    # the same instant: pick by value, so every process picks the same
    ka = json.dumps(a[0], sort_keys=True)
    kb = json.dumps(b[0], sort_keys=True)
    return a if ka >= kb else b


def _transitions(marks: set[tuple[int, str]]) -> tuple[tuple[int, str], ...]:
    """One mark per instant (two notifications of different stages at the same
    millisecond: the larger value, as fields break ties), the newest, sorted. (The
    newest N of a union are the newest N of the unions of the newest N, so capping
    keeps the join associative.)"""
    by_instant: dict[int, str] = {}
    for at, stage in marks:
        if at not in by_instant or stage > by_instant[at]:
            by_instant[at] = stage
    return tuple(sorted(by_instant.items())[-MAX_MARKS:])


def merge(a: Record, b: Record) -> Record:
    """The join of two records (see the module docstring)."""
    fields = dict(a.fields)
    for name, entry in b.fields.items():
        fields[name] = _newer(fields[name], entry) if name in fields else entry
    created = [c for c in (a.created_ms, b.created_ms) if c is not None]
    return Record(
        fields=fields,
        marks=_transitions(set(a.marks) | set(b.marks)),
        created_ms=min(created) if created else None,
    )


def apply_change(record: Record, change: Change) -> Record:
    """``record`` with what ``change`` says merged in."""
    fields = {name: (value, change.at_ms) for name, value in change.fields.items()}
    marks: tuple[tuple[int, str], ...] = ()
    if change.kind == "deal":
        stage = fields.pop("stage", (None, 0))[0]
        if stage is not None:
            marks = ((change.at_ms, str(stage)),)
    return merge(
        record,
        Record(fields=fields, marks=marks, created_ms=change.at_ms if change.created else None),
    )
