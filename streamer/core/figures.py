"""The numbers behind rules and KPIs, as pure functions of rep state and ``as_of``.

Every window is half-open and ends at ``as_of``: ``[as_of - days, as_of)``.
Rules judge at whole rule boundaries (``rep_rules_interval_seconds``), so a
live worker and a replay compute the very same windows. A figure with no data
is ``None``, never 0 (contract section 7).

:class:`TeamSums` are additive: a partition computes its teams' sums over the
reps it owns, the sums of every partition are added up (see
``engine.SharedView``) and team figures are read off the total, so a team's
baseline is right however its reps are spread over partitions and workers.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from operator import itemgetter
from typing import Any, NamedTuple

from .state.activity import ActivityDay, Touches, TouchIndex
from .state.rep import DealSummary, LeadEntry, QuotaEntry, RepState
from .timeutil import DAY

__all__ = [
    "Convert",
    "DealIndex",
    "DealWindow",
    "LeadIndex",
    "QuotaProgress",
    "RepFigures",
    "TeamRead",
    "TeamReads",
    "TeamSums",
    "deal_window",
    "quota_progress",
    "Windows",
    "ratio",
    "rep_figures",
]

Convert = Callable[[float, str | None], float]


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    if numerator is None or not denominator:
        return None
    return numerator / denominator


@dataclass(slots=True)
class DealWindow:
    """Deals closed, won and leaving stages within a window."""

    won: int = 0
    lost: int = 0
    won_amount: float = 0.0
    won_with_amount: int = 0
    cycle_days_sum: float = 0.0
    cycle_count: int = 0
    exits: dict[str, list[int]] = field(default_factory=dict)  # "pipeline/stage" -> [n, fwd]
    created: int = 0
    won_amount_by: dict[str, float] = field(default_factory=dict)  # "dimension|value" ->

    @property
    def closed(self) -> int:
        return self.won + self.lost


def _amount(deal: DealSummary, convert: Convert) -> float | None:
    return None if deal.amount is None else convert(deal.amount, deal.currency)


def _dim_keys(deal: DealSummary) -> tuple[str, ...]:
    """The ``"dimension|value"`` keys amounts of the deal are summed by."""
    return tuple(
        f"{dim}|{value}"
        for dim, value in (("source_channel", deal.source_channel), ("product", deal.product))
        if value is not None
    )


def deal_window(
    deals: Iterable[DealSummary], start: float, end: float, convert: Convert
) -> DealWindow:
    out = DealWindow()
    for deal in deals:
        if deal.created_at is not None and start <= deal.created_at < end:
            out.created += 1
        for stage, left, forward in deal.exits:
            if start <= left < end:
                entry = out.exits.setdefault(f"{deal.pipeline}/{stage}", [0, 0])
                entry[0] += 1
                entry[1] += int(forward)
        if deal.closed_at is None or not start <= deal.closed_at < end:
            continue
        if not deal.won:
            out.lost += 1
            continue
        out.won += 1
        amount = _amount(deal, convert)
        if amount is not None:
            out.won_amount += amount
            out.won_with_amount += 1
            for key in _dim_keys(deal):
                out.won_amount_by[key] = out.won_amount_by.get(key, 0.0) + amount
        if deal.created_at is not None:
            out.cycle_days_sum += (deal.closed_at - deal.created_at) / DAY
            out.cycle_count += 1
    return out


class QuotaProgress(NamedTuple):
    quota: QuotaEntry
    achieved: float
    attainment: float
    elapsed: float  # share of the period gone by at as_of

    @property
    def pace(self) -> float | None:
        return self.attainment / self.elapsed if self.elapsed > 0 else None


def current_quota(state: RepState, as_of: float) -> QuotaEntry | None:
    live = [q for q in state.quotas.values() if q.period_start <= as_of < q.period_end]
    return max(live, key=lambda q: (q.period_start, q.at)) if live else None


def quota_progress(state: RepState, as_of: float, convert: Convert) -> QuotaProgress | None:
    quota = current_quota(state, as_of)
    if quota is None:
        return None
    achieved = 0.0
    for deal in state.deals.values():
        if deal.won and deal.closed_at is not None and quota.period_start <= deal.closed_at < as_of:
            if quota.metric == "deals":
                achieved += 1
            else:
                amount = _amount(deal, convert)
                achieved += amount or 0.0
    return _progress(quota, achieved, as_of)


def _progress(quota: QuotaEntry, achieved: float, as_of: float) -> QuotaProgress:
    elapsed = (as_of - quota.period_start) / (quota.period_end - quota.period_start)
    return QuotaProgress(quota, achieved, achieved / quota.target, elapsed)


class _DealRow:
    """What the figures read of one deal summary, worked out once per summary."""

    __slots__ = (
        "amount",
        "by",
        "closed_at",
        "created_at",
        "cycle",
        "deal",
        "exits",
        "shape",
        "stage_key",
        "start",
        "won",
    )

    def __init__(self, deal: DealSummary, convert: Convert) -> None:
        self.deal = deal
        self.won = deal.won
        self.amount = amount = _amount(deal, convert)
        self.stage_key = f"{deal.pipeline}/{deal.stage}"
        self.by = () if amount is None else _dim_keys(deal)
        self.closed_at = deal.closed_at
        self.created_at = deal.created_at
        self.cycle = (
            (deal.closed_at - deal.created_at) / DAY
            if deal.closed_at is not None and deal.created_at is not None
            else None
        )
        self.start = deal.created_at if deal.created_at is not None else deal.opened_at
        self.exits = [
            (left, f"{deal.pipeline}/{stage}", int(forward)) for stage, left, forward in deal.exits
        ]
        # all the figures read of the deal but its follow-up count
        self.shape = (
            self.closed_at,
            self.created_at,
            self.start,
            self.exits,
            self.won,
            amount,
            self.by,
            self.stage_key,
            deal.is_open,
        )


OpenFigures = tuple[int, float | None, dict[str, float], dict[str, list[float]], int]

_BY_DEAL_ORDER = itemgetter(1)
_MEMO_SIZE = 64


class DealIndex:
    """A rep's deals (one ``deals`` mapping, never changed) sorted by the moments windows
    select them by: closing, creation, stage exits, the start of being open.

    A window bisects these, so it reads only the deals it holds, and adds them up in the
    order of the mapping, as :func:`deal_window` does: the sums are the very same floats.
    The bisection points also say *which* deals a window holds, so a window holding the
    same deals as one asked before (the same window an hour later, mostly) is answered
    from a memo. Derived from the mapping alone; ``previous`` only lends the work done
    for summaries that are the same objects.
    """

    __slots__ = (
        "_memo",
        "_moments",
        "_open",
        "closed",
        "closed_times",
        "created_times",
        "exit_times",
        "exits",
        "open_closes",
        "open_starts",
        "rows",
    )
    rows: list[_DealRow]

    def __init__(
        self,
        deals: Mapping[str, DealSummary],
        convert: Convert,
        previous: DealIndex | None = None,
    ) -> None:
        known: dict[str, _DealRow] = (
            {row.deal.deal_id: row for row in previous.rows} if previous is not None else {}
        )
        rows: list[_DealRow] = []
        closed: list[tuple[float, int]] = []
        created: list[float] = []
        exits: list[tuple[float, int, str, int]] = []  # (left, order, stage key, forward)
        starts: list[float] = []
        closes: list[float] = []
        for pos, deal in enumerate(deals.values()):
            row = known.get(deal.deal_id)
            if row is None or row.deal is not deal:
                row = _DealRow(deal, convert)
            rows.append(row)
            if row.closed_at is not None:
                closed.append((row.closed_at, pos))
            if row.created_at is not None:
                created.append(row.created_at)
            if row.exits:
                n = len(exits)
                exits += [(left, n + j, key, fwd) for j, (left, key, fwd) in enumerate(row.exits)]
            if row.start is not None:
                starts.append(row.start)
                if row.closed_at is not None:
                    closes.append(row.closed_at)
        closed.sort()
        exits.sort()
        self.rows = rows
        self.closed = closed
        self.closed_times = [t for t, _ in closed]
        self.created_times = sorted(created)
        self.exits = exits
        self.exit_times = [e[0] for e in exits]
        self.open_starts = sorted(starts)
        self.open_closes = sorted(closes)
        self._open: OpenFigures | None = None
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._moments: list[float] | None = None

    def next_moment(self, at: float) -> float:
        """The first moment at or after ``at`` that any window over these deals selects
        by (creation, closing, a stage exit, the start of being open; inf: none): a
        window's deals change only as its edges pass such a moment."""
        if self._moments is None:
            self._moments = sorted(
                {
                    *self.created_times,
                    *self.closed_times,
                    *self.exit_times,
                    *self.open_starts,
                    *self.open_closes,
                }
            )
        i = bisect_left(self._moments, at)
        return self._moments[i] if i < len(self._moments) else math.inf

    def updated(self, deals: Mapping[str, DealSummary], convert: Convert) -> DealIndex:
        """The index of ``deals``, a newer version of this index's deals.

        When they differ only in what no window reads (follow-up counts and revisions:
        most new summaries are a deal's touches), it shares this index's sorted moments
        and memo and adds the follow-ups up anew; else it is built afresh.
        """
        rows = self.rows
        if len(deals) != len(rows):
            return DealIndex(deals, convert, self)
        changed: list[_DealRow] | None = None
        follow_ups = 0
        for pos, deal in enumerate(deals.values()):
            row = rows[pos]
            if deal is row.deal:
                continue
            new = _DealRow(deal, convert)
            if deal.deal_id != row.deal.deal_id or new.shape != row.shape:
                return DealIndex(deals, convert, self)
            if changed is None:
                changed = list(rows)
            changed[pos] = new
            if deal.is_open:
                follow_ups += deal.follow_ups - row.deal.follow_ups
        if changed is None:
            return self
        copy = object.__new__(DealIndex)
        for name in DealIndex.__slots__:
            setattr(copy, name, getattr(self, name))
        copy.rows = changed
        if self._open is not None:
            n, amount, open_by, by_stage, before = self._open
            copy._open = (n, amount, open_by, by_stage, before + follow_ups)
        return copy

    def _remember(self, key: tuple[Any, ...], value: Any) -> Any:
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = value
        return value

    def _closed_between(self, start: float, end: float) -> tuple[int, int]:
        times = self.closed_times
        return bisect_left(times, start), bisect_left(times, end)

    def _closed_rows(self, lo: int, hi: int) -> list[_DealRow]:
        """The deals closed in a slice of the closing order, in the mapping's order."""
        rows = self.rows
        return [rows[pos] for pos in sorted(pos for _, pos in self.closed[lo:hi])]

    def window(self, start: float, end: float) -> DealWindow:
        """:func:`deal_window` of the deals over ``[start, end)``."""
        c0, c1 = self._closed_between(start, end)
        created, exit_times = self.created_times, self.exit_times
        r0, r1 = bisect_left(created, start), bisect_left(created, end)
        x0, x1 = bisect_left(exit_times, start), bisect_left(exit_times, end)
        key = ("w", c0, c1, r0, r1, x0, x1)
        found = self._memo.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        out = DealWindow(created=r1 - r0)
        for _, _, stage_key, forward in sorted(self.exits[x0:x1], key=_BY_DEAL_ORDER):
            entry = out.exits.get(stage_key)
            if entry is None:
                entry = out.exits[stage_key] = [0, 0]
            entry[0] += 1
            entry[1] += forward
        by = out.won_amount_by
        for row in self._closed_rows(c0, c1):
            if not row.won:
                out.lost += 1
                continue
            out.won += 1
            amount = row.amount
            if amount is not None:
                out.won_amount += amount
                out.won_with_amount += 1
                for dim_value in row.by:
                    by[dim_value] = by.get(dim_value, 0.0) + amount
            if row.cycle is not None:
                out.cycle_days_sum += row.cycle
                out.cycle_count += 1
        return self._remember(key, out)  # type: ignore[no-any-return]

    def achieved(self, quota: QuotaEntry, as_of: float) -> float:
        """What the deals won in ``[period_start, as_of)`` add to a quota (as
        :func:`quota_progress` adds it up)."""
        c0, c1 = self._closed_between(quota.period_start, as_of)
        key = ("q", quota.metric == "deals", c0, c1)
        found = self._memo.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        achieved = 0.0
        for row in self._closed_rows(c0, c1):
            if row.won:
                if quota.metric == "deals":
                    achieved += 1
                else:
                    achieved += row.amount or 0.0
        return self._remember(key, achieved)  # type: ignore[no-any-return]

    def open_at(self, moment: float) -> int:
        """How many deals were open at ``moment`` (:meth:`DealSummary.open_at`)."""
        key = ("o", bisect_left(self.open_starts, moment), bisect_left(self.open_closes, moment))
        found = self._memo.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        return self._remember(  # type: ignore[no-any-return]
            key, sum(1 for row in self.rows if row.deal.open_at(moment))
        )

    def open_figures(self) -> OpenFigures:
        """Open deals now: count, amount, amount by dimension, by stage, follow-ups."""
        if self._open is None:
            open_by: dict[str, float] = {}
            by_stage: dict[str, list[float]] = {}
            known: list[float] = []
            n = follow_ups = 0
            for row in self.rows:
                if not row.deal.is_open:
                    continue
                n += 1
                follow_ups += row.deal.follow_ups
                entry = by_stage.setdefault(row.stage_key, [0, 0.0])
                entry[0] += 1
                amount = row.amount
                if amount is not None:
                    known.append(amount)
                    entry[1] += amount
                    for dim_value in row.by:
                        open_by[dim_value] = open_by.get(dim_value, 0.0) + amount
            self._open = (n, sum(known) if known else None, open_by, by_stage, follow_ups)
        return self._open


