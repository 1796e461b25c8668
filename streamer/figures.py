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

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .state.activity import ActivityDay, Touches, touches_between
from .state.rep import DealSummary, QuotaEntry, RepState
from .timeutil import DAY

__all__ = [
    "Convert",
    "DealWindow",
    "QuotaProgress",
    "RepFigures",
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
    won_amount_by: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def closed(self) -> int:
        return self.won + self.lost


def _amount(deal: DealSummary, convert: Convert) -> float | None:
    return None if deal.amount is None else convert(deal.amount, deal.currency)


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
            for dim, value in (("source_channel", deal.source_channel), ("product", deal.product)):
                if value is not None:
                    key = (dim, value)
                    out.won_amount_by[key] = out.won_amount_by.get(key, 0.0) + amount
        if deal.created_at is not None:
            out.cycle_days_sum += (deal.closed_at - deal.created_at) / DAY
            out.cycle_count += 1
    return out


@dataclass(frozen=True, slots=True)
class QuotaProgress:
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
    elapsed = (as_of - quota.period_start) / (quota.period_end - quota.period_start)
    return QuotaProgress(quota, achieved, achieved / quota.target, elapsed)


class Windows:
    """One rep's windows at one judgment, each computed once however often it is asked."""

    __slots__ = ("_memo", "convert", "days", "state")

    def __init__(self, state: RepState, days: Iterable[ActivityDay], convert: Convert) -> None:
        self.state = state
        self.days = list(days)
        self.convert = convert
        self._memo: dict[tuple[str, float, float], Any] = {}

    def touches(self, start: float, end: float) -> Touches:
        key = ("t", start, end)
        if key not in self._memo:
            self._memo[key] = touches_between(self.days, start, end)
        return self._memo[key]  # type: ignore[no-any-return]

    def deals(self, start: float, end: float) -> DealWindow:
        key = ("d", start, end)
        if key not in self._memo:
            self._memo[key] = deal_window(self.state.deals.values(), start, end, self.convert)
        return self._memo[key]  # type: ignore[no-any-return]

    def quota(self, as_of: float) -> QuotaProgress | None:
        key = ("q", as_of, as_of)
        if key not in self._memo:
            self._memo[key] = quota_progress(self.state, as_of, self.convert)
        return self._memo[key]  # type: ignore[no-any-return]


@dataclass(slots=True)
class RepFigures:
    """Everything the contract's KPIs say about one rep at ``as_of``."""

    open_deals: int
    open_amount: float | None
    open_amount_by: dict[tuple[str, str], float]
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
    state, convert, w = windows.state, windows.convert, windows
    open_deals = [d for d in state.deals.values() if d.is_open]
    amounts = [(d, _amount(d, convert)) for d in open_deals]
    open_by: dict[tuple[str, str], float] = {}
    by_stage: dict[str, list[float]] = {}
    for deal, amount in amounts:
        entry = by_stage.setdefault(f"{deal.pipeline}/{deal.stage}", [0, 0.0])
        entry[0] += 1
        if amount is not None:
            entry[1] += amount
            for dim, value in (("source_channel", deal.source_channel), ("product", deal.product)):
                if value is not None:
                    open_by[(dim, value)] = open_by.get((dim, value), 0.0) + amount
    known = [a for _, a in amounts if a is not None]
    leads = [
        lead
        for lead in state.leads.values()
        if lead.created_at is not None and as_of - 30 * DAY <= lead.created_at < as_of
    ]
    converted = [
        lead for lead in leads if lead.converted_at is not None and lead.converted_at < as_of
    ]
    return RepFigures(
        open_deals=len(open_deals),
        open_amount=sum(known) if known else None,
        open_amount_by=open_by,
        open_by_stage=by_stage,
        win90=w.deals(as_of - 90 * DAY, as_of),
        touches7=w.touches(as_of - 7 * DAY, as_of),
        touches30=w.touches(as_of - 30 * DAY, as_of),
        follow_ups_open=sum(d.follow_ups for d in open_deals),
        leads30=len(leads),
        leads30_converted=len(converted),
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
        _add_values(
            self.open_amount_by, {f"{d}|{v}": a for (d, v), a in figures.open_amount_by.items()}
        )
        _add_values(self.won_amount_by, {f"{d}|{v}": a for (d, v), a in w.won_amount_by.items()})

    def add(self, other: TeamSums) -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if f.name in _PAIRS:
                _add_pairs(mine, theirs)
            elif isinstance(mine, dict):
                _add_values(mine, theirs)
            else:
                setattr(self, f.name, mine + theirs)

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


_PAIRS = ("exits", "open_by_stage")


def _add_pairs(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, (a, b) in source.items():
        entry = target.setdefault(key, [0, 0])
        entry[0] += a
        entry[1] += b


def _add_values(target: dict[str, float], source: Mapping[str, float]) -> None:
    for key, value in source.items():
        target[key] = target.get(key, 0.0) + value
