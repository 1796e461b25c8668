"""A per-partition index of deals by the time their quiet spell started.

Time-based deal rules must find the deals that crossed a threshold as time
passes, without scanning every deal on every tick. Each rule keeps one index
per partition: active deals sorted by their *anchor* (``deal_stalled``: when
the deal entered its stage; ``follow_up_gap``: its last touch), per group
(the stage, or the team), in two lists: *pending* (no open alert) and
*firing*. With a threshold ``T`` for a group, the deals to fire at ``now``
are the prefix of *pending* anchored before ``now - T``; the alerts to
re-check (because the threshold grew) are the suffix of *firing* anchored at
or after it. A tick costs one look per group (at its oldest pending or newest
firing anchor: most groups have nothing to do) plus the deals that actually
change.

The index lives in memory only; it is rebuilt from the deals table when the
worker is assigned partitions.
"""

from __future__ import annotations

from collections.abc import Callable

from sortedcontainers import SortedList

__all__ = ["StallIndex"]


class StallIndex:
    __slots__ = ("_firing", "_pending", "_where")

    def __init__(self) -> None:
        self._pending: dict[str, SortedList] = {}
        self._firing: dict[str, SortedList] = {}
        self._where: dict[str, tuple[str, float, bool]] = {}

    def __len__(self) -> int:
        return len(self._where)

    def discard(self, deal_id: str) -> None:
        where = self._where.pop(deal_id, None)
        if where is None:
            return
        group, anchor, firing = where
        lists = self._firing if firing else self._pending
        entries = lists[group]
        entries.discard((anchor, deal_id))
        if not entries:
            del lists[group]

    def put(self, deal_id: str, group: str | None, anchor: float | None, firing: bool) -> None:
        """Index the deal under ``group`` from ``anchor`` on; ``None`` removes it."""
        if group is None or anchor is None:
            self.discard(deal_id)
            return
        if self._where.get(deal_id) == (group, anchor, firing):
            return
        self.discard(deal_id)
        lists = self._firing if firing else self._pending
        lists.setdefault(group, SortedList()).add((anchor, deal_id))
        self._where[deal_id] = (group, anchor, firing)

    def changed(self, now: float, limits: Callable[[str], tuple[float, float]]) -> list[str]:
        """The deals whose state may change at ``now``: first the pending ones whose quiet
        spell is strictly longer than their group's threshold with ``for`` (oldest anchor
        first), then the firing ones now within their group's threshold, group by group in
        the order the groups came. ``limits(group)``: (threshold, threshold with ``for``)."""
        found: list[str] = []
        for group, entries in self._pending.items():
            cutoff = now - limits(group)[1]
            if entries[0][0] < cutoff:  # most groups have no deal due: one look says so
                found.extend(
                    deal_id
                    for _, deal_id in entries.irange(maximum=(cutoff, ""), inclusive=(True, False))
                )
        for group, entries in self._firing.items():
            cutoff = now - limits(group)[0]
            if entries[-1][0] >= cutoff:  # likewise: the newest anchor says
                found.extend(deal_id for _, deal_id in entries.irange(minimum=(cutoff, "")))
        return found

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for lists in (self._pending, self._firing):
            for group, entries in lists.items():
                counts[group] = counts.get(group, 0) + len(entries)
        return counts

    def firing_count(self) -> int:
        return sum(len(entries) for entries in self._firing.values())