class LeadIndex:
    """A rep's leads (one ``leads`` mapping, never changed) sorted by creation, so the
    lead figures of a window read only its leads, and a window holding the same leads
    as one asked before is answered from a memo."""

    __slots__ = ("_memo", "converted_times", "created", "created_times", "moments")

    def __init__(self, leads: Mapping[str, LeadEntry]) -> None:
        created = sorted(
            ((lead.created_at, lead) for lead in leads.values() if lead.created_at is not None),
            key=itemgetter(0),
        )
        self.created = [lead for _, lead in created]
        self.created_times = [t for t, _ in created]
        self.converted_times = sorted(
            lead.converted_at for lead in self.created if lead.converted_at is not None
        )
        self._memo: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.moments = sorted({*self.created_times, *self.converted_times})

    def next_moment(self, at: float) -> float:
        """The first creation or conversion at or after ``at`` (inf: none)."""
        i = bisect_left(self.moments, at)
        return self.moments[i] if i < len(self.moments) else math.inf

    def _slice(self, start: float, end: float) -> tuple[int, int]:
        return bisect_left(self.created_times, start), bisect_left(self.created_times, end)

    def _remember(self, key: tuple[Any, ...], value: tuple[int, int]) -> tuple[int, int]:
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[key] = value
        return value

    def converted(self, start: float, end: float) -> tuple[int, int]:
        """Leads created in ``[start, end)``, and how many of them converted before ``end``."""
        lo, hi = self._slice(start, end)
        key = ("c", lo, hi, bisect_left(self.converted_times, end))
        found = self._memo.get(key)
        if found is not None:
            return found
        converted = sum(
            1
            for lead in self.created[lo:hi]
            if lead.converted_at is not None and lead.converted_at < end
        )
        return self._remember(key, (hi - lo, converted))

    def contacted(self, start: float, end: float, within: float) -> tuple[int, int]:
        """Leads created in ``[start, end)``, and how many had an outbound touch within
        ``within`` seconds of their creation."""
        lo, hi = self._slice(start, end)
        key = ("t", lo, hi, within)
        found = self._memo.get(key)
        if found is not None:
            return found
        worked = 0
        for lead in self.created[lo:hi]:
            touched, created = lead.first_touch_at, lead.created_at
            if touched is not None and created is not None and touched <= created + within:
                worked += 1
        return self._remember(key, (hi - lo, worked))


