"""Is the worker making progress? The judgement behind ``/ready``, ``/live`` and the exit
of a stuck worker ("recover or exit, never hang", issue 11).

:class:`ProgressWatch` is pure: the worker tells it what it read, when a batch's effects
were handed to the producer and when Kafka acknowledged them, and asks, with the time of
the asking, for a :class:`Health`. The rules (``health.*`` settings):

* *progress* is a record read from a partition the worker processes (input, internal or
  tick topics), a step of table recovery, a new consumer generation, or a batch's
  effects acknowledged; and each partition with messages waiting must itself be read
  (the worker names the ones it may hold back): one that reads nothing while the others
  move is a stall of its own, named in the reason;
* it is only asked for while there is *work*: messages behind the high watermarks, records
  in the producer's buffer, effects awaiting acknowledgement, a rebalance or a recovery.
  An idle worker is healthy however long it idles;
* the time *waiting* is the longer of the time with work and no progress, and the age of
  the oldest effects awaiting acknowledgement (a producer that cannot deliver);
* waiting ``stall_seconds`` makes the worker unready, ``stuck_seconds`` not live, and
  ``exit_after_seconds`` (unless 0) makes it exit. A failed producer (its service crashed)
  never recovers by itself: not ready, not live and exit at once.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..settings import HealthSettings

__all__ = ["EXIT_STUCK", "Health", "ProgressWatch", "recovered_to"]

#: The worker's exit status when it stops itself because it is stuck (3 is the
#: dead-letter limit's stop).
EXIT_STUCK = 4


def recovered_to(*offsets: Mapping[Any, int | None]) -> int:
    """How far table recovery has come, as one number that grows with it: the sum of the
    changelog offsets Faust's recovery keeps per partition (``active_offsets``,
    ``standby_offsets``). Faust keeps None for a changelog partition with nothing
    persisted yet (``Recovery._add``): it counts as nothing."""
    return sum(offset for counter in offsets for offset in counter.values() if offset is not None)


@dataclass(frozen=True, slots=True)
class Health:
    """The verdict at one moment."""

    progressing: bool  # no stall: /ready needs this (and recovery done)
    live: bool
    exit: bool
    waiting_seconds: float  # work without progress, or the oldest delivery's age
    delivery_wait_seconds: float
    reason: str | None  # why not progressing, in words for the log and the pages

    def to_wire(self) -> dict[str, object]:
        return {
            "progressing": self.progressing,
            "live": self.live,
            "waiting_seconds": round(self.waiting_seconds, 3),
            "delivery_wait_seconds": round(self.delivery_wait_seconds, 3),
            "reason": self.reason,
        }


class ProgressWatch:
    """What the worker has done lately, and whether that is enough (see the module)."""

    def __init__(self, settings: HealthSettings, now: float) -> None:
        self.settings = settings
        self.position: tuple[int, ...] | None = None
        self.last_progress = now
        self._deliveries: dict[int, float] = {}  # token -> when handed to the producer
        #: partition -> (its next offset to read, since when it has been that)
        self._reading: dict[str, tuple[int, float]] = {}
        self._tokens = itertools.count()

    def delivery_started(self, now: float) -> int:
        """A batch's effects were handed to the producer; returns the token to finish it."""
        token = next(self._tokens)
        self._deliveries[token] = now
        return token

    def delivery_finished(self, token: int, now: float) -> None:
        """Kafka acknowledged them (or they failed: the batch is then read again)."""
        self._deliveries.pop(token, None)
        self.last_progress = now

    def _partition_stall(
        self, now: float, behind: Mapping[str, tuple[int, int]]
    ) -> tuple[float, str | None]:
        """The longest time a partition with messages waiting has read none, and which."""
        owed = {name: read for name, read in behind.items() if read[1] > 0}
        # caught up, held back or given away: nothing owed, a fresh clock if it is again
        reading = self._reading = {n: seen for n, seen in self._reading.items() if n in owed}
        longest, which = 0.0, None
        for name, (offset, waiting) in sorted(owed.items()):
            seen = reading.get(name)
            if seen is None or seen[0] != offset:
                reading[name] = seen = (offset, now)
            if now - seen[1] > longest:
                longest = now - seen[1]
                which = f"partition {name} has {waiting} messages waiting and read none"
        return longest, which

    def judge(
        self,
        now: float,
        position: tuple[int, ...],
        work: str | None,
        producer_failed: str | None,
        behind: Mapping[str, tuple[int, int]] | None = None,
    ) -> Health:
        """The verdict at ``now``: ``position`` is anything that moves when the worker
        progresses (records read, recovery offsets, consumer generation); ``work`` says what
        there is to do (None: nothing); ``producer_failed`` why the producer is gone;
        ``behind``: partition -> (next offset to read, messages behind its high watermark)
        for the partitions that must be read now."""
        if position != self.position:
            self.position = position
            self.last_progress = now
        oldest = min(self._deliveries.values(), default=None)
        delivery_wait = 0.0 if oldest is None else max(0.0, now - oldest)
        if work is None and oldest is None:
            self.last_progress = now  # idle: nothing to wait for is not a stall
        stalled = max(0.0, now - self.last_progress)
        unread, partition = self._partition_stall(now, behind or {})
        waiting = max(stalled, unread, delivery_wait)
        s = self.settings
        if producer_failed is not None:
            return Health(False, False, True, waiting, delivery_wait, producer_failed)
        reason = None
        if delivery_wait >= s.stall_seconds:
            reason = f"effects unacknowledged by Kafka for {delivery_wait:.0f}s"
        elif unread >= s.stall_seconds and unread > stalled:
            reason = f"{partition} for {unread:.0f}s"
        elif stalled >= s.stall_seconds:
            reason = f"no progress for {stalled:.0f}s with {work or 'work'} waiting"
        return Health(
            progressing=waiting < s.stall_seconds,
            live=waiting < s.stuck_seconds,
            exit=bool(s.exit_after_seconds) and waiting >= s.exit_after_seconds,
            waiting_seconds=waiting,
            delivery_wait_seconds=delivery_wait,
            reason=reason,
        )
