"""What a backtest measures, per rule: pure functions of the alert messages a replay
emitted and the deal outcomes its events held.

Definitions (the README's backtest section says the same in words):

- a *firing* is one ``firing`` message (a new episode, or one re-sent when its
  severity changed): each reaches a person. Rates divide by the reps seen in
  the events and by the span of event time they cover; per manager, the
  firings that name a manager are divided by the managers of ``rep.upserted``;
- an *episode* is one ``alert_id``; it lasts from ``started_at`` to the
  ``resolved_at`` of its ``resolved`` message, or is still open when the events
  end. A *flap* is an episode that ended less than ``flap_seconds`` after it
  started. The flap share counts the episodes whose length is known to be
  below or above that: ended ones, and open ones already longer. With a
  rule's ``for``, ``started_at`` is when its condition began and the firing
  comes ``for`` later, so the *message-flap* share says the same from the first
  firing message on sales.alerts;
- what people are told is what counts as told: ``told`` gives, per episode,
  when a person first received a notification about it (at once, or when the
  digest holding it went out; :class:`streamer.notify.inbox.Inbox`). The
  *told episodes* are those; the *told-flap* share is the share of them over
  (at ``resolved_at``) less than ``flap_seconds`` after that first notification,
  judged as the flap share is (an episode told after it ended counts as a flap);
- for a deal rule, on the deals that closed in the events (the last
  ``deal.won`` or ``deal.lost`` of each): a deal is *alerted* when a firing
  about it was emitted before it closed, that is when a manager could still
  have acted. ``lift`` is P(lost | alerted) / P(lost): above 1 the alert points
  at deals at risk, at 1 it tells nothing. The lead time is the time from the
  first such firing to the close, over the alerted deals that were lost. The
  same by what people were told: a deal is *told* when a notification about one
  of the rule's episodes on it reached a person before it closed; ``told_lift``,
  the share of lost deals told (``lost_told_share``) and the median lead time
  from the first notification to the loss (``median_told_lead_days``).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from schemas import Alert

__all__ = [
    "DEAL_RULES",
    "AlertChange",
    "DealOutcome",
    "Episode",
    "Population",
    "RuleFigures",
    "episodes_of",
    "figures",
    "overall",
    "rule_figures",
    "weekly_firings",
]

DAY = 86_400.0
WEEK = 7 * DAY
_MONDAY = 4 * DAY  # 1970-01-05, the first Monday of the epoch

DEAL_RULES = frozenset({"deal_stalled", "follow_up_gap"})
"""The rules whose subject is a deal (contract section 3): they have outcomes to meet."""


@dataclass(frozen=True, slots=True)
class AlertChange:
    """The parts of an alert message (contract section 4) a backtest reads; times in epoch
    seconds."""

    rule: str
    alert_id: str
    status: str  # firing | resolved
    subject_kind: str
    subject_id: str
    manager_id: str | None
    started_at: float
    resolved_at: float | None
    emitted_at: float

    @classmethod
    def of(cls, alert: Alert) -> AlertChange:
        return cls(
            rule=alert.rule,
            alert_id=alert.alert_id,
            status=alert.status,
            subject_kind=alert.subject.kind,
            subject_id=alert.subject.id,
            manager_id=alert.manager_id,
            started_at=alert.started_at.timestamp(),
            resolved_at=alert.resolved_at.timestamp() if alert.resolved_at else None,
            emitted_at=alert.emitted_at.timestamp(),
        )


@dataclass(frozen=True, slots=True)
class DealOutcome:
    """How a deal ended in the events: lost or won, and when."""

    lost: bool
    closed_at: float


@dataclass(frozen=True, slots=True)
class Population:
    """Who and how long the events cover: the denominators of the rates."""

    start: float
    end: float
    reps: int
    managers: int

    @property
    def days(self) -> float:
        return max(self.end - self.start, 0.0) / DAY


@dataclass(frozen=True, slots=True)
class Episode:
    rule: str
    alert_id: str
    subject_kind: str
    subject_id: str
    started_at: float
    ended_at: float | None  # None: still open when the events end
    first_emitted: float  # when its first firing message was emitted

    @property
    def seconds(self) -> float | None:
        return None if self.ended_at is None else max(self.ended_at - self.started_at, 0.0)


@dataclass(frozen=True, slots=True)
class RuleFigures:
    """One rule's figures; the deal-outcome ones are None for rep rules and without data."""

    rule: str
    firings: int
    resolutions: int
    episodes: int
    firings_per_rep_week: float | None
    firings_per_manager_day: float | None
    flaps: int
    flap_share: float | None
    median_episode_days: float | None
    message_flap_share: float | None = None
    told_episodes: int | None = None
    told_flap_share: float | None = None
    deal_rule: bool = False
    closed_deals: int | None = None
    alerted_closed_deals: int | None = None
    lost_deals: int | None = None
    lost_alerted: int | None = None
    lost_rate: float | None = None
    lost_rate_alerted: float | None = None
    lost_rate_not_alerted: float | None = None
    lift: float | None = None
    lost_alerted_share: float | None = None
    median_lead_days: float | None = None
    told_lift: float | None = None
    lost_told_share: float | None = None
    median_told_lead_days: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: _rounded(v) for k, v in asdict(self).items()}


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def episodes_of(changes: Iterable[AlertChange]) -> list[Episode]:
    """The episodes the messages describe, in the order they first fired."""
    found: dict[str, Episode] = {}
    for c in changes:
        known = found.get(c.alert_id)
        if known is None:
            known = Episode(
                c.rule, c.alert_id, c.subject_kind, c.subject_id, c.started_at, None, c.emitted_at
            )
        if c.status == "resolved":
            ended = c.resolved_at if c.resolved_at is not None else c.emitted_at
            known = Episode(
                known.rule,
                known.alert_id,
                known.subject_kind,
                known.subject_id,
                known.started_at,
                ended,
                min(known.first_emitted, c.emitted_at),
            )
        found[c.alert_id] = known
    return list(found.values())


