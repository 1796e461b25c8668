"""A per-partition index of open deals by stage and entry time.

``deal_stalled`` must find the deals that crossed their stage's threshold as
time passes, without scanning every deal on every tick. Open deals of one
partition are kept sorted by the time they entered their stage, per
``pipeline/stage``, in two lists: *pending* (no open alert) and *firing*.
With a threshold ``T`` for a stage, the deals to fire at ``now`` are the
prefix of *pending* that entered before ``now - T``, and the alerts to
resolve (because the learned average grew) are the suffix of *firing* that
entered at or after it. A tick therefore costs one binary search per stage
plus the deals that actually change.

The index lives in memory only; it is rebuilt from the deals table when the
worker is assigned partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from sortedcontainers import SortedList

from .deal import DealState
from .stage_stats import StageKey, stage_key

__all__ = ["StallIndex"]

_Entry = tuple[float, str]  # (entered_at, deal_id)


class StallIndex:
    __slots__ = ("_firing", "_pending", "_where")

    def __init__(self) -> None:
        self._pending: dict[StageKey, SortedList] = {}
        self._firing: dict[StageKey, SortedList] = {}
        self._where: dict[str, tuple[StageKey, float, bool]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def discard(self, deal_id: str) -> None:
        where = self._where.pop(deal_id, None)
        if where is None:
            return
        key, entered, firing = where
        lists = self._firing if firing else self._pending
        entries = lists[key]
        entries.discard((entered, deal_id))
        if not entries:
            del lists[key]

    def update(self, deal: DealState) -> None:
        """Index the deal as it now is (open deals only)."""
        entered = deal.entered_at
        stage = deal.stage
        if not deal.is_open or entered is None or stage is None:
            self.discard(deal.deal_id)
            return
        key = stage_key(deal.pipeline, stage)
        firing = deal.stalled is not None
        if self._where.get(deal.deal_id) == (key, entered, firing):
            return
        self.discard(deal.deal_id)
        lists = self._firing if firing else self._pending
        lists.setdefault(key, SortedList()).add((entered, deal.deal_id))
        self._where[deal.deal_id] = (key, entered, firing)

    def due(self, now: float, threshold_seconds: Callable[[StageKey], float]) -> Iterator[str]:
        """Deals without an open alert whose time in stage exceeds the stage threshold."""
        for key, entries in list(self._pending.items()):
            cutoff = now - threshold_seconds(key)
            # strictly longer than the threshold: entered < cutoff
            for _, deal_id in list(entries.irange(maximum=(cutoff, ""), inclusive=(True, False))):
                yield deal_id

    def no_longer_due(
        self, now: float, threshold_seconds: Callable[[StageKey], float]
    ) -> Iterator[str]:
        """Deals with an open alert that are now within the stage threshold."""
        for key, entries in list(self._firing.items()):
            cutoff = now - threshold_seconds(key)
            for _, deal_id in list(entries.irange(minimum=(cutoff, ""))):
                yield deal_id

    def open_counts(self) -> dict[StageKey, int]:
        counts: dict[StageKey, int] = {}
        for lists in (self._pending, self._firing):
            for key, entries in lists.items():
                counts[key] = counts.get(key, 0) + len(entries)
        return counts

    def firing_count(self) -> int:
        return sum(len(entries) for entries in self._firing.values())
