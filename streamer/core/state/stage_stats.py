"""Learned time-in-stage: sums and counts of completed stage visits, by day.

The statistics are *derived* from deal states, never stored on their own: a
partition's figures are the sum of its deals' completed visits, kept up to
date by subtracting a deal's old contribution and adding its new one. So they
are exactly as idempotent as the deal state itself, and a worker rebuilds them
from its tables after a restart or rebalance.

Visits are counted by the UTC day they ended. A decision about a deal uses
the statistics *as of the day the deal entered its stage* (visits that ended
before that day), so it does not depend on when the decision is taken or on
what else has been processed by then: a live worker and a replay of the same
events set the same threshold for the same stay.

Partitions' figures are combined by adding them up day by day
(:func:`combine`): each worker publishes its partitions' snapshots, and every
worker adds up the newest snapshot of every partition.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from ..timeutil import DAY
from .deal import CLOSED_STAGES, DealState, Visit

__all__ = [
    "StageDays",
    "StageIndex",
    "StageKey",
    "StageStat",
    "StageStats",
    "as_of",
    "combine",
    "day_of",
    "from_wire",
    "stage_key",
    "to_wire",
    "total",
]

StageKey = str  # "<pipeline>/<stage>", the contract's KPI key for stages
StageDays = dict[StageKey, dict[int, tuple[float, int]]]  # key -> day number -> (sum, count)


def stage_key(pipeline: str, stage: str) -> StageKey:
    return f"{pipeline}/{stage}"


def day_of(t: float) -> int:
    return int(t // DAY)


@dataclass(frozen=True, slots=True)
class StageStat:
    total_seconds: float
    count: int

    @property
    def avg_seconds(self) -> float | None:
        return self.total_seconds / self.count if self.count else None


class StageStats:
    """Running sums of completed visits per stage and day for one partition.

    ``on_change(key, day, seconds, count)`` hears every delta (a :class:`StageIndex`).
    """

    __slots__ = ("_on_change", "_sums")

    def __init__(self, on_change: Callable[[StageKey, int, float, int], None] | None = None):
        self._sums: dict[StageKey, dict[int, list[float]]] = {}
        self._on_change = on_change

    def add(self, deal: DealState | None, sign: int = 1) -> None:
        if deal is None:
            return
        self._add_visits(deal.pipeline, deal.visits(), sign)

    def _add_visits(self, pipeline: str, visits: Iterable[Visit], sign: int) -> None:
        for visit in visits:
            key = stage_key(pipeline, visit.stage)
            days = self._sums.setdefault(key, {})
            day = day_of(visit.left)
            entry = days.setdefault(day, [0.0, 0])
            entry[0] += sign * visit.seconds
            entry[1] += sign
            if self._on_change is not None:
                self._on_change(key, day, sign * visit.seconds, sign)
            if entry[1] == 0:
                # no visits left: drop rounding residue with the key
                del days[day]
                if not days:
                    del self._sums[key]

    def replace(self, old: DealState | None, new: DealState | None) -> None:
        """Swap a deal's contribution: only the visits that differ are taken out and
        put in (a stage move usually completes one visit and changes no other)."""
        if old is None or new is None or old.pipeline != new.pipeline:
            self.add(old, -1)
            self.add(new, 1)
            return
        before, after = old.marks, new.marks
        if before is after:
            return
        if before and len(after) == len(before) + 1 and after[:-1] == before:
            # the usual move: one mark after the others, which ends the stay it leaves
            # (if it leaves one) and changes no other
            stage, move = before[-1].stage, after[-1]
            if move.stage != stage and stage not in CLOSED_STAGES:
                entered = old.entered_at
                assert entered is not None  # (a deal with marks has entered its stage)
                self._add_visits(new.pipeline, (Visit(stage, entered, move.at),), 1)
            return
        gone, came = old.visits(), new.visits()
        for visit in list(came):
            if visit in gone:
                gone.remove(visit)
                came.remove(visit)
        self._add_visits(old.pipeline, gone, -1)
        self._add_visits(new.pipeline, came, 1)

    def snapshot(self) -> StageDays:
        return {
            key: {day: (s, int(c)) for day, (s, c) in days.items()}
            for key, days in self._sums.items()
        }


def to_wire(days: StageDays) -> dict[str, dict[str, list[float]]]:
    return {
        key: {str(day): [s, c] for day, (s, c) in sorted(by_day.items())}
        for key, by_day in sorted(days.items())
    }


def from_wire(data: Mapping[str, Mapping[str, Iterable[float]]]) -> StageDays:
    result: StageDays = {}
    for key, by_day in data.items():
        result[key] = {}
        for day, values in by_day.items():
            total_seconds, count = tuple(values)
            result[key][int(day)] = (float(total_seconds), int(count))
    return result


def combine(parts: Iterable[StageDays]) -> StageDays:
    """Add up per-partition statistics, day by day."""
    out: dict[StageKey, dict[int, list[float]]] = {}
    for part in parts:
        for key, by_day in part.items():
            days = out.setdefault(key, {})
            for day, (s, c) in by_day.items():
                entry = days.setdefault(day, [0.0, 0])
                entry[0] += s
                entry[1] += c
    return {
        key: {day: (s, int(c)) for day, (s, c) in days.items() if c} for key, days in out.items()
    }


def total(days: StageDays) -> dict[StageKey, StageStat]:
    """All visits ever completed, per stage (the KPI ``stage_avg_days``)."""
    result = {}
    for key, by_day in days.items():
        s = sum(v[0] for v in by_day.values())
        c = sum(v[1] for v in by_day.values())
        if c:
            result[key] = StageStat(s, c)
    return result


class _Prefix:
    """Prefix sums of one stage's days, for as-of queries in O(log days)."""

    __slots__ = ("counts", "days", "sums")

    def __init__(self, by_day: Mapping[int, tuple[float, int]]) -> None:
        self.days = sorted(by_day)
        self.sums: list[float] = [0.0]
        self.counts: list[int] = [0]
        for day in self.days:
            s, c = by_day[day]
            self.sums.append(self.sums[-1] + s)
            self.counts.append(self.counts[-1] + c)

    def before(self, day: int) -> StageStat:
        i = bisect_left(self.days, day)
        return StageStat(self.sums[i], self.counts[i])