def _per(count: int, units: int, span: float) -> float | None:
    return count / units / span if units > 0 and span > 0 else None


def _flap_share(
    ends: Sequence[tuple[float, float | None]], population: Population, flap_seconds: float
) -> float | None:
    """The share of (from, ended_at) spans shorter than ``flap_seconds``, over the spans
    whose length is known to be below or above it (ended ones, and open ones longer)."""
    ended = [end - start for start, end in ends if end is not None]
    judged = len(ended) + sum(
        1 for start, end in ends if end is None and population.end - start >= flap_seconds
    )
    return _ratio(sum(1 for t in ended if t < flap_seconds), judged)


def rule_figures(
    rule: str,
    changes: Sequence[AlertChange],
    outcomes: Mapping[str, DealOutcome],
    population: Population,
    flap_seconds: float,
    deal_rule: bool | None = None,
    told: Mapping[str, float] | None = None,
) -> RuleFigures:
    """The figures of one rule from its alert messages and, when ``told`` is given, from
    when a person first heard of each episode (``alert_id`` -> epoch seconds; see the
    module docstring). Without ``told`` the figures of what people were told are None."""
    mine = [c for c in changes if c.rule == rule]
    firings = [c for c in mine if c.status == "firing"]
    episodes = episodes_of(mine)
    lengths = [s for e in episodes if (s := e.seconds) is not None]
    flaps = sum(1 for s in lengths if s < flap_seconds)
    judged = len(lengths) + sum(
        1 for e in episodes if e.ended_at is None and population.end - e.started_at >= flap_seconds
    )
    median = _median(lengths)
    heard = [(told[e.alert_id], e.ended_at) for e in episodes if told and e.alert_id in told]
    base = RuleFigures(
        rule=rule,
        firings=len(firings),
        resolutions=len(mine) - len(firings),
        episodes=len(episodes),
        firings_per_rep_week=_per(len(firings), population.reps, population.days / 7),
        firings_per_manager_day=_per(
            sum(1 for c in firings if c.manager_id), population.managers, population.days
        ),
        flaps=flaps,
        flap_share=_ratio(flaps, judged),
        median_episode_days=None if median is None else median / DAY,
        message_flap_share=_flap_share(
            [(e.first_emitted, e.ended_at) for e in episodes], population, flap_seconds
        ),
        told_episodes=None if told is None else len(heard),
        told_flap_share=None if told is None else _flap_share(heard, population, flap_seconds),
    )
    if not (rule in DEAL_RULES if deal_rule is None else deal_rule):
        return base
    with_outcomes = _with_outcomes(base, firings, outcomes)
    if told is None:
        return with_outcomes
    first_told: dict[str, float] = {}
    for e in episodes:
        if e.subject_kind == "deal" and e.alert_id in told:
            at = told[e.alert_id]
            first_told[e.subject_id] = min(first_told.get(e.subject_id, math.inf), at)
    told_figures = _outcome_figures(first_told, outcomes)
    return replace(
        with_outcomes,
        told_lift=told_figures["lift"],
        lost_told_share=told_figures["lost_alerted_share"],
        median_told_lead_days=told_figures["median_lead_days"],
    )


