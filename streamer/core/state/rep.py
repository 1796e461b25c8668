"""Per-rep state: the rep's deals (as summaries from the deal side), quotas, leads.

Like the deal state, every part is a join that order and repetition cannot
change: deal summaries are last-revision-wins per deal, quotas newest
``occurred_at`` wins per period, a lead's first outbound touch is a minimum.
Activity counts live in day buckets of their own (:mod:`.activity`); the rep
state only remembers which days it has buckets for, so old ones can be
deleted without a scan.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from types import EllipsisType
from typing import Any

from schemas import LeadConverted, LeadCreated, QuotaSet

from ..timeutil import UTC_TZ, to_epoch
from .codec import compact_json, parsed
from .deal import _ATTRIBUTES as _DEAL_ATTRIBUTES
from .deal import CLOSED_STAGES, DealState
from .frozen import fast_init

__all__ = [
    "DealSummary",
    "LeadEntry",
    "QuotaEntry",
    "RepEpisode",
    "RepState",
    "apply_lead",
    "apply_quota",
    "apply_summary",
    "decode_rep",
    "encode_rep",
    "note_bucket_day",
    "note_lead_touch",
    "summarize",
    "summary_changed",
]


@fast_init
@dataclass(frozen=True, slots=True)
class DealSummary:
    """What the rep side needs to know of one deal, sent by the deal side on every change."""

    deal_id: str
    rep_id: str | None
    team_id: str | None
    pipeline: str
    stage: str | None
    is_open: bool
    amount: float | None
    currency: str | None
    source_channel: str | None
    product: str | None
    created_at: float | None
    closed_at: float | None
    exits: tuple[tuple[str, float, bool], ...]
    follow_ups: int
    revision: int
    opened_at: float | None = None  # the deal's first known moment (created or first move)
    _row: list[Any] | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def won(self) -> bool:
        return self.stage == "won"

    def open_at(self, moment: float) -> bool:
        """Whether the deal was open at ``moment`` (from its own timestamps, so the answer
        does not depend on what has been processed since)."""
        start = self.created_at if self.created_at is not None else self.opened_at
        if start is None or start >= moment:
            return False
        return self.closed_at is None or self.closed_at >= moment

    def to_dict(self) -> dict[str, Any]:
        return {
            "deal_id": self.deal_id,
            "rep_id": self.rep_id,
            "team_id": self.team_id,
            "pipeline": self.pipeline,
            "stage": self.stage,
            "is_open": self.is_open,
            "amount": self.amount,
            "currency": self.currency,
            "source_channel": self.source_channel,
            "product": self.product,
            "created_at": self.created_at,
            "closed_at": self.closed_at,
            "exits": [list(e) for e in self.exits],
            "follow_ups": self.follow_ups,
            "revision": self.revision,
            "opened_at": self.opened_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealSummary:
        values = dict(data)
        values["exits"] = tuple((s, t, bool(f)) for s, t, f in data["exits"])
        return cls(**values)

    def to_row(self) -> list[Any]:
        """The summary as a JSON array of its fields in :data:`SUMMARY_FIELDS` order: how
        a rep state stores its deals, without repeating sixteen keys per deal.

        Made once per summary (a rep state is re-encoded far more often than any one of
        its deals changes); callers must not change the list.
        """
        row = self._row
        if row is None:
            row = [getattr(self, name) for name in SUMMARY_FIELDS]
            row[_EXITS] = [list(e) for e in self.exits]
            object.__setattr__(self, "_row", row)
        return row

    @classmethod
    def from_row(cls, row: list[Any]) -> DealSummary:
        """The inverse of :meth:`to_row`."""
        values = list(row)
        values[_EXITS] = tuple((s, t, bool(f)) for s, t, f in row[_EXITS])
        return cls(*values)


SUMMARY_FIELDS: tuple[str, ...] = tuple(
    name for name in DealSummary.__dataclass_fields__ if not name.startswith("_")
)
"""The order of a summary's fields in :meth:`DealSummary.to_row`."""
_EXITS = SUMMARY_FIELDS.index("exits")


