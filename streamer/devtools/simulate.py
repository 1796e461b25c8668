"""A realistic, deterministic stream of CRM events for a sales team.

:func:`generate` is a pure, lazy generator: from a :class:`SimConfig` (seed,
start, length, team size, ...) it yields :class:`SimEvent` items, in
non-decreasing ``occurred_at`` order, whose values are contract events
(section 2 of the wire contract) as JSON-ready dicts. No Kafka, no wall clock:
the same config always gives the same events, ids included.

What it simulates, per rep (figures drawn from :mod:`streamer.devtools.simdata`):

- ``rep.upserted`` for every rep at the start, ``quota.set`` (revenue) for the
  current quarter at the start and for each next quarter a week ahead;
- leads assigned on working days (``lead.created``), worked with outbound
  touches, some converted (``lead.converted`` with the new ``deal.created``);
- deals that move through the pipeline stages and close won or lost after an
  engage-to-close time drawn from the dataset, split over the stages with
  random weights, touched every few days, occasionally updated; a share of
  them stall (no event at all for 4-7x the usual time of their stage);
- cold outbound touches (calls, emails, social) in the rep's business hours;
- underperformers: from a slump day on, an *idle* rep works less and leaves
  leads untouched, an *ineffective* rep keeps the volume but rarely gets a
  conversation and wins less.

Sinks: :func:`write_jsonl` (a replay file, one event per line) and
:func:`produce` (Kafka, with a compressed clock). :func:`add_arguments` and
:func:`run` are the ``salespulse simulate`` command.

Where the numbers come from. Every constant below is marked with its source:
*[dataset]* derived from the public CRM sample dataset (:mod:`streamer.devtools.simdata`),
*[seed]* a fact of the seed material a rule rests on (the wire contract, section
3), *[assumption]* chosen for the simulator and found in neither. A figure that
``salespulse backtest`` shows on simulated data and that follows from an
assumption is a property of the simulator, not of the rules:

- Stage durations: each deal's engage-to-close time is drawn from the dataset's
  quantiles for its outcome [dataset] (won: 52 days on average, lost: 42). The
  four stages and the share of that time each gets (:data:`STAGE_PACE`; for a won
  deal 9.1, 13.0, 18.2 and 11.7 days on average) are [assumption]: the dataset
  knows only the engage and the close.
- Stalls: ``stall_fraction`` (8%) of deals fall silent in one stage for 4-7x its
  expected time (:data:`STALL_FACTOR`) [assumption], drawn independently of
  the outcome. On simulated data a stall cannot foretell a loss (only a longer
  life, and won deals live longer), so ``deal_stalled``'s lift there says
  nothing about real teams.
- Follow-ups: an open deal is touched every :data:`DEAL_TOUCH_GAP_DAYS` (3)
  days on average, with exponential gaps, and every touch after the first is a
  follow-up, until the deal closes [assumption]. The seed facts behind
  ``follow_up_gap`` ("80% of sales need five follow-ups; 48% of reps stop after
  one") are not simulated: no rep stops following up, and how often a deal is
  touched does not depend on its outcome. The rule's simulated firings come
  from gaps over 7 days (about e^(-7/3), 10% of all gaps), from stalls (no touch
  while stalled) and from idle reps in a slump; its simulated lift is about 1
  by construction.
- Outcomes: won or lost with the rep's win rate, drawn around the dataset's
  63.15% with the dataset's spread between agents [dataset]; an ineffective rep
  in a slump wins :data:`SLUMP_WIN` as often [assumption]; a lost deal is lost in
  a later stage the longer it lived [assumption]; loss reasons [assumption].
- Contact rates: ~4.5% of cold calls connect [assumption], above the seed's "32
  conversations per 1,000 outbound calls" (``low_contact_rate``'s threshold
  [seed]). Cold touches alone give a rep 3.9% (calls and emails; social replies
  are no conversations), warm touches and meetings lift it to 9-10% in the
  default run [assumption], so only an ineffective rep in a slump
  (x :data:`SLUMP_CONTACT`) falls below the threshold.
- Volumes: new deals per rep and week (4.46) [dataset]; leads at that rate over
  ``lead_conversion`` (35%) [assumption]; 35 cold touches a working day
  [assumption].
- Products, list prices and negotiated amounts [dataset]; quotas are the
  expected revenue (dataset deal rate x the rep's win rate x the dataset's mean
  won amount) times :data:`QUOTA_STRETCH` [assumption].
- The warm start [assumption]: the deals open at the start appear in their
  current stage at the start, without their past. Until five stays of a stage
  have ended, ``deal_stalled`` judges them by its 14-day default, so many of
  them fire together four weeks in; deals that are stalled at the start go
  quiet at once, so ``follow_up_gap`` fires for them in the second week. Both
  bursts are artefacts of the start, visible in the backtest's weekly chart.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import heapq
import itertools
import json
import math
import random
import re
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from streamer.devtools.simdata import (
    CALIBRATION,
    ROSTER,
    Calibration,
    Product,
    RosterEntry,
    quantile_mean,
    quantile_sample,
)

if TYPE_CHECKING:
    from streamer.settings import Settings

__all__ = [
    "ROLES",
    "SimConfig",
    "SimEvent",
    "add_arguments",
    "generate",
    "produce",
    "run",
    "write_jsonl",
]

ROLES: Final = ("activities", "deals", "quotas", "org")
"""Topic roles of :class:`SimEvent`; each names a field of ``Settings.topics``."""

DAY: Final = 86_400
HOUR: Final = 3_600

# --- Assumptions (not in the dataset) -------------------------------------
# Source of each figure: see "Where the numbers come from" in the module docstring.
# Offices of sales_teams.csv [dataset] -> team ids and time zones [assumption].
# Business hours use the standard-time offset (no DST): close enough for touch times.
OFFICES: Final = {
    "Central": ("central", "America/Chicago", -6 * HOUR),
    "East": ("east", "America/New_York", -5 * HOUR),
    "West": ("west", "America/Los_Angeles", -8 * HOUR),
}
WORK_START, WORK_END = 8 * HOUR, 18 * HOUR  # local business hours [assumption]
# Relative pace of the default stages (share of the engage-to-close time) [assumption]:
# the dataset has one span per deal, engage to close [dataset], which these split.
STAGE_PACE: Final = (0.7, 1.0, 1.4, 0.9)
# silence of a stall, x the stage's expected time [assumption]; well over deal_stalled's
# factor 2 [seed: "a deal 30 days in a 14-day stage is unlikely to close"], so a stall is seen
STALL_FACTOR: Final = (4.0, 7.0)
DEAL_TOUCH_GAP_DAYS: Final = 3.0  # mean days between touches of an open deal [assumption]
LEAD_TOUCH_GAP_DAYS: Final = 2.0  # [assumption]
LEAD_FIRST_TOUCH_HOURS: Final = 4.0  # mean delay of a first touch on a new lead [assumption]
IDLE_LEADS_IGNORED: Final = 0.5  # leads a slumping idle rep never touches [assumption]
MEETING_SHARE: Final = 0.5  # stages past the first that see a meeting [assumption]
UPDATE_SHARE: Final = 0.25  # deals that get one deal.updated [assumption]
INBOUND_SHARE: Final = 0.08  # deal touches started by the customer [assumption]
QUOTA_STRETCH: Final = (0.95, 1.2)  # quota over expected revenue [assumption]
# underperformer multipliers of activity, contact rate and win rate [assumption]
SLUMP_ACTIVITY, SLUMP_CONTACT, SLUMP_WIN = 0.25, 0.2, 0.55
SOURCE_CHANNELS: Final = (  # [assumption]: the dataset has no lead sources
    ("outbound", 0.35), ("ads", 0.2), ("referral", 0.15), ("event", 0.1),
    ("website", 0.15), ("partner", 0.05),
)  # fmt: skip
LOSS_REASONS: Final = (  # [assumption]: the dataset has no loss reasons
    ("price", 0.25), ("competitor", 0.25), ("no_budget", 0.15), ("timing", 0.15),
    ("no_decision", 0.1), ("no_response", 0.1),
)  # fmt: skip
# Outcome tables [assumption]: the first entry is the conversation (or positive)
# outcome, which contact multipliers scale. Cold: ~4.5% of cold calls connect, above
# the 32 conversations per 1,000 outbound calls of low_contact_rate [seed].
COLD_CALL: Final = (("connected", 0.045), ("no_answer", 0.45), ("voicemail", 0.4), ("busy", 0.105))
WARM_CALL: Final = (("connected", 0.2), ("no_answer", 0.35), ("voicemail", 0.4), ("busy", 0.05))
COLD_EMAIL: Final = (("replied", 0.04), ("sent", 0.62), ("opened", 0.28), ("bounced", 0.06))
WARM_EMAIL: Final = (("replied", 0.12), ("sent", 0.4), ("opened", 0.46), ("bounced", 0.02))
SOCIAL: Final = (("replied", 0.1), ("sent", 0.9))
SMS: Final = (("replied", 0.3), ("sent", 0.7))
MEETING: Final = (("held", 0.8), ("no_show", 0.1), ("cancelled", 0.1))
COLD_CHANNELS: Final = (("call", 0.6), ("email", 0.3), ("social", 0.1))
WARM_CHANNELS: Final = (("call", 0.4), ("email", 0.5), ("sms", 0.06), ("social", 0.04))

Fields = dict[str, Any]
Outcomes = tuple[tuple[str, float], ...]


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event to write: topic role (see :data:`ROLES`), message key and JSON-ready value.

    The key is ``rep_id`` for activities, quotas and org; for deals it is the
    ``deal_id``, or the ``lead_id`` of a ``lead.created`` (which has no deal yet).
    """

    topic: str
    key: str
    value: Fields