class Windows:
    """One rep's windows at one judgment, each computed once however often it is asked.

    Reads the rep's deals, leads and activity through indexes (:class:`DealIndex`,
    :class:`LeadIndex`, :class:`~.state.activity.TouchIndex`); given none, it builds them
    from ``state`` and ``days``. ``lo`` and ``hi`` narrow the days to those overlapping
    ``[lo, hi)``.
    """

    __slots__ = ("_memo", "convert", "deal_index", "hi", "lead_index", "lo", "state", "touch_index")

    def __init__(
        self,
        state: RepState,
        days: Iterable[ActivityDay],
        convert: Convert,
        *,
        deals: DealIndex | None = None,
        leads: LeadIndex | None = None,
        touches: TouchIndex | None = None,
        lo: float = -math.inf,
        hi: float = math.inf,
    ) -> None:
        self.state = state
        self.convert = convert
        self.deal_index = deals if deals is not None else DealIndex(state.deals, convert)
        self.lead_index = leads if leads is not None else LeadIndex(state.leads)
        self.touch_index = touches if touches is not None else TouchIndex(days)
        self.lo, self.hi = lo, hi
        self._memo: dict[tuple[str, float, float], Any] = {}

    def touches(self, start: float, end: float) -> Touches:
        key = ("t", start, end)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self.touch_index.between(start, end, self.lo, self.hi)
        return found  # type: ignore[no-any-return]

    def deals(self, start: float, end: float) -> DealWindow:
        key = ("d", start, end)
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = self.deal_index.window(start, end)
        return found  # type: ignore[no-any-return]

    def quota(self, as_of: float) -> QuotaProgress | None:
        key = ("q", as_of, as_of)
        if key not in self._memo:
            quota = current_quota(self.state, as_of)
            self._memo[key] = (
                None
                if quota is None
                else _progress(quota, self.deal_index.achieved(quota, as_of), as_of)
            )
        return self._memo[key]  # type: ignore[no-any-return]

    def open_deals_at(self, state: RepState, moment: float) -> int:
        """Deals of ``state`` open at ``moment``."""
        if state.deals is self.state.deals:
            return self.deal_index.open_at(moment)
        return sum(1 for d in state.deals.values() if d.open_at(moment))

    def leads_contacted(
        self, state: RepState, start: float, end: float, within: float
    ) -> tuple[int, int]:
        """Leads of ``state`` created in ``[start, end)``, and how many of them had an
        outbound touch within ``within`` seconds."""
        if state.leads is self.state.leads:
            return self.lead_index.contacted(start, end, within)
        return LeadIndex(state.leads).contacted(start, end, within)