def _summary_from_wire(data: Mapping[str, Any] | list[Any]) -> DealSummary:
    # rep states written before rows were introduced hold each deal as an object
    return DealSummary.from_row(data) if isinstance(data, list) else DealSummary.from_dict(data)


def summarize(deal: DealState) -> DealSummary:
    """What the rep side needs of the deal (the stays are walked once for all of it)."""
    attributes = deal.attributes

    def value(name: str, default: Any = None) -> Any:
        entry = attributes.get(name)
        return default if entry is None else entry[0]

    marks = deal.marks
    runs = deal._runs()  # (stage, entered) of each stay, oldest first
    stage = runs[-1][0] if runs else None
    is_open = bool(runs) and stage not in CLOSED_STAGES
    return DealSummary(
        deal.deal_id,
        value("rep_id"),
        value("team_id"),
        value("pipeline", "default"),
        stage,
        is_open,
        value("amount"),
        value("currency"),
        value("source_channel"),
        value("product"),
        deal.created_at,
        runs[-1][1] if runs and not is_open else None,  # closed_at: entered the last stay
        tuple(
            (stay, runs[i + 1][1], runs[i + 1][0] != "lost")
            for i, (stay, _) in enumerate(runs[:-1])
            if stay not in CLOSED_STAGES
        ),
        sum(1 for touch in deal.touches if touch.follow_up),
        deal.revision,
        marks[0].at if marks else None,
    )


def summary_changed(old: DealState, deal: DealState) -> bool:
    """Whether ``deal`` summarises differently from ``old`` (apart from the revision).

    The rep side keeps the newest summary of each deal; one that differs only in its
    revision (a touch that is no follow-up, a change of a field the rep side does not
    read, an episode of a deal rule) would change nothing it computes, so the deal side
    need not send it.
    """
    if (deal.marks is not old.marks and deal.marks != old.marks) or (
        deal.created_at != old.created_at
    ):
        return True
    if deal.attributes is not old.attributes:
        new_attributes, old_attributes = deal.attributes, old.attributes
        for name in _SUMMARY_ATTRIBUTES:
            a, b = new_attributes.get(name), old_attributes.get(name)
            if (a is None) != (b is None) or (a is not None and a[0] != b[0]):  # type: ignore[index]
                return True
    return deal.touches is not old.touches and deal.follow_ups != old.follow_ups


# the registers summarize reads: all of a deal's but these two
_SUMMARY_ATTRIBUTES = tuple(a for a in _DEAL_ATTRIBUTES if a not in ("expected_close", "reason"))


@dataclass(frozen=True, slots=True)
class QuotaEntry:
    period_start: float
    period_end: float
    target: float
    metric: str
    currency: str | None
    at: float
    event_id: str


@fast_init
@dataclass(frozen=True, slots=True)
class LeadEntry:
    lead_id: str
    created_at: float | None = None
    converted_at: float | None = None
    first_touch_at: float | None = None


@dataclass(frozen=True, slots=True)
class RepEpisode:
    """An open alert of a rep rule; ``false_since``: the first boundary its condition no
    longer held at, while the rule's ``keep_firing_for`` keeps it firing (None: it holds)."""

    alert_id: str
    started_at: float
    severity: str
    false_since: float | None = None