def as_of(days: StageDays) -> dict[StageKey, _Prefix]:
    """Index for :meth:`_Prefix.before`: statistics of visits ended before a day."""
    return {key: _Prefix(by_day) for key, by_day in days.items()}


_DAYS = 1 << 16  # day numbers since 1970 up to the year 2149


class _Fenwick:
    """Sums and counts by day with prefix queries in O(log days) (a binary indexed tree)."""

    __slots__ = ("counts", "sums")

    def __init__(self) -> None:
        self.sums: dict[int, float] = {}
        self.counts: dict[int, int] = {}

    def add(self, day: int, seconds: float, count: int) -> None:
        i, sums, counts = day + 1, self.sums, self.counts
        while i <= _DAYS:
            sums[i] = sums.get(i, 0.0) + seconds
            counts[i] = counts.get(i, 0) + count
            i += i & -i

    def before(self, day: int) -> StageStat:
        i, s, c = min(day, _DAYS), 0.0, 0
        while i > 0:
            s += self.sums.get(i, 0.0)
            c += self.counts.get(i, 0)
            i -= i & -i
        return StageStat(s, c)


class StageIndex:
    """Every partition's statistics added up, kept current delta by delta.

    Answers "visits that ended before day D" per stage in O(log days), however
    long the history, so a decision costs the same in the fifth year as in the
    first. An answer is kept until a delta of an earlier day could change it, so
    asking again (every tick asks for the threshold of every stage and entry day
    with an open deal) is two dict lookups, and gives the very same object.

    :attr:`generation` moves whenever an answer given before may have changed (a
    delta before a day asked about, or a stage seen for the first time): what a
    caller derived from answers is still right while it has not moved.
    """

    __slots__ = ("_memo", "_memo_top", "_totals", "_trees", "generation")

    def __init__(self) -> None:
        self._trees: dict[StageKey, _Fenwick] = {}
        self._totals: dict[StageKey, list[float]] = {}
        # key -> day -> the answer of before(key, day), valid until a delta of an
        # earlier day comes (visits usually end today: the answers of past days hold)
        self._memo: dict[StageKey, dict[int, StageStat]] = {}
        self._memo_top: dict[StageKey, int] = {}  # no day in a key's memo is later
        self.generation = 0

    def apply(self, key: StageKey, day: int, seconds: float, count: int) -> None:
        tree = self._trees.get(key)  # (setdefault would build a tree and a list per call)
        if tree is None:
            tree = self._trees[key] = _Fenwick()
            self._totals[key] = [0.0, 0]
            self.generation += 1  # (it was None for every day before)
        tree.add(day, seconds, count)
        total_entry = self._totals[key]
        total_entry[0] += seconds
        total_entry[1] += count
        if self._memo_top.get(key, day) > day:
            # a delta of ``day`` changes the answers of the days after it, no other
            memo = self._memo[key]
            for d in [d for d in memo if d > day]:
                del memo[d]
            self._memo_top[key] = day
            self.generation += 1

    def apply_days(self, days: StageDays, sign: int) -> None:
        for key, by_day in days.items():
            for day, (seconds, count) in by_day.items():
                self.apply(key, day, sign * seconds, sign * count)

    def before(self, key: StageKey, day: int) -> StageStat | None:
        memo = self._memo.get(key)
        if memo is not None:
            stat = memo.get(day)
            if stat is not None:
                return stat
        tree = self._trees.get(key)
        if tree is None:
            return None
        stat = tree.before(day)
        if memo is None:
            memo = self._memo[key] = {}
        memo[day] = stat
        if self._memo_top.get(key, day) <= day:
            self._memo_top[key] = day
        return stat

    def totals(self) -> dict[StageKey, StageStat]:
        return {k: StageStat(s, int(c)) for k, (s, c) in self._totals.items() if c > 0}
