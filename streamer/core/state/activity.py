"""Event-time buckets of a rep's activities: one table value per rep and UTC day.

A day bucket holds hourly counts of touches by ``channel|direction|outcome``
and the ids of the events counted, so a redelivered event is recognised in
the very value it would change (one write carries both). Sliding windows are
sums of hourly slots at read time; buckets older than the longest window are
deleted by the worker as time passes.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas import ActivityLogged

from ..timeutil import DAY, to_epoch
from .codec import compact_json, parsed
from .frozen import fast_init

__all__ = [
    "HOUR",
    "ActivityDay",
    "EventIds",
    "TouchIndex",
    "Touches",
    "add_activity",
    "bucket_key",
    "day_start",
    "decode_day",
    "encode_day",
    "touches_between",
]

HOUR = 3600.0


def day_start(t: float) -> float:
    return t - (t % DAY)


def bucket_key(rep_id: str, day: float) -> str:
    return f"{rep_id}|{int(day)}"


def count_key(event: ActivityLogged) -> str:
    return f"{event.channel}|{event.direction}|{event.outcome}"


class EventIds(AbstractSet[str]):
    """The ids of the events a bucket counted: an immutable set that grows in O(1).

    Successive versions of a bucket share one append-only log of ids; a version sees
    the first ``len`` of them. Adding to the newest version appends to the log (what
    counting does: each new bucket replaces the one it came from); adding to an older
    one copies its part. So counting an event no longer copies every id of the day.
    """

    __slots__ = ("_index", "_len", "_log")

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._log: list[str] = list(dict.fromkeys(ids))
        self._index: dict[str, int] = {event_id: i for i, event_id in enumerate(self._log)}
        self._len = len(self._log)

    def __contains__(self, event_id: object) -> bool:
        i = self._index.get(event_id)  # type: ignore[call-overload]
        return i is not None and i < self._len

    def __iter__(self) -> Iterator[str]:
        return iter(self._log[: self._len])

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return f"EventIds({self._log[: self._len]!r})"

    def with_id(self, event_id: str) -> EventIds:
        """These ids and ``event_id`` (which must not be among them)."""
        if self._len != len(self._log):
            return EventIds((*self._log[: self._len], event_id))
        grown = EventIds.__new__(EventIds)
        grown._log, grown._index = self._log, self._index
        self._index[event_id] = self._len
        self._log.append(event_id)
        grown._len = self._len + 1
        return grown


@fast_init
@dataclass(frozen=True, slots=True)
class ActivityDay:
    rep_id: str
    day: float
    ids: AbstractSet[str] = frozenset()
    hours: Mapping[int, Mapping[str, int]] = field(default_factory=dict)
    totals: Mapping[str, int] = field(default_factory=dict)  # derived: the day's sums

    def to_dict(self) -> dict[str, Any]:
        return {
            "r": self.rep_id,
            "d": self.day,
            "i": sorted(self.ids),
            "h": {str(h): dict(c) for h, c in self.hours.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActivityDay:
        hours = {int(h): dict(c) for h, c in data["h"].items()}
        return cls(data["r"], data["d"], EventIds(data["i"]), hours, _sum_hours(hours))


def encode_day(state: ActivityDay) -> bytes:
    """The day bucket as a table value: :meth:`ActivityDay.to_dict` as compact JSON (an object, so
    values of any version say what they hold)."""
    return compact_json(state.to_dict())


def decode_day(raw: bytes | str | Mapping[str, Any]) -> ActivityDay:
    """The inverse of :func:`encode_day`; also takes the value already parsed."""
    return ActivityDay.from_dict(parsed(raw))


def add_activity(
    bucket: ActivityDay | None, event: ActivityLogged, at: float | None = None
) -> tuple[ActivityDay, bool]:
    """Count the event in its day bucket; a repeated event id changes nothing.

    ``at`` is ``event.occurred_at`` in epoch seconds, when the caller has it.
    """
    if at is None:
        at = to_epoch(event.occurred_at)
    day = at - (at % DAY)
    event_id = event.event_id
    if bucket is None:
        ids: AbstractSet[str] = EventIds()
        hours: dict[int, Mapping[str, int]] = {}
        totals: dict[str, int] = {}
        rep_id = event.rep_id
    else:
        ids = bucket.ids
        if event_id in ids:
            return bucket, False
        hours, totals, rep_id = dict(bucket.hours), dict(bucket.totals), bucket.rep_id
    if not isinstance(ids, EventIds):
        ids = EventIds(ids)
    hour = int((at - day) // HOUR)
    key = f"{event.channel}|{event.direction}|{event.outcome}"
    slot = hours.get(hour)
    slot = dict(slot) if slot else {}
    slot[key] = slot.get(key, 0) + 1
    hours[hour] = slot
    totals[key] = totals.get(key, 0) + 1
    return ActivityDay(rep_id, day, ids.with_id(event_id), hours, totals), True


_OUTBOUND_ATTEMPT_CHANNELS = frozenset({"call", "email", "social"})
_CONVERSATIONS = frozenset({("call", "connected"), ("email", "replied"), ("meeting", "held")})


class Touches(NamedTuple):
    """The contract's sums of touches over a window."""

    outbound_attempts: int = 0  # outbound calls, emails and social touches
    conversations: int = 0  # calls connected, emails replied, meetings held
    emails_sent: int = 0
    emails_opened: int = 0  # outbound emails opened or replied