@fast_init
@dataclass(frozen=True, slots=True)
class RepState:
    rep_id: str
    partition: int
    team_id: tuple[str, float, str] | None = None  # from the rep's own events, newest wins
    deals: Mapping[str, DealSummary] = field(default_factory=dict)
    quotas: Mapping[str, QuotaEntry] = field(default_factory=dict)
    leads: Mapping[str, LeadEntry] = field(default_factory=dict)
    bucket_days: tuple[float, ...] = ()
    first_seen: float | None = None
    episodes: Mapping[str, RepEpisode] = field(default_factory=dict)
    # deals handed to another rep -> the revision that handed them over: an older
    # revision of the deal seen afterwards (out of order) must not bring it back
    released: Mapping[str, int] = field(default_factory=dict)
    # rule -> the first boundary of the run of boundaries its condition has held at, while
    # that run is shorter than the rule's ``for`` (no alert yet)
    pending: Mapping[str, float] = field(default_factory=dict)

    def event_team(self) -> str | None:
        return self.team_id[0] if self.team_id else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "r": self.rep_id,
            "p": self.partition,
            "t": list(self.team_id) if self.team_id else None,
            "d": {k: v.to_row() for k, v in self.deals.items()},
            "q": {
                k: [q.period_start, q.period_end, q.target, q.metric, q.currency, q.at, q.event_id]
                for k, q in self.quotas.items()
            },
            "l": {
                k: [v.created_at, v.converted_at, v.first_touch_at] for k, v in self.leads.items()
            },
            "b": list(self.bucket_days),
            "f": self.first_seen,
            "e": {k: _episode_row(e) for k, e in self.episodes.items()},
            **({"x": dict(self.released)} if self.released else {}),
            **({"w": dict(self.pending)} if self.pending else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepState:
        team = data.get("t")
        return cls(
            rep_id=data["r"],
            partition=data["p"],
            team_id=(team[0], team[1], team[2]) if team else None,
            deals={k: _summary_from_wire(v) for k, v in data["d"].items()},
            quotas={k: QuotaEntry(*v) for k, v in data["q"].items()},
            leads={k: LeadEntry(k, *v) for k, v in data["l"].items()},
            bucket_days=tuple(data["b"]),
            first_seen=data.get("f"),
            episodes={k: RepEpisode(*v) for k, v in data["e"].items()},
            released={k: int(v) for k, v in data.get("x", {}).items()},
            pending={k: float(v) for k, v in data.get("w", {}).items()},
        )


def encode_rep(state: RepState) -> bytes:
    """The rep state as a table value: :meth:`RepState.to_dict` as compact JSON (an object, so
    values of any version say what they hold)."""
    return compact_json(state.to_dict())


def decode_rep(raw: bytes | str | Mapping[str, Any]) -> RepState:
    """The inverse of :func:`encode_rep`; also takes the value already parsed."""
    return RepState.from_dict(parsed(raw))


def _episode_row(episode: RepEpisode) -> list[Any]:
    row: list[Any] = [episode.alert_id, episode.started_at, episode.severity]
    if episode.false_since is not None:  # states written before keep_firing_for have three
        row.append(episode.false_since)
    return row


def _with(
    state: RepState,
    *,
    team_id: tuple[str, float, str] | None | EllipsisType = ...,
    deals: Mapping[str, DealSummary] | EllipsisType = ...,
    quotas: Mapping[str, QuotaEntry] | EllipsisType = ...,
    leads: Mapping[str, LeadEntry] | EllipsisType = ...,
    bucket_days: tuple[float, ...] | EllipsisType = ...,
    first_seen: float | None | EllipsisType = ...,
    released: Mapping[str, int] | EllipsisType = ...,
) -> RepState:
    """``dataclasses.replace`` for the fields events change, without its introspection
    (it runs for nearly every event)."""
    return RepState(
        state.rep_id,
        state.partition,
        state.team_id if team_id is ... else team_id,  # type: ignore[arg-type]
        state.deals if deals is ... else deals,  # type: ignore[arg-type]
        state.quotas if quotas is ... else quotas,  # type: ignore[arg-type]
        state.leads if leads is ... else leads,  # type: ignore[arg-type]
        state.bucket_days if bucket_days is ... else bucket_days,  # type: ignore[arg-type]
        state.first_seen if first_seen is ... else first_seen,  # type: ignore[arg-type]
        state.episodes,
        state.released if released is ... else released,  # type: ignore[arg-type]
        state.pending,
    )


def _new(state: RepState | None, rep_id: str, partition: int) -> RepState:
    return state if state is not None else RepState(rep_id=rep_id, partition=partition)


def _seen(state: RepState, at: float, team_id: str | None, event_id: str) -> RepState:
    first = at if state.first_seen is None else min(state.first_seen, at)
    team = state.team_id
    if team_id and (team is None or (team[1], team[2]) < (at, event_id)):
        team = (team_id, at, event_id)
    if first == state.first_seen and team == state.team_id:
        return state
    return _with(state, first_seen=first, team_id=team)


def apply_summary(
    state: RepState | None, rep_id: str, summary: DealSummary, partition: int
) -> tuple[RepState, bool]:
    """Keep the newest revision of the deal for this rep (dropping it when it changed
    owner). A revision no newer than one already seen changes nothing, also after the
    deal was handed over (the hand-over is remembered), so any order of delivery gives
    the state of the newest revision."""
    state = _new(state, rep_id, partition)
    deal_id = summary.deal_id
    current = state.deals.get(deal_id)
    if current is not None and current.revision >= summary.revision:
        return state, False
    handed = state.released.get(deal_id)
    if handed is not None and handed >= summary.revision:
        return state, False
    deals = dict(state.deals)
    released = state.released
    if summary.rep_id == rep_id:
        deals[deal_id] = summary
        if handed is not None:
            released = {k: v for k, v in released.items() if k != deal_id}
    else:
        deals.pop(deal_id, None)
        released = {**released, deal_id: summary.revision}
        if current is None:
            return _with(state, released=released), True
    if summary.created_at is not None:
        state = _seen(state, summary.created_at, summary.team_id, f"deal:{deal_id}")
    return _with(state, deals=deals, released=released), True


def apply_quota(state: RepState | None, event: QuotaSet, partition: int) -> tuple[RepState, bool]:
    state = _new(state, event.rep_id, partition)
    at = to_epoch(event.occurred_at)
    key = event.period_start.isoformat()
    current = state.quotas.get(key)
    if current is not None and (current.at, current.event_id) >= (at, event.event_id):
        return state, False
    entry = QuotaEntry(
        period_start=_midnight(event.period_start),
        period_end=_midnight(event.period_end),
        target=event.target,
        metric=event.metric,
        currency=event.currency,
        at=at,
        event_id=event.event_id,
    )
    return _with(state, quotas={**state.quotas, key: entry}), True


def apply_lead(
    state: RepState | None, event: LeadCreated | LeadConverted, partition: int
) -> tuple[RepState, bool]:
    state = _new(state, event.rep_id, partition)
    at = to_epoch(event.occurred_at)
    lead = state.leads.get(event.lead_id) or LeadEntry(event.lead_id)
    if isinstance(event, LeadCreated):
        created = at if lead.created_at is None else min(lead.created_at, at)
        new = LeadEntry(lead.lead_id, created, lead.converted_at, lead.first_touch_at)
    else:
        converted = at if lead.converted_at is None else min(lead.converted_at, at)
        new = LeadEntry(lead.lead_id, lead.created_at, converted, lead.first_touch_at)
    state = _seen(state, at, event.team_id, event.event_id)
    if new == state.leads.get(event.lead_id):
        return state, False
    return _with(state, leads={**state.leads, event.lead_id: new}), True


def note_lead_touch(state: RepState, lead_id: str, at: float) -> RepState:
    """An outbound touch on a lead: keep the first one."""
    lead = state.leads.get(lead_id) or LeadEntry(lead_id)
    if lead.first_touch_at is not None and lead.first_touch_at <= at:
        return state
    touched = LeadEntry(lead_id, lead.created_at, lead.converted_at, at)
    return _with(state, leads={**state.leads, lead_id: touched})


def note_bucket_day(
    state: RepState | None,
    rep_id: str,
    day: float,
    at: float,
    team_id: str | None,
    event_id: str,
    partition: int,
) -> RepState:
    state = _seen(_new(state, rep_id, partition), at, team_id, event_id)
    if day in state.bucket_days:
        return state
    return _with(state, bucket_days=tuple(sorted((*state.bucket_days, day))))


def _midnight(day: date) -> float:
    return datetime.combine(day, time(0), tzinfo=UTC_TZ).timestamp()