@dataclass(slots=True)
class RepFigures:
    """Everything the contract's KPIs say about one rep at ``as_of``."""

    open_deals: int
    open_amount: float | None
    open_amount_by: dict[str, float]  # "dimension|value" -> amount
    open_by_stage: dict[str, list[float]]  # "pipeline/stage" -> [count, amount]
    win90: DealWindow
    touches7: Touches
    touches30: Touches
    follow_ups_open: int
    leads30: int
    leads30_converted: int
    quota: QuotaProgress | None
    won_last30: float
    won_prev30: float

    def kpis(self) -> dict[str, Any]:
        w = self.win90
        exits = {k: ratio(f, n) for k, (n, f) in sorted(w.exits.items())}
        return {
            "open_deals": self.open_deals,
            "open_amount": self.open_amount,
            "win_rate": ratio(w.won, w.closed),
            "won_amount": w.won_amount if w.won_with_amount else None,
            "deal_size_avg": ratio(w.won_amount, w.won_with_amount),
            "sales_cycle_days_avg": ratio(w.cycle_days_sum, w.cycle_count),
            "stage_conversion": exits,
            "quota_attainment": self.quota.attainment if self.quota else None,
            "quota_period_elapsed": self.quota.elapsed if self.quota else None,
            "contact_rate": ratio(self.touches7.conversations, self.touches7.outbound_attempts),
            "outbound_attempts": self.touches7.outbound_attempts,
            "follow_ups_per_deal_avg": ratio(self.follow_ups_open, self.open_deals),
            "lead_to_opportunity_ratio": ratio(self.leads30_converted, self.leads30),
            "email_open_rate": ratio(self.touches30.emails_opened, self.touches30.emails_sent),
        }


