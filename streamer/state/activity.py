"""Event-time buckets of a rep's activities: one table value per rep and UTC day.

A day bucket holds hourly counts of touches by ``channel|direction|outcome``
and the ids of the events counted, so a redelivered event is recognised in
the very value it would change (one write carries both). Sliding windows are
sums of hourly slots at read time; buckets older than the longest window are
deleted by the worker as time passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas import ActivityLogged

from ..timeutil import DAY, to_epoch

__all__ = [
    "HOUR",
    "ActivityDay",
    "Touches",
    "add_activity",
    "bucket_key",
    "day_start",
    "touches_between",
]

HOUR = 3600.0


def day_start(t: float) -> float:
    return t - (t % DAY)


def bucket_key(rep_id: str, day: float) -> str:
    return f"{rep_id}|{int(day)}"


def count_key(event: ActivityLogged) -> str:
    return f"{event.channel}|{event.direction}|{event.outcome}"


@dataclass(frozen=True, slots=True)
class ActivityDay:
    rep_id: str
    day: float
    ids: frozenset[str] = frozenset()
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
        return cls(data["r"], data["d"], frozenset(data["i"]), hours, _sum_hours(hours))


def add_activity(bucket: ActivityDay | None, event: ActivityLogged) -> tuple[ActivityDay, bool]:
    """Count the event in its day bucket; a repeated event id changes nothing."""
    at = to_epoch(event.occurred_at)
    day = day_start(at)
    if bucket is None:
        bucket = ActivityDay(event.rep_id, day)
    if event.event_id in bucket.ids:
        return bucket, False
    hour = int((at - day) // HOUR)
    key = count_key(event)
    hours = dict(bucket.hours)
    slot = dict(hours.get(hour, {}))
    slot[key] = slot.get(key, 0) + 1
    hours[hour] = slot
    totals = dict(bucket.totals)
    totals[key] = totals.get(key, 0) + 1
    return ActivityDay(bucket.rep_id, day, bucket.ids | {event.event_id}, hours, totals), True


_OUTBOUND_ATTEMPT_CHANNELS = frozenset({"call", "email", "social"})
_CONVERSATIONS = frozenset({("call", "connected"), ("email", "replied"), ("meeting", "held")})


@dataclass(slots=True)
class Touches:
    """Counts over a window by ``channel|direction|outcome``, with the contract's sums."""

    by_key: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int) -> None:
        self.by_key[key] = self.by_key.get(key, 0) + n

    def _sum(self, which: int) -> int:
        return sum(n for key, n in self.by_key.items() if _classify(key)[which])

    @property
    def outbound_attempts(self) -> int:
        """Outbound calls, emails and social touches."""
        return self._sum(0)

    @property
    def conversations(self) -> int:
        """Calls connected, emails replied, meetings held."""
        return self._sum(1)

    @property
    def emails_sent(self) -> int:
        return self._sum(2)

    @property
    def emails_opened(self) -> int:
        """Outbound emails opened or replied."""
        return self._sum(3)


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


def touches_between(days: Iterable[ActivityDay], start: float, end: float) -> Touches:
    """Counts of touches with start <= occurred_at < end, at hour granularity.

    ``start`` and ``end`` must be whole hours (windows end at rule boundaries).
    Days wholly inside the window are added from their totals.
    """
    total = Touches()
    by_key = total.by_key
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
    return total