_CLASSES: dict[str, tuple[bool, bool, bool, bool]] = {}


def _classify(key: str) -> tuple[bool, bool, bool, bool]:
    found = _CLASSES.get(key)
    if found is None:
        channel, direction, outcome = key.split("|")
        outbound_email = channel == "email" and direction == "outbound"
        found = _CLASSES[key] = (
            direction == "outbound" and channel in _OUTBOUND_ATTEMPT_CHANNELS,
            (channel, outcome) in _CONVERSATIONS,
            outbound_email,
            outbound_email and outcome in ("opened", "replied"),
        )
    return found


def _sum_hours(hours: Mapping[int, Mapping[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in hours.values():
        for key, n in counts.items():
            totals[key] = totals.get(key, 0) + n
    return totals


Counts = tuple[int, int, int, int]  # the four sums of :class:`Touches`, in field order
_ZERO: Counts = (0, 0, 0, 0)


def _counts(by_key: Mapping[str, int]) -> Counts:
    attempts = conversations = sent = opened = 0
    for key, n in by_key.items():
        is_attempt, is_conversation, is_sent, is_opened = _classify(key)
        if is_attempt:
            attempts += n
        if is_conversation:
            conversations += n
        if is_sent:
            sent += n
        if is_opened:
            opened += n
    return (attempts, conversations, sent, opened)


def touches_between(days: Iterable[ActivityDay], start: float, end: float) -> Touches:
    """Counts of touches with start <= occurred_at < end, at hour granularity.

    ``start`` and ``end`` must be whole hours (windows end at rule boundaries).
    Days wholly inside the window are added from their totals. A plain scan over
    the days: :class:`TouchIndex` answers the same from running sums.
    """
    by_key: dict[str, int] = {}
    for bucket in days:
        if bucket.day >= end or bucket.day + DAY <= start:
            continue
        if start <= bucket.day and bucket.day + DAY <= end:
            for key, n in bucket.totals.items():
                by_key[key] = by_key.get(key, 0) + n
            continue
        for hour, counts in bucket.hours.items():
            moment = bucket.day + hour * HOUR
            if start <= moment < end:
                for key, n in counts.items():
                    by_key[key] = by_key.get(key, 0) + n
    return Touches(*_counts(by_key))


class _DaySums:
    """One bucket's sums: its totals, and running sums over its hours in time order."""

    __slots__ = ("bucket", "hours", "moments", "running", "total")

    def __init__(self, bucket: ActivityDay, before: _DaySums | None = None) -> None:
        """``before``: the sums of an older bucket of the day, whose hours' counts that are
        the very same objects (an added touch copies only its own hour) are not summed again.
        """
        self.bucket = bucket
        known = before.hours if before is not None else {}
        self.hours: dict[int, tuple[Mapping[str, int], Counts]] = {}
        self.moments: list[float] = []
        running = [_ZERO]
        a = b = c = d = 0
        for hour, counts in sorted(bucket.hours.items()):
            found = known.get(hour)
            sums = found[1] if found is not None and found[0] is counts else _counts(counts)
            self.hours[hour] = (counts, sums)
            self.moments.append(bucket.day + hour * HOUR)
            a, b, c, d = a + sums[0], b + sums[1], c + sums[2], d + sums[3]
            running.append((a, b, c, d))
        self.running = running
        self.total = _counts(bucket.totals)

    def between(self, start: float, end: float) -> Counts:
        """The hours whose first moment is within ``[start, end)``."""
        i = bisect_left(self.moments, start)
        j = bisect_left(self.moments, end)
        if j <= i:
            return _ZERO
        top, bottom = self.running[j], self.running[i]
        return (top[0] - bottom[0], top[1] - bottom[1], top[2] - bottom[2], top[3] - bottom[3])


class TouchIndex:
    """:func:`touches_between` as range sums over one rep's day buckets.

    Days wholly inside a window are added from running sums over the days' totals,
    the (at most two) days it cuts from running sums over their hours, so a window
    costs a few bisections however long it is; the counts are the very integers the
    scan adds up. An index is derived from the buckets alone and never changed:
    :meth:`updated` makes the index of newer buckets, reusing what it can of this one
    (a bucket that is the same object has the same sums).
    """

    __slots__ = ("buckets", "days", "ends", "running", "sums")
    sums: list[_DaySums]
    running: list[Counts]
    days: list[float]
    ends: list[float]

    def __init__(
        self,
        buckets: Iterable[ActivityDay] = (),
        previous: TouchIndex | None = None,
        in_order: bool = False,
    ) -> None:
        """``buckets`` in any order (``in_order``: already in day order); ``previous``
        lends the sums of buckets that are the same objects."""
        self.buckets = list(buckets) if in_order else sorted(buckets, key=_day_of)
        old = previous.buckets if previous is not None else []
        same = 0
        for bucket, older in zip(self.buckets, old, strict=False):
            if bucket is not older:
                break
            same += 1
        if previous is not None:
            self.sums, self.running = previous.sums[:same], previous.running[: same + 1]
            self.days, self.ends = previous.days[:same], previous.ends[:same]
        else:
            self.sums, self.running, self.days, self.ends = [], [_ZERO], [], []
        a, b, c, d = self.running[-1]
        for i in range(same, len(self.buckets)):
            bucket = self.buckets[i]
            prior = previous.sums[i] if previous is not None and i < len(old) else None
            if prior is None or prior.bucket.day != bucket.day:
                sums = _DaySums(bucket)
            elif prior.bucket is bucket:
                sums = prior
            else:
                sums = _DaySums(bucket, prior)
            self.sums.append(sums)
            self.days.append(bucket.day)
            self.ends.append(bucket.day + DAY)
            da, db, dc, dd = sums.total
            a, b, c, d = a + da, b + db, c + dc, d + dd
            self.running.append((a, b, c, d))

    def updated(self, buckets: list[ActivityDay]) -> TouchIndex:
        """The index of ``buckets`` (in day order): this very one when they are the same
        objects."""
        if len(buckets) == len(self.buckets) and all(map(operator.is_, buckets, self.buckets)):
            return self
        return TouchIndex(buckets, self, in_order=True)

    def between(
        self, start: float, end: float, lo: float = -math.inf, hi: float = math.inf
    ) -> Touches:
        """``touches_between`` over the days that overlap ``[lo, hi)``."""
        days, ends = self.days, self.ends
        first = bisect_right(ends, max(start, lo))  # the first day the window overlaps
        stop = bisect_left(days, min(end, hi))
        whole_from = max(bisect_left(days, start), first)
        whole_to = min(bisect_right(ends, end), stop)
        if whole_from < whole_to:
            top, bottom = self.running[whole_to], self.running[whole_from]
            a, b, c, d = (
                top[0] - bottom[0],
                top[1] - bottom[1],
                top[2] - bottom[2],
                top[3] - bottom[3],
            )
            cut = (*range(first, whole_from), *range(whole_to, stop))
        else:
            a = b = c = d = 0
            cut = tuple(range(first, stop))
        for i in cut:
            da, db, dc, dd = self.sums[i].between(start, end)
            a, b, c, d = a + da, b + db, c + dc, d + dd
        return Touches(a, b, c, d)

    def next_moment(self, at: float) -> float:
        """The first hour moment at or after ``at`` that holds a touch (inf: none); what
        windows over these touches change at as ``at`` moves on."""
        i = bisect_right(self.ends, at)  # the first day ending after ``at``
        while i < len(self.sums):
            moments = self.sums[i].moments
            j = bisect_left(moments, at)
            if j < len(moments):
                return moments[j]
            i += 1
        return math.inf


def _day_of(bucket: ActivityDay) -> float:
    return bucket.day