def rep_figures(windows: Windows, as_of: float) -> RepFigures:
    w = windows
    open_deals, open_amount, open_by, by_stage, follow_ups = w.deal_index.open_figures()
    leads30, converted = w.lead_index.converted(as_of - 30 * DAY, as_of)
    return RepFigures(
        open_deals=open_deals,
        open_amount=open_amount,
        open_amount_by=open_by,
        open_by_stage=by_stage,
        win90=w.deals(as_of - 90 * DAY, as_of),
        touches7=w.touches(as_of - 7 * DAY, as_of),
        touches30=w.touches(as_of - 30 * DAY, as_of),
        follow_ups_open=follow_ups,
        leads30=leads30,
        leads30_converted=converted,
        quota=w.quota(as_of),
        won_last30=w.deals(as_of - 30 * DAY, as_of).won_amount,
        won_prev30=w.deals(as_of - 60 * DAY, as_of - 30 * DAY).won_amount,
    )


@dataclass(slots=True)
class TeamSums:
    """Additive sums of one team's reps; add partitions' sums, then read figures off."""

    reps: int = 0
    reps_with_quota: int = 0
    reps_at_quota: int = 0
    open_deals: int = 0
    open_amount: float = 0.0
    open_with_amount: int = 0
    won: int = 0
    lost: int = 0
    won_amount: float = 0.0
    won_with_amount: int = 0
    cycle_days_sum: float = 0.0
    cycle_count: int = 0
    outbound_attempts: int = 0
    conversations: int = 0
    leads30: int = 0
    leads30_converted: int = 0
    won_last30: float = 0.0
    won_prev30: float = 0.0
    exits: dict[str, list[int]] = field(default_factory=dict)  # stage -> [left, forward]
    open_by_stage: dict[str, list[float]] = field(default_factory=dict)  # -> [count, amount]
    open_amount_by: dict[str, float] = field(default_factory=dict)  # "dim|value" -> amount
    won_amount_by: dict[str, float] = field(default_factory=dict)

    def add_rep(self, figures: RepFigures) -> None:
        w = figures.win90
        self.reps += 1
        if figures.quota is not None:
            self.reps_with_quota += 1
            if figures.quota.attainment >= figures.quota.elapsed:
                self.reps_at_quota += 1
        self.open_deals += figures.open_deals
        if figures.open_amount is not None:
            self.open_amount += figures.open_amount
            self.open_with_amount += 1
        self.won += w.won
        self.lost += w.lost
        self.won_amount += w.won_amount
        self.won_with_amount += w.won_with_amount
        self.cycle_days_sum += w.cycle_days_sum
        self.cycle_count += w.cycle_count
        self.outbound_attempts += figures.touches7.outbound_attempts
        self.conversations += figures.touches7.conversations
        self.leads30 += figures.leads30
        self.leads30_converted += figures.leads30_converted
        self.won_last30 += figures.won_last30
        self.won_prev30 += figures.won_prev30
        _add_pairs(self.exits, w.exits)
        _add_pairs(self.open_by_stage, figures.open_by_stage)
        _add_values(self.open_amount_by, figures.open_amount_by)
        _add_values(self.won_amount_by, w.won_amount_by)

    def add(self, other: TeamSums) -> None:
        for name in _NUMBERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in _PAIRS:
            _add_pairs(getattr(self, name), getattr(other, name))
        for name in _VALUES:
            _add_values(getattr(self, name), getattr(other, name))

    def to_wire(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> TeamSums:
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in names}
        for name in _PAIRS:
            values[name] = {k: list(v) for k, v in data.get(name, {}).items()}
        return cls(**values)

    def win_rate(self) -> float | None:
        return ratio(self.won, self.won + self.lost)

    def conversion(self, stage_key: str) -> float | None:
        n, fwd = self.exits.get(stage_key, (0, 0))
        return ratio(fwd, n)

    def kpis(self) -> dict[str, Any]:
        return {
            "open_deals": self.open_deals,
            "open_amount": self.open_amount if self.open_with_amount else None,
            "win_rate": self.win_rate(),
            "won_amount": self.won_amount if self.won_with_amount else None,
            "deal_size_avg": ratio(self.won_amount, self.won_with_amount),
            "sales_cycle_days_avg": ratio(self.cycle_days_sum, self.cycle_count),
            "stage_conversion": {k: ratio(f, n) for k, (n, f) in sorted(self.exits.items())},
            "reps_at_quota_ratio": ratio(self.reps_at_quota, self.reps_with_quota),
            "contact_rate": ratio(self.conversations, self.outbound_attempts),
            "outbound_attempts": self.outbound_attempts,
            "lead_to_opportunity_ratio": ratio(self.leads30_converted, self.leads30),
            "won_amount_growth_mom": (
                self.won_last30 / self.won_prev30 - 1 if self.won_prev30 else None
            ),
        }

    def baseline(self) -> TeamSums:
        """Only what rules compare a rep with (win rate, stage conversion): the sums one
        partition tells the others at each boundary."""
        return TeamSums(
            won=self.won, lost=self.lost, exits={k: list(v) for k, v in self.exits.items()}
        )


