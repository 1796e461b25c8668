"""Learned time-in-stage: sums and counts of completed stage visits.

The statistics are *derived* from deal states, never stored on their own: a
partition's figures are the sum of its deals' completed visits, kept up to
date by subtracting a deal's old contribution and adding its new one. So they
are exactly as idempotent as the deal state itself, and a worker rebuilds them
from its tables after a restart or rebalance.

Partitions' figures are combined into the global average by
:func:`combine`: each worker publishes its partitions' :class:`StageStats`
snapshots, and every worker adds up the newest snapshot of every partition.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .deal import DealState

__all__ = ["StageKey", "StageStat", "StageStats", "combine", "stage_key"]

StageKey = str  # "<pipeline>/<stage>", the contract's KPI key for stages


def stage_key(pipeline: str, stage: str) -> StageKey:
    return f"{pipeline}/{stage}"


@dataclass(frozen=True, slots=True)
class StageStat:
    total_seconds: float
    count: int

    @property
    def avg_seconds(self) -> float | None:
        return self.total_seconds / self.count if self.count else None


class StageStats:
    """Running sums of completed visits per stage for one partition."""

    __slots__ = ("_sums",)

    def __init__(self) -> None:
        self._sums: dict[StageKey, list[float]] = {}

    def add(self, deal: DealState | None, sign: int = 1) -> None:
        if deal is None:
            return
        pipeline = deal.pipeline
        for visit in deal.visits():
            entry = self._sums.setdefault(stage_key(pipeline, visit.stage), [0.0, 0])
            entry[0] += sign * visit.seconds
            entry[1] += sign
            if entry[1] == 0:
                # no visits left: drop rounding residue with the key
                del self._sums[stage_key(pipeline, visit.stage)]

    def replace(self, old: DealState | None, new: DealState | None) -> None:
        self.add(old, -1)
        self.add(new, 1)

    def snapshot(self) -> dict[StageKey, StageStat]:
        return {key: StageStat(s, int(c)) for key, (s, c) in self._sums.items()}

    def to_wire(self) -> dict[StageKey, list[float]]:
        return {key: [s, int(c)] for key, (s, c) in sorted(self._sums.items())}


def from_wire(data: Mapping[str, Iterable[float]]) -> dict[StageKey, StageStat]:
    result = {}
    for key, (total, count) in ((k, tuple(v)) for k, v in data.items()):
        result[key] = StageStat(float(total), int(count))
    return result


def combine(parts: Iterable[Mapping[StageKey, StageStat]]) -> dict[StageKey, StageStat]:
    """Add up per-partition statistics into the global ones."""
    totals: dict[StageKey, list[float]] = {}
    for part in parts:
        for key, stat in part.items():
            entry = totals.setdefault(key, [0.0, 0])
            entry[0] += stat.total_seconds
            entry[1] += stat.count
    return {key: StageStat(s, int(c)) for key, (s, c) in totals.items()}
