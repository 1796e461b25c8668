"""Event time: the one place that decides what "now" is for the processor.

Three ideas, taken from Kafka Streams and Flink (see the README's design section):

* **Lateness is judged once, where an event enters**: per *source* (one partition of
  one input topic), an event older than the newest ``occurred_at`` already read from
  that source, less the allowed lateness, is late. A source is read in offset order,
  so the decision is the same in a worker, after a restart and in a replay of the same
  file. Events forwarded between the processor's sides are never judged again. A late
  event is not lost: it is processed at the moment its source had reached (its
  watermark less the lateness), so it corrects the state from then on.
* **A side may act on time T only once every source that can still feed it has
  passed T.** Each source's *bound* is what it promises about the future: a raw source
  will only yield events at or after its watermark less the lateness; a side that
  emits records (the deal side's summaries) only emits them at or after what it has
  processed. Bounds travel *in-band* on the internal topics, behind the records they
  cover, so a receiver that has read a bound has read everything before it.
  The side's :class:`Frontier` is the minimum over its sources' bounds; a source that
  is caught up (no lag: an *idle* source) does not hold time back, as Kafka Streams
  does for an input with no data and no lag.
* **Records are processed in event-time order**: a side buffers what it reads and
  takes records in ``(occurred_at, origin)`` order up to its frontier
  (:class:`OrderedBuffer`), judging each rule boundary between the records before and
  after it. The order is a function of the events alone, so a worker draining a
  backlog, a worker keeping up, two workers and a replay all take the same decisions.

Nothing here reads a clock: the wall time (``clock = "wall"``) is passed in.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Bound",
    "Frontier",
    "OrderedBuffer",
    "Origin",
    "RawMarks",
    "boundaries_between",
    "floor_to",
]

#: Where a record comes from, for a total, deterministic order among records of the
#: same ``occurred_at``: (topic rank, partition, offset, sub-index). A record derived
#: from another (a touch from an activity, a summary from a deal event) carries the
#: origin of the record it was derived from with its own sub-index.
Origin = tuple[int, int, int, int]

NEVER = -math.inf


def floor_to(moment: float, interval: float) -> float:
    """The last whole ``interval`` at or before ``moment``."""
    return math.floor(moment / interval) * interval


def boundaries_between(after: float, upto: float, interval: float) -> Iterator[float]:
    """Whole ``interval`` boundaries in ``(after, upto]``, oldest first."""
    if upto == NEVER or upto < after:
        return
    first = floor_to(upto, interval) if after == NEVER else floor_to(after, interval) + interval
    moment = first
    while moment <= upto:
        yield moment
        moment += interval


class RawMarks:
    """The newest ``occurred_at`` read per source, the late test made against it, and
    the guard that keeps an absurd ``occurred_at`` out of event time.

    ``source`` is ``"<topic role>:<partition>"``. Pure bookkeeping: the caller decides
    what a late or refused event becomes (the late topic, the dead-letter topic, a
    metric).

    **The guard** (:meth:`refuse`): one event dated year 9999 would otherwise move its
    source's watermark there, and with it the side's time (in a replay, rules judged at
    every hour up to year 9999; in a worker, every later event of the partition late and
    held back for good). So an event is refused when its ``occurred_at`` is

    * outside ``[earliest, latest)``, the absolute range: what bounds the first event
      of a source, which has no watermark to be judged against; or
    * more than ``max_jump`` ahead of its source's watermark, unless the event judged
      just before it on the same source was refused for that very reason and this one is
      within ``max_jump`` of it: two events in a row that agree on a new time mean the
      source's time really did jump (after a long silence, or past an event dated too
      early), and the second one is taken. So a single wrong date costs one event, and
      no date can shut a source out for good.

    Both depend only on the source's events in offset order, so a worker and a replay
    of the same input refuse the same events.
    """

    __slots__ = ("earliest", "jumped", "lateness", "latest", "marks", "max_jump")

    def __init__(
        self,
        lateness: float,
        marks: Mapping[str, float] | None = None,
        *,
        max_jump: float = math.inf,
        earliest: float = -math.inf,
        latest: float = math.inf,
    ) -> None:
        self.lateness = lateness
        self.marks: dict[str, float] = dict(marks or {})
        self.max_jump = max_jump
        self.earliest = earliest
        self.latest = latest
        # per source, the occurred_at of the last event refused for a jump, when the last
        # event judged there was one
        self.jumped: dict[str, float] = {}

    def out_of_range(self, at: float) -> bool:
        """True when ``at`` is outside the absolute range ``[earliest, latest)``."""
        return not self.earliest <= at < self.latest

    def refuse(self, source: str, at: float) -> bool:
        """True when an event at ``at`` must not enter event time from ``source`` (see
        the class): out of range, or too far ahead of the source's watermark. Call it
        once per event, before :meth:`place`; a refused event leaves the watermark as
        it was."""
        if self.out_of_range(at):
            return True
        mark = self.marks.get(source, NEVER)
        if mark != NEVER and at - mark > self.max_jump:
            previous = self.jumped.get(source)
            if previous is None or abs(at - previous) > self.max_jump:
                self.jumped[source] = at
                return True
        self.jumped.pop(source, None)
        return False

    def place(self, source: str, at: float) -> float:
        """Where in event time the event is processed: at its ``occurred_at`` when it is
        in time (and then it moves the watermark); a late one at its source's watermark
        less the lateness (it corrects the state from there on: what was judged before
        stays judged, the same in any run of the same input)."""
        mark = self.marks.get(source, NEVER)
        if at < mark - self.lateness:
            return mark - self.lateness
        if at > mark:
            self.marks[source] = at
        return at

    def accept(self, source: str, at: float) -> bool:
        """True when the event is in time (see :meth:`place`)."""
        return self.place(source, at) == at

    def mark(self, source: str) -> float:
        return self.marks.get(source, NEVER)

    def forget(self, source: str) -> None:
        """The source is given away: whoever reads it next starts afresh."""
        self.marks.pop(source, None)
        self.jumped.pop(source, None)


@dataclass(frozen=True, slots=True)
class Bound:
    """What a source promises: no record from it before ``at``; ``idle``: it has
    nothing left to read right now (caught up), so it holds nobody back."""

    at: float
    idle: bool = False

    def to_wire(self) -> list[Any]:
        return [None if self.at == NEVER else self.at, self.idle]

    @classmethod
    def from_wire(cls, value: list[Any]) -> Bound:
        return cls(NEVER if value[0] is None else float(value[0]), bool(value[1]))


@dataclass(slots=True)
class Frontier:
    """The time up to which one side of the processor may process records and judge.

    Bounds arrive per *lane* (one internal partition this side reads: a bound read on a
    lane covers what came before it on that lane only) and per source. A source's bound
    for the side is its lowest over the side's lanes; a source not heard of on a lane
    yet holds the side at the start of time, so nothing is judged before every source
    has spoken. The frontier is the lowest bound of the sources that are not idle; when
    every source is idle it is the highest bound (the newest time anywhere, less the
    lateness), or the wall time less the lateness on the wall clock. It never moves back.
    """

    sources: frozenset[str] = frozenset()
    lanes: dict[int, dict[str, Bound]] = field(default_factory=dict)
    # the sources this process reads itself and takes records of straight into the side,
    # not through a lane: bounded by what this very process has read of them (a bound
    # another incarnation left on a lane does not cover what it had only buffered)
    local: dict[str, Bound] = field(default_factory=dict)
    value: float = NEVER

    def set_sources(self, sources: Iterable[str]) -> None:
        self.sources = frozenset(sources)

    def set_lanes(self, lanes: Iterable[int]) -> None:
        wanted = set(lanes)
        for lane in list(self.lanes):
            if lane not in wanted:
                del self.lanes[lane]
        for lane in wanted:
            self.lanes.setdefault(lane, {})

    def put(self, lane: int, source: str, bound: Bound) -> None:
        known = self.lanes.get(lane)
        if known is not None:
            known[source] = bound

    def bound_of(self, source: str) -> Bound | None:
        """The source's bound over every lane: the lowest time, idle only if idle on
        every lane (None: not heard of on some lane yet)."""
        at, idle = math.inf, True
        for known in self.lanes.values():
            bound = known.get(source)
            if bound is None:
                return None
            at = min(at, bound.at)
            idle = idle and bound.idle
        own = self.local.get(source)
        if own is not None:
            at = min(at, own.at)
            idle = idle and own.idle
        return None if at == math.inf else Bound(at, idle)

    def advance(self, wall: float | None = None, lateness: float = 0.0) -> float:
        """Recompute from the bounds known now; returns the (never decreasing) frontier."""
        if not self.lanes or not self.sources:
            candidate = NEVER if wall is None else wall - lateness
        else:
            busy: list[float] = []
            idle: list[float] = []
            for source in self.sources:
                bound = self.bound_of(source)
                if bound is None:
                    busy.append(NEVER)
                elif bound.idle:
                    idle.append(bound.at)
                else:
                    busy.append(bound.at)
            if wall is not None:
                candidate = min([*busy, wall - lateness])
            elif busy:
                candidate = min(busy)
            else:
                candidate = max(idle, default=NEVER)
        if candidate > self.value:
            self.value = candidate
        return self.value

    def lagging(self) -> list[str]:
        """The sources that hold the frontier where it is (for a metric and /progress)."""
        return sorted(
            s
            for s in self.sources
            if (b := self.bound_of(s)) is None or (not b.idle and b.at <= self.value)
        )


class OrderedBuffer:
    """Records waiting for the frontier, taken in ``(at, origin)`` order."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[float, Origin, int, Any]] = []
        self._seq = 0

    def push(self, at: float, origin: Origin, record: Any) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, origin, self._seq, record))

    def peek_at(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def pop(self) -> Any:
        return heapq.heappop(self._heap)[3]

    def __len__(self) -> int:
        return len(self._heap)

    def drop(self, keep: Any) -> list[Any]:
        """Remove the records for which ``keep(record)`` is false; returns them."""
        kept: list[tuple[float, Origin, int, Any]] = []
        dropped: list[tuple[float, Origin, int, Any]] = []
        for entry in self._heap:
            (kept if keep(entry[3]) else dropped).append(entry)
        if dropped:
            heapq.heapify(kept)
            self._heap = kept
        return [entry[3] for entry in dropped]