TeamRead = tuple[str, str]  # ("w", "") the win rate, ("c", stage key) a stage's conversion


class TeamReads:
    """A team's figures as one rep's judging reads them, recording every value read:
    the judging can only come out differently when one of those values changes."""

    __slots__ = ("read", "sums")

    def __init__(self, sums: TeamSums | None) -> None:
        self.sums = sums
        self.read: dict[TeamRead, float | None] = {}

    def win_rate(self) -> float | None:
        value = self.read[("w", "")] = self.sums.win_rate() if self.sums is not None else None
        return value

    def conversion(self, stage_key: str) -> float | None:
        sums = self.sums
        value = self.read[("c", stage_key)] = (
            sums.conversion(stage_key) if sums is not None else None
        )
        return value

    @staticmethod
    def changed(read: Mapping[TeamRead, float | None], sums: TeamSums | None) -> bool:
        """Whether any value in ``read`` is not what ``sums`` says now."""
        for (kind, key), value in read.items():
            if sums is None:
                now = None
            elif kind == "w":
                now = sums.win_rate()
            else:
                now = sums.conversion(key)
            if now != value:
                return True
        return False


_PAIRS = ("exits", "open_by_stage")
_VALUES = ("open_amount_by", "won_amount_by")
_NUMBERS = tuple(f.name for f in fields(TeamSums) if f.name not in _PAIRS + _VALUES)


def _add_pairs(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, (a, b) in source.items():
        entry = target.setdefault(key, [0, 0])
        entry[0] += a
        entry[1] += b


def _add_values(target: dict[str, float], source: Mapping[str, float]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0.0) + value