@dataclass(frozen=True)
class SimConfig:
    """What to simulate. Defaults give 12 reps in 3 teams over 90 days.

    ``days=None`` runs without end (for a paced live stream); ``stages`` are
    the open stages in order, after which deals close ``won`` or ``lost``.
    Rates are per rep; ``lead_conversion`` is the share of worked leads that
    become deals, so leads arrive at ``deals_per_rep_week / lead_conversion``.
    """

    seed: int = 0
    start: datetime = datetime(2026, 1, 5, tzinfo=UTC)
    days: float | None = 90.0
    reps: int = 12  # in the dataset's 3 offices, named after its agents [dataset]
    stages: tuple[str, ...] = ("prospecting", "qualification", "proposal", "negotiation")
    deals_per_rep_week: float = CALIBRATION.deals_per_rep_week  # 4.46 [dataset]
    win_rate: float = CALIBRATION.win_rate  # 0.6315 [dataset]
    stall_fraction: float = 0.08  # independent of the outcome [assumption]
    underperformer_fraction: float = 0.15  # [assumption]
    lead_conversion: float = 0.35  # [assumption]
    cold_touches_per_day: float = 35.0  # [assumption]
    warm_start: bool = True  # open deals at the start, without their past [assumption]
    pipeline: str = "default"
    currency: str = "USD"
    source: str = "simulator"
    calibration: Calibration = field(default=CALIBRATION, repr=False)

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.start.utcoffset() is None:
            raise ValueError("SimConfig.start must be timezone-aware")
        if self.days is not None and self.days <= 0:
            raise ValueError(f"SimConfig.days must be > 0 or None, got {self.days}")
        if self.reps < 1:
            raise ValueError(f"SimConfig.reps must be >= 1, got {self.reps}")
        if not self.stages or len(set(self.stages)) != len(self.stages):
            raise ValueError("SimConfig.stages must be non-empty and unique")
        if {"won", "lost"} & set(self.stages):
            raise ValueError("SimConfig.stages are open stages; won and lost are added")
        for name in ("win_rate", "stall_fraction", "underperformer_fraction", "lead_conversion"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"SimConfig.{name} must be within [0, 1]")
        if self.deals_per_rep_week < 0 or self.cold_touches_per_day < 0:
            raise ValueError("SimConfig rates must be >= 0")