def _with_outcomes(
    base: RuleFigures, firings: Sequence[AlertChange], outcomes: Mapping[str, DealOutcome]
) -> RuleFigures:
    first: dict[str, float] = {}
    for c in firings:
        if c.subject_kind == "deal":
            first[c.subject_id] = min(first.get(c.subject_id, math.inf), c.emitted_at)
    return RuleFigures(**{**asdict(base), "deal_rule": True, **_outcome_figures(first, outcomes)})


def _outcome_figures(
    first: Mapping[str, float], outcomes: Mapping[str, DealOutcome]
) -> dict[str, Any]:
    """The deal-outcome figures when each deal was first alerted at ``first[deal]``."""
    closed = len(outcomes)
    lost = sum(1 for o in outcomes.values() if o.lost)
    alerted = {
        deal: outcome
        for deal, outcome in outcomes.items()
        if first.get(deal, math.inf) < outcome.closed_at
    }
    lost_alerted = [deal for deal, o in alerted.items() if o.lost]
    lost_rate = _ratio(lost, closed)
    lost_rate_alerted = _ratio(len(lost_alerted), len(alerted))
    leads = [(alerted[d].closed_at - first[d]) / DAY for d in lost_alerted]
    return {
        "closed_deals": closed,
        "alerted_closed_deals": len(alerted),
        "lost_deals": lost,
        "lost_alerted": len(lost_alerted),
        "lost_rate": lost_rate,
        "lost_rate_alerted": lost_rate_alerted,
        "lost_rate_not_alerted": _ratio(lost - len(lost_alerted), closed - len(alerted)),
        "lift": (
            lost_rate_alerted / lost_rate if lost_rate and lost_rate_alerted is not None else None
        ),
        "lost_alerted_share": _ratio(len(lost_alerted), lost),
        "median_lead_days": _median(leads),
    }


def figures(
    rules: Sequence[str],
    changes: Sequence[AlertChange],
    outcomes: Mapping[str, DealOutcome],
    population: Population,
    flap_seconds: float,
    told: Mapping[str, float] | None = None,
) -> dict[str, RuleFigures]:
    """:func:`rule_figures` for every rule named (in that order) and any other that fired."""
    by_rule: dict[str, list[AlertChange]] = defaultdict(list)
    for c in changes:
        by_rule[c.rule].append(c)
    names = list(rules) + sorted(set(by_rule) - set(rules))
    return {
        name: rule_figures(
            name, by_rule.get(name, []), outcomes, population, flap_seconds, told=told
        )
        for name in names
    }


def overall(
    changes: Sequence[AlertChange],
    population: Population,
    flap_seconds: float,
    told: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """All rules together, as a manager's inbox sees them, and the busiest manager."""
    together = [
        AlertChange(
            "all",
            f"{c.rule}|{c.alert_id}",
            c.status,
            c.subject_kind,
            c.subject_id,
            c.manager_id,
            c.started_at,
            c.resolved_at,
            c.emitted_at,
        )
        for c in changes
    ]
    told_all = (
        None
        if told is None
        else {f"{c.rule}|{c.alert_id}": told[c.alert_id] for c in changes if c.alert_id in told}
    )
    total = rule_figures(
        "all", together, {}, population, flap_seconds, deal_rule=False, told=told_all
    )
    per_manager = Counter(c.manager_id for c in changes if c.status == "firing" and c.manager_id)
    busiest = max(per_manager.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    return {
        **total.to_json(),
        "busiest_manager": busiest[0] if busiest else None,
        "busiest_manager_firings_per_day": _rounded(
            _per(busiest[1], 1, population.days) if busiest else None
        ),
    }


def _week(t: float) -> int:
    return math.floor((t - _MONDAY) / WEEK)


def weekly_firings(
    rules: Sequence[str], changes: Sequence[AlertChange], population: Population
) -> tuple[list[float], dict[str, list[int]]]:
    """Firings per rule in each week (Monday 00:00 UTC on) the events cover, by emission.

    Returns the weeks' starts (epoch seconds) and per rule one count per week.
    """
    first, last = _week(population.start), _week(population.end)
    weeks = [_MONDAY + w * WEEK for w in range(first, last + 1)]
    counts = {rule: [0] * len(weeks) for rule in rules}
    for c in changes:
        if c.status != "firing":
            continue
        row = counts.setdefault(c.rule, [0] * len(weeks))
        i = min(max(_week(c.emitted_at) - first, 0), len(weeks) - 1)
        row[i] += 1
    return weeks, counts