def generate(config: SimConfig) -> Iterator[SimEvent]:
    """Yield the simulated events lazily, in non-decreasing ``occurred_at`` order.

    Deterministic: the same config gives the same events and event ids. Memory
    stays bounded by the open deals and leads, however long the run.
    """
    for _, event in _Simulation(config).run():
        yield event


# --- time helpers ----------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _date_prefix(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * DAY))


def _rfc3339(t: int) -> str:
    """``t`` (epoch seconds) as ``YYYY-MM-DDTHH:MM:SSZ``."""
    day, sod = divmod(t, DAY)
    hours, rest = divmod(sod, HOUR)
    return f"{_date_prefix(day)}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def _iso_date(t: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(t))


def _is_workday(local_day: int) -> bool:
    return (local_day + 3) % 7 < 5  # day 0 (1970-01-01) was a Thursday


def _business_time(t: int, offset: int) -> int:
    """``t`` if within local business hours, else a time early in the next working window.

    Off-hours times are mapped proportionally into the first two hours of the
    next window, so evening and weekend work lands spread over Monday morning
    instead of all at 08:00.
    """
    local = t + offset
    day, sod = divmod(local, DAY)
    if _is_workday(day) and WORK_START <= sod < WORK_END:
        return t
    nxt = day if (_is_workday(day) and sod < WORK_START) else day + 1
    while not _is_workday(nxt):
        nxt += 1
    prev = day if (_is_workday(day) and sod >= WORK_END) else day - 1
    while not _is_workday(prev):
        prev -= 1
    gap_start, gap_end = prev * DAY + WORK_END, nxt * DAY + WORK_START
    spread = (local - gap_start) * 2 * HOUR // max(gap_end - gap_start, 1)
    return gap_end + spread - offset


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def _next_quarter(d: date) -> date:
    q = _quarter_start(d)
    return date(q.year + 1, 1, 1) if q.month == 10 else date(q.year, q.month + 3, 1)


def _epoch(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


# --- random helpers --------------------------------------------------------


def _choice(rng: random.Random, table: Outcomes) -> str:
    u = rng.random() * sum(w for _, w in table)
    for name, weight in table:
        u -= weight
        if u < 0:
            return name
    return table[-1][0]


def _outcome(rng: random.Random, table: Outcomes, factor: float) -> str:
    """Draw from ``table`` with the first (positive) outcome's probability x ``factor``."""
    first, p = table[0]
    p *= factor
    u = rng.random()
    if u < p:
        return first
    return _choice(rng, table[1:])


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, prod = math.exp(-lam), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# --- reps ------------------------------------------------------------------


@dataclass(slots=True)
class _Rep:
    """A simulated rep: identity, skill, slump and a private random stream."""

    num: int
    rep_id: str
    name: str
    team_id: str
    manager_id: str
    timezone: str
    offset: int
    win_rate: float
    slump: str | None  # None, "idle" or "ineffective"
    slump_at: int
    rng: random.Random
    deals: int = 0
    leads: int = 0

    def slumped(self, t: int, kind: str) -> bool:
        return self.slump == kind and t >= self.slump_at

    def activity(self, t: int) -> float:
        return SLUMP_ACTIVITY if self.slumped(t, "idle") else 1.0

    def contact(self, t: int) -> float:
        return SLUMP_CONTACT if self.slumped(t, "ineffective") else 1.0

    def win_probability(self, t: int) -> float:
        return self.win_rate * (SLUMP_WIN if self.slumped(t, "ineffective") else 1.0)

    def profile(self) -> Fields:
        first, _, last = self.name.partition(" ")
        return {
            "rep_id": self.rep_id,
            "name": self.name,
            "team_id": self.team_id,
            "manager_id": self.manager_id,
            "email": f"{_slug(first)}.{_slug(last) or 'rep'}@example.com",
            "timezone": self.timezone,
        }


def _roster(count: int) -> list[RosterEntry]:
    """The first ``count`` agents, offices interleaved, then synthetic agents."""
    by_office = {office: [r for r in ROSTER if r.office == office] for office in OFFICES}
    interleaved = [
        r for group in itertools.zip_longest(*by_office.values()) for r in group if r is not None
    ]
    offices = list(OFFICES)
    for i in range(len(interleaved), count):
        office = offices[i % len(offices)]
        managers = sorted({r.manager for r in by_office[office]})
        interleaved.append(RosterEntry(f"Rep {i + 1}", managers[i % len(managers)], office))
    return interleaved[:count]


def _make_reps(config: SimConfig, start: int, end: int | None) -> list[_Rep]:
    rng = random.Random(f"{config.seed}:org")
    width = max(2, len(str(config.reps)))
    entries = _roster(config.reps)
    slumping = set(
        rng.sample(range(config.reps), round(config.reps * config.underperformer_fraction))
    )
    kinds = itertools.cycle(("idle", "ineffective"))
    reps = []
    for i, entry in enumerate(entries):
        team_id, tz, offset = OFFICES[entry.office]
        rep_id = f"rep-{i + 1:0{width}d}"
        skill = rng.gauss(config.win_rate, config.calibration.rep_win_rate_sd)
        reps.append(
            _Rep(
                num=i + 1,
                rep_id=rep_id,
                name=entry.name,
                team_id=team_id,
                manager_id=f"mgr-{_slug(entry.manager)}",
                timezone=tz,
                offset=offset,
                win_rate=min(max(skill, 0.05), 0.95),
                slump=next(kinds) if i in slumping else None,
                slump_at=_slump_at(rng, start, end),
                rng=random.Random(f"{config.seed}:{rep_id}"),
            )
        )
    return reps


def _slump_at(rng: random.Random, start: int, end: int | None) -> int:
    """When an underperformer's slump starts: after 4-5 weeks of normal work if there is room."""
    days = (end - start) / DAY if end is not None else 120.0
    day = 28 + rng.uniform(0, 7) if days >= 56 else days * rng.uniform(0.3, 0.5)
    return start + int(day * DAY)


# --- the simulation --------------------------------------------------------

# Heap entries: (time, seq, topic, key, event_type, fields); an action has
# topic None and the callable as key. seq is unique, so ties never compare further.
_Entry = tuple[int, int, str | None, Any, str, Fields | None]
_Planned = tuple[int, str, Fields]  # time, event_type, fields


class _Simulation:
    """Discrete-event simulation over a heap; see :func:`generate` for the contract."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.cal = config.calibration
        self.start = int(config.start.timestamp())
        self.end = None if config.days is None else self.start + int(config.days * DAY)
        tag = hashlib.sha256(repr(config).encode()).hexdigest()[:10]
        self.id_prefix = f"sim-{tag}-"
        self.heap: list[_Entry] = []
        self.seq = itertools.count()
        self.ids = itertools.count(1)
        self.reps = _make_reps(config, self.start, self.end)
        self.products = tuple((p, p.share) for p in self.cal.products)
        pace = [STAGE_PACE[i] if i < len(STAGE_PACE) else 1.0 for i in range(len(config.stages))]
        self.pace = tuple(pace)
        self.stage_days = tuple(self.cal.won_days_mean * p / sum(pace) for p in pace)
        mean_price = sum(p.price * p.share for p in self.cal.products) / sum(
            p.share for p in self.cal.products
        )
        self.mean_won = mean_price * quantile_mean(self.cal.price_ratio)

    # heap -------------------------------------------------------------
    def push(self, t: int, topic: str, key: str, event_type: str, fields: Fields) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), topic, key, event_type, fields))

    def later(self, t: int, action: Callable[[int], None]) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), None, action, "", None))

    def run(self) -> Iterator[tuple[int, SimEvent]]:
        """Yield ``(epoch seconds, event)`` in time order until the end (if any)."""
        self._setup()
        heap, end, source = self.heap, self.end, self.config.source
        while heap:
            t, _, topic, key, event_type, fields = heapq.heappop(heap)
            if end is not None and t >= end:
                return
            if topic is None:
                key(t)
                continue
            value = {
                "event_id": f"{self.id_prefix}{next(self.ids)}",
                "event_type": event_type,
                "occurred_at": _rfc3339(t),
                "source": source,
                "schema_version": 1,
            }
            value.update(fields or {})
            yield t, SimEvent(topic, key, value)

    def _setup(self) -> None:
        for rep in self.reps:
            self.push(self.start, "org", rep.rep_id, "rep.upserted", rep.profile())
        for rep in self.reps:
            self._quota(rep, self.start, _quarter_start(_day_of(self.start)))
        for rep in self.reps:  # deferred, so the first events come out at once
            self.later(self.start, functools.partial(self._open_rep, rep))
        self.later(
            max(self.start, _epoch(_next_quarter(_day_of(self.start))) - 7 * DAY), self._quarter
        )

    def _open_rep(self, rep: _Rep, now: int) -> None:
        if self.config.warm_start:
            self._warm_pipeline(rep)
        self._schedule_day(rep, now)

    # quotas -----------------------------------------------------------
    def _quota(self, rep: _Rep, t: int, period: date) -> None:
        expected = self.config.deals_per_rep_week * 13 * rep.win_rate * self.mean_won
        target = round(expected * rep.rng.uniform(*QUOTA_STRETCH), -3) or 1000.0
        fields = {
            "rep_id": rep.rep_id,
            "period_start": period.isoformat(),
            "period_end": _next_quarter(period).isoformat(),
            "target": float(target),
            "metric": "revenue",
            "currency": self.config.currency,
        }
        self.push(t, "quotas", rep.rep_id, "quota.set", fields)

    def _quarter(self, t: int) -> None:
        period = _next_quarter(_day_of(t))
        for rep in self.reps:
            self._quota(rep, t, period)
        self.later(_epoch(_next_quarter(period)) - 7 * DAY, self._quarter)

    # working days: leads and cold outbound ------------------------------
    def _schedule_day(self, rep: _Rep, now: int) -> None:
        local_day = (now + rep.offset) // DAY
        self.later(now, lambda t: self._work_day(rep, t, local_day))

    def _work_day(self, rep: _Rep, now: int, local_day: int) -> None:
        nxt = (local_day + 1) * DAY - rep.offset
        self.later(nxt, lambda t: self._work_day(rep, t, local_day + 1))
        if not _is_workday(local_day):
            return
        rng, opens = rep.rng, local_day * DAY + WORK_START - rep.offset
        leads_per_day = self.config.deals_per_rep_week / max(self.config.lead_conversion, 0.01) / 5
        for _ in range(_poisson(rng, leads_per_day)):
            t = opens + rng.randrange(WORK_END - WORK_START)
            if t >= now:
                self._new_lead(rep, t)
        touches = _poisson(rng, self.config.cold_touches_per_day * rep.activity(opens))
        for t in sorted(opens + rng.randrange(WORK_END - WORK_START) for _ in range(touches)):
            if t >= now:
                self._touch(rep, t, COLD_CHANNELS, warm=False)

    def _touch(self, rep: _Rep, t: int, channels: Outcomes, *, warm: bool, **ids: Any) -> None:
        self.push(
            t,
            "activities",
            rep.rep_id,
            "activity.logged",
            self._activity(rep, t, channels, warm, ids),
        )

    def _activity(self, rep: _Rep, t: int, channels: Outcomes, warm: bool, ids: Fields) -> Fields:
        rng = rep.rng
        channel = _choice(rng, channels)
        direction = "outbound"
        if warm and channel in ("call", "email") and rng.random() < INBOUND_SHARE * rep.contact(t):
            direction = "inbound"
            outcome = "connected" if channel == "call" else "replied"
        else:
            outcome = _outcome(rng, _table(channel, warm), rep.contact(t))
        fields: Fields = {
            "rep_id": rep.rep_id,
            "team_id": rep.team_id,
            "channel": channel,
            "direction": direction,
            "outcome": outcome,
            "follow_up": bool(ids.pop("follow_up", False)),
        }
        fields.update(ids)
        if outcome == "connected":
            fields["duration_s"] = int(min(max(rng.lognormvariate(math.log(240), 0.7), 20), 3600))
        return fields

    # leads ------------------------------------------------------------
    def _new_lead(self, rep: _Rep, t: int) -> None:
        rng = rep.rng
        rep.leads += 1
        lead_id = f"lead-{rep.num}-{rep.leads}"
        channel = _choice(rng, SOURCE_CHANNELS)
        fields = {"lead_id": lead_id, "rep_id": rep.rep_id, "team_id": rep.team_id}
        self.push(t, "deals", lead_id, "lead.created", {**fields, "source_channel": channel})
        idle = rep.slumped(t, "idle")
        if idle and rng.random() < IDLE_LEADS_IGNORED:
            return
        prompt = rng.expovariate(1 / (LEAD_FIRST_TOUCH_HOURS * HOUR))
        first = rng.uniform(1.5, 6) * DAY if idle else prompt
        converts = rng.random() < self.config.lead_conversion * (0.5 if idle else 1.0)
        count = rng.randint(2, 6)
        when = t + int(first)
        for n in range(count if not converts else 50):
            when = _business_time(when, rep.offset)
            if converts and n >= 1 and rng.random() < 0.35:
                break
            self._touch(rep, when, COLD_CHANNELS, warm=False, lead_id=lead_id, follow_up=n > 0)
            when += int(rng.expovariate(1 / (LEAD_TOUCH_GAP_DAYS * DAY)))
        if converts:
            self.later(when, lambda at: self._convert(rep, at, lead_id, channel))

    def _convert(self, rep: _Rep, t: int, lead_id: str, channel: str) -> None:
        deal_id = self._deal_id(rep)
        plan = self._plan_deal(rep, t, deal_id, channel)
        fields = {"lead_id": lead_id, "rep_id": rep.rep_id, "team_id": rep.team_id}
        self._push_plan(rep, deal_id, plan[:1])
        converted = {**fields, "source_channel": channel, "deal_id": deal_id}
        self.push(plan[0][0], "deals", deal_id, "lead.converted", converted)
        self._push_plan(rep, deal_id, plan[1:])

    # deals ------------------------------------------------------------
    def _deal_id(self, rep: _Rep) -> str:
        rep.deals += 1
        return f"deal-{rep.num}-{rep.deals}"

    def _warm_pipeline(self, rep: _Rep) -> None:
        """Open deals at the start, as a steady flow of past deals would have left them."""
        horizon = int((self.cal.won_days[-1] + max(self.stage_days) * STALL_FACTOR[1]) * DAY)
        rate = self.config.deals_per_rep_week / 7 / DAY
        t = self.start - horizon
        while rate > 0:
            t += int(rep.rng.expovariate(rate)) + 1
            if t >= self.start:
                return
            deal_id = self._deal_id(rep)
            plan = self._plan_deal(rep, t, deal_id, _choice(rep.rng, SOURCE_CHANNELS))
            self._push_plan(rep, deal_id, _clip(plan, self.start))

    def _push_plan(self, rep: _Rep, deal_id: str, plan: list[_Planned]) -> None:
        for t, event_type, fields in plan:
            topic, key = (
                ("deals", deal_id) if event_type.startswith("deal.") else ("activities", rep.rep_id)
            )
            self.push(t, topic, key, event_type, fields)

    def _plan_deal(self, rep: _Rep, t0: int, deal_id: str, channel: str) -> list[_Planned]:
        """Every event of one deal's life from ``t0``, in order, in business hours."""
        rng, cal, stages = rep.rng, self.cal, self.config.stages
        product = _product(rng, self.products)
        won = rng.random() < rep.win_probability(t0)
        days = quantile_sample(cal.won_days if won else cal.lost_days, rng.random()) + rng.random()
        last = len(stages) - 1 if won else self._loss_stage(rng, days)
        spans = _split(rng, days * DAY, self.pace[: last + 1])
        stall = rng.randrange(last + 1) if rng.random() < self.config.stall_fraction else -1
        update = rng.randrange(last + 1) if rng.random() < UPDATE_SHARE else -1
        estimate = quantile_sample(cal.won_days, rng.random())
        state: Fields = {
            "deal_id": deal_id,
            "rep_id": rep.rep_id,
            "team_id": rep.team_id,
            "pipeline": self.config.pipeline,
            "stage": stages[0],
            "amount": float(round(product.price * quantile_sample(cal.price_ratio, rng.random()))),
            "currency": self.config.currency,
            "source_channel": channel,
            "product": product.name,
            "expected_close": _iso_date(t0 + int(estimate * DAY)),
        }
        plan: list[_Planned] = [(t0, "deal.created", dict(state))]
        touches = itertools.count()
        t = t0
        for i in range(last + 1):
            end = t + int(spans[i])
            plan += self._stage_life(rep, t, end, i, i == update, state, deal_id, touches)
            if i == stall:
                end += int(self.stage_days[i] * rng.uniform(*STALL_FACTOR) * DAY)
            plan.append(
                self._leave_stage(rng, end, i, won and i == last, i == last, i == stall, state)
            )
            t = end
        return _in_business_hours(plan, rep.offset)

    def _loss_stage(self, rng: random.Random, days: float) -> int:
        """The stage a lost deal is lost in: later the longer it lived."""
        per_stage = self.cal.won_days_mean / len(self.config.stages)
        return min(len(self.config.stages) - 1, int(days / per_stage * rng.uniform(0.6, 1.4)))

    def _stage_life(
        self,
        rep: _Rep,
        t: int,
        end: int,
        index: int,
        update: bool,
        state: Fields,
        deal_id: str,
        touches: Iterator[int],
    ) -> list[_Planned]:
        """Touches, a meeting (past the first stage) and maybe an update within ``[t, end)``."""
        rng = rep.rng
        moments: list[tuple[int, str]] = []
        gap = DEAL_TOUCH_GAP_DAYS * DAY / rep.activity(t)
        when = t + int(rng.expovariate(1 / gap))
        while when < end:
            moments.append((when, "touch"))
            when += int(rng.expovariate(1 / gap))
        if index > 0 and end > t and rng.random() < MEETING_SHARE:
            moments.append((rng.randrange(t, end), "meeting"))
        if update and end > t:
            moments.append((rng.randrange(t, end), "update"))
        moments.sort()
        out: list[_Planned] = []
        for when, kind in moments:
            if kind == "update":
                out.append((when, "deal.updated", _update(rng, state)))
                continue
            channels = (("meeting", 1.0),) if kind == "meeting" else WARM_CHANNELS
            ids = {"deal_id": deal_id, "follow_up": next(touches) > 0}
            out.append((when, "activity.logged", self._activity(rep, when, channels, True, ids)))
        return out

    def _leave_stage(
        self,
        rng: random.Random,
        t: int,
        index: int,
        won: bool,
        closing: bool,
        stalled: bool,
        state: Fields,
    ) -> _Planned:
        stages = self.config.stages
        if won:
            state["stage"] = "won"
            return (t, "deal.won", dict(state))
        if closing:
            state["stage"] = "lost"
            reason = "no_decision" if stalled else _choice(rng, LOSS_REASONS)
            return (t, "deal.lost", {**state, "reason": reason})
        state["stage"] = stages[index + 1]
        return (t, "deal.stage_changed", {**state, "from_stage": stages[index]})


def _day_of(t: int) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def _table(channel: str, warm: bool) -> Outcomes:
    if channel == "call":
        return WARM_CALL if warm else COLD_CALL
    if channel == "email":
        return WARM_EMAIL if warm else COLD_EMAIL
    return {"meeting": MEETING, "sms": SMS}.get(channel, SOCIAL)


def _product(rng: random.Random, products: tuple[tuple[Product, float], ...]) -> Product:
    u = rng.random() * sum(w for _, w in products)
    for product, weight in products:
        u -= weight
        if u < 0:
            return product
    return products[-1][0]


def _split(rng: random.Random, total: float, pace: tuple[float, ...]) -> list[float]:
    """``total`` split over stages with random weights around each stage's pace."""
    weights = [rng.gammavariate(2.0 * p, 1.0) for p in pace]
    scale = total / (sum(weights) or 1.0)
    return [w * scale for w in weights]


def _update(rng: random.Random, state: Fields) -> Fields:
    """A ``deal.updated``: the amount renegotiated or the expected close pushed out."""
    if rng.random() < 0.5:
        state["amount"] = float(round(state["amount"] * rng.uniform(0.8, 1.2)))
    else:
        pushed = date.fromisoformat(state["expected_close"]) + timedelta(days=rng.randint(7, 30))
        state["expected_close"] = pushed.isoformat()
    return dict(state)


def _in_business_hours(plan: list[_Planned], offset: int) -> list[_Planned]:
    """Move each time into business hours, keeping the plan's order."""
    out, floor = [], plan[0][0]
    for t, event_type, fields in plan:
        floor = max(floor, _business_time(t, offset))
        out.append((floor, event_type, fields))
    return out


def _clip(plan: list[_Planned], start: int) -> list[_Planned]:
    """The part of a deal's plan from ``start`` on, opened by a ``deal.created`` as of then."""
    later = [p for p in plan if p[0] >= start]
    if not later or later[0][1] == "deal.created":
        return later
    state: Fields = {}
    for t, event_type, fields in plan:
        if t >= start:
            break
        if event_type.startswith("deal."):
            state = fields
    created = {k: v for k, v in state.items() if k not in ("from_stage", "reason")}
    return [(start, "deal.created", created), *later]


# --- sinks -----------------------------------------------------------------


def _dumps(value: Fields) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class _Progress:
    """Prints a progress line on stderr at most every ``every`` seconds, and a summary."""

    def __init__(self, what: str, every: float = 2.0) -> None:
        self.what, self.every = what, every
        self.began = self.last = time.monotonic()
        self.by_role: Counter[str] = Counter()

    def tick(self, count: int, t: int) -> None:
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            rate = count / max(now - self.began, 1e-9)
            print(
                f"{self.what}: {count:,} events, at {_rfc3339(t)}, {rate:,.0f}/s", file=sys.stderr
            )

    def done(self, count: int) -> None:
        took = time.monotonic() - self.began
        roles = ", ".join(f"{role} {n:,}" for role, n in sorted(self.by_role.items()))
        rate = count / max(took, 1e-9)
        print(
            f"{self.what}: {count:,} events in {took:.1f}s ({rate:,.0f}/s): {roles}",
            file=sys.stderr,
        )


def write_jsonl(config: SimConfig, path: str | Path, *, limit: int | None = None) -> int:
    """Write the events of ``config`` to ``path``, one compact JSON value per line.

    At most ``limit`` events (all if None; an endless config needs a limit).
    Streams in constant memory, with progress on stderr. Returns the count.
    """
    if config.days is None and limit is None:
        raise ValueError("an endless simulation (days=None) needs a limit")
    progress, count = _Progress(f"simulate -> {path}"), 0
    with Path(path).open("w", encoding="utf-8") as out:
        for t, event in itertools.islice(_Simulation(config).run(), limit):
            out.write(_dumps(event.value))
            out.write("\n")
            count += 1
            progress.by_role[event.topic] += 1
            if not count & 0xFFF:
                progress.tick(count, t)
    progress.done(count)
    return count


async def produce(
    settings: Settings,
    config: SimConfig,
    *,
    speed: float | None,
    backfill_days: float = 0,
    limit: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Write the events of ``config`` to Kafka; return how many were written.

    Missing topics are created first (``kafka_admin.ensure_topics``). Key = the
    event's key, value = compact JSON, topic = ``settings.topics.<role>``.
    Events before ``config.start + backfill_days`` are history, written as
    fast as possible; later ones are paced so that ``speed`` simulated seconds
    pass per real second, counted from when producing begins (None: no
    pacing). With ``config.start`` set ``backfill_days`` before now and speed
    1, events reach Kafka about when they occur. Stops at the end of the
    simulation, after ``limit`` events, or when ``stop`` is set; everything
    handed to the producer is delivered (or raises) before returning.
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0 or None, got {speed}")
    from aiokafka import AIOKafkaProducer

    from streamer.kafka_admin import client_options, ensure_topics

    await ensure_topics(settings)
    names = {role: getattr(settings.topics, role) for role in ROLES}
    live_from = int(config.start.timestamp() + backfill_days * DAY)
    producer = AIOKafkaProducer(**client_options(settings), linger_ms=20, acks="all")
    await producer.start()
    loop = asyncio.get_running_loop()
    anchor, progress, count = loop.time(), _Progress("simulate -> kafka", every=5.0), 0
    pending: list[asyncio.Future[Any]] = []
    try:
        for t, event in itertools.islice(_Simulation(config).run(), limit):
            if speed is not None and t > live_from:
                delay = anchor + (t - live_from) / speed - loop.time()
                if delay > 0:
                    await _settle(pending)
                    if await _wait(stop, delay):
                        break
            if stop is not None and stop.is_set():
                break
            pending.append(
                await producer.send(
                    names[event.topic],
                    value=_dumps(event.value).encode(),
                    key=event.key.encode(),
                )
            )
            count += 1
            progress.by_role[event.topic] += 1
            if len(pending) >= 10_000:
                await _settle(pending)
            progress.tick(count, t)
        await _settle(pending)
    finally:
        await producer.stop()
    progress.done(count)
    return count


async def _settle(pending: list[asyncio.Future[Any]]) -> None:
    """Wait for the deliveries so far (raising the first failure), and forget them."""
    if pending:
        await asyncio.gather(*pending)
        pending.clear()


async def _wait(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleep ``seconds``, or less if ``stop`` is set; return whether it is set."""
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


# --- CLI -------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``salespulse simulate``."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--reps", type=int, default=12, help="sales reps, in 3 teams (default 12)")
    parser.add_argument(
        "--days",
        type=float,
        default=None,
        help="simulated days (default: 90 for a file or an unpaced run, "
        "endless when paced with --speed)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=None,
        help="simulated seconds per real second after the backfill (default: as fast as possible)",
    )
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=0.0,
        help="start this many days before now and write them as history first (Kafka only)",
    )
    parser.add_argument(
        "--start",
        type=_aware_datetime,
        default=None,
        help="simulated start, RFC 3339 (default: now minus --backfill-days for Kafka, "
        "2026-01-05T00:00:00Z for --out)",
    )
    parser.add_argument("--limit", type=int, default=None, help="stop after this many events")
    parser.add_argument(
        "--out", type=Path, default=None, metavar="FILE.jsonl", help="write a file instead of Kafka"
    )


def _aware_datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset")
    return value


def config_from_args(args: argparse.Namespace, *, now: datetime | None = None) -> SimConfig:
    """The :class:`SimConfig` the ``simulate`` options describe (see :func:`add_arguments`)."""
    to_file = args.out is not None
    start = args.start
    if start is None:
        if to_file:
            start = SimConfig.start
        else:
            now = now or datetime.now(UTC)
            start = (now - timedelta(days=args.backfill_days)).replace(second=0, microsecond=0)
    days = args.days
    if days is None:
        if to_file:
            days = None if args.limit is not None else SimConfig.days
        elif args.speed is not None:
            days = None  # a paced live stream runs until stopped
        else:
            days = args.backfill_days or SimConfig.days
    return SimConfig(seed=args.seed, start=start, days=days, reps=args.reps)


def run(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``salespulse simulate``; return the exit code."""
    config = config_from_args(args)
    if args.out is not None:
        write_jsonl(config, args.out, limit=args.limit)
        return 0
    return asyncio.run(_produce_until_signal(settings, config, args))


async def _produce_until_signal(
    settings: Settings, config: SimConfig, args: argparse.Namespace
) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await produce(
        settings,
        config,
        speed=args.speed,
        backfill_days=args.backfill_days,
        limit=args.limit,
        stop=stop,
    )
    return 0
