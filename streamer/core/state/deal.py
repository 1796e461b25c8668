"""Per-deal state, as a pure function of the set of events seen for the deal.

The state is built so that applying the same events in any order, any number
of times, gives the same value (a join-semilattice):

* stage moves are kept as a set of *marks* ``(occurred_at, event_id, stage)``
  sorted by time, so a late or repeated event lands in its place or changes
  nothing;
* every other attribute (owner, amount, ...) is a last-writer-wins register
  stamped with ``(occurred_at, event_id)``.

Everything else (current stage, when the deal entered it, completed stage
visits) is derived from those. That is what makes redelivery, changelog
replay and out-of-order arrival harmless, and what the property tests check
against a batch computation.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from schemas import ActivityLogged, DealEvent, DealLost, DealWon

from ..timeutil import to_epoch
from .codec import compact_json
from .frozen import fast_init

__all__ = [
    "CLOSED_STAGES",
    "DealState",
    "GapEpisode",
    "StageMark",
    "StalledEpisode",
    "Touch",
    "Visit",
    "apply_deal_event",
    "apply_touch",
    "decode_deal",
    "encode_deal",
]

CLOSED_STAGES = frozenset({"won", "lost"})

# Attributes kept as last-writer-wins registers, with the event field they come from.
_ATTRIBUTES = (
    "rep_id",
    "team_id",
    "pipeline",
    "amount",
    "currency",
    "source_channel",
    "product",
    "expected_close",
    "reason",
)

Stamp = tuple[float, str]


class StageMark(NamedTuple):
    """The deal was in ``stage`` from ``at`` on (until the next mark).

    A named tuple: marks are made and compared on every deal event and every decode of
    a deal, and tuples do both in C (ordered by time, then event id, then stage).
    """

    at: float
    event_id: str
    stage: str


@dataclass(frozen=True, slots=True)
class Visit:
    """A completed stay in a stage: entered at ``entered``, left at ``left``."""

    stage: str
    entered: float
    left: float

    @property
    def seconds(self) -> float:
        return self.left - self.entered


@dataclass(frozen=True, slots=True)
class StalledEpisode:
    """An open ``deal_stalled`` alert: the stage visit it is about and when it began."""

    alert_id: str
    stage: str
    entered: float
    started_at: float


class Touch(NamedTuple):
    """An activity on the deal (from ``activity.logged`` with its ``deal_id``); a named
    tuple, like :class:`StageMark`, ordered by time, then event id."""

    at: float
    event_id: str
    follow_up: bool


@dataclass(frozen=True, slots=True)
class GapEpisode:
    """An open ``follow_up_gap`` alert: the quiet spell since ``since`` it is about."""

    alert_id: str
    since: float
    started_at: float


@fast_init
@dataclass(frozen=True, slots=True)
class DealState:
    deal_id: str
    partition: int
    marks: tuple[StageMark, ...] = ()
    attributes: Mapping[str, tuple[Any, float, str]] = field(default_factory=dict)
    created_at: float | None = None
    stalled: StalledEpisode | None = None
    touches: tuple[Touch, ...] = ()
    gap: GapEpisode | None = None
    gap_checked: float | None = None  # the last quiet spell (by its start) judged
    revision: int = 0  # grows with every change; orders the deal's summaries downstream

    # --- derived -----------------------------------------------------------------
    def attribute(self, name: str, default: Any = None) -> Any:
        entry = self.attributes.get(name)
        return default if entry is None else entry[0]

    @property
    def rep_id(self) -> str | None:
        entry = self.attributes.get("rep_id")
        return None if entry is None else entry[0]  # type: ignore[no-any-return]

    @property
    def team_id(self) -> str | None:
        entry = self.attributes.get("team_id")
        return None if entry is None else entry[0]  # type: ignore[no-any-return]

    @property
    def pipeline(self) -> str:
        entry = self.attributes.get("pipeline")
        return "default" if entry is None else entry[0]  # type: ignore[no-any-return]

    @property
    def stage(self) -> str | None:
        return self.marks[-1].stage if self.marks else None

    @property
    def is_open(self) -> bool:
        return bool(self.marks) and self.marks[-1].stage not in CLOSED_STAGES

    @property
    def entered_at(self) -> float | None:
        """When the deal entered its current stage (start of the last run of equal marks)."""
        if not self.marks:
            return None
        current = self.marks[-1].stage
        entered = self.marks[-1].at
        for mark in reversed(self.marks):
            if mark.stage != current:
                break
            entered = mark.at
        return entered

    @property
    def follow_ups(self) -> int:
        return sum(1 for touch in self.touches if touch.follow_up)

    @property
    def last_touch_at(self) -> float | None:
        """The newest touch, or when the deal was first seen if it never had one."""
        if self.touches:
            return self.touches[-1].at
        if self.created_at is not None:
            return self.created_at
        return self.marks[0].at if self.marks else None

    @property
    def closed_at(self) -> float | None:
        return None if self.is_open or not self.marks else self.entered_at

    def exits(self) -> list[tuple[str, float, bool]]:
        """Every departure from an open stage: (stage, when, forward rather than lost)."""
        runs = self._runs()
        return [
            (stage, runs[i + 1][1], runs[i + 1][0] != "lost")
            for i, (stage, _) in enumerate(runs[:-1])
            if stage not in CLOSED_STAGES
        ]

    def _runs(self) -> list[tuple[str, float]]:
        """Consecutive stays: (stage, entered), oldest first."""
        runs: list[tuple[str, float]] = []
        for mark in self.marks:
            if not runs or runs[-1][0] != mark.stage:
                runs.append((mark.stage, mark.at))
        return runs

    def visits(self) -> list[Visit]:
        """Completed stays in open stages, oldest first (the current stage is not complete)."""
        runs = self._runs()
        return [
            Visit(stage, entered, runs[i + 1][1])
            for i, (stage, entered) in enumerate(runs[:-1])
            if stage not in CLOSED_STAGES
        ]

    # --- codec ---------------------------------------------------------------------
    # ``to_dict``/``from_dict`` are the first table format (a JSON object, still read);
    # :func:`encode_deal`/:func:`decode_deal` below are what tables are written with.
    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "d": self.deal_id,
            "p": self.partition,
            "m": list(map(list, self.marks)),
            "a": {k: list(v) for k, v in self.attributes.items()},
        }
        if self.created_at is not None:
            data["c"] = self.created_at
        if self.stalled is not None:
            s = self.stalled
            data["s"] = [s.alert_id, s.stage, s.entered, s.started_at]
        if self.touches:
            data["t"] = list(map(list, self.touches))
        if self.gap is not None:
            data["g"] = [self.gap.alert_id, self.gap.since, self.gap.started_at]
        if self.gap_checked is not None:
            data["gc"] = self.gap_checked
        if self.revision:
            data["v"] = self.revision
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DealState:
        stalled = data.get("s")
        return cls(
            deal_id=data["d"],
            partition=data["p"],
            marks=tuple(map(StageMark._make, data["m"])),
            attributes={k: (v[0], v[1], v[2]) for k, v in data["a"].items()},
            created_at=data.get("c"),
            stalled=StalledEpisode(*stalled) if stalled else None,
            touches=tuple(map(Touch._make, data.get("t", ()))),
            gap=GapEpisode(*data["g"]) if data.get("g") else None,
            gap_checked=data.get("gc"),
            revision=data.get("v", 0),
        )


# --- table codec -----------------------------------------------------------------------
#: The first byte of a deal table value written by :func:`encode_deal`; a value written
#: before (a JSON object, :meth:`DealState.to_dict`) starts with ``{``.
DEAL_CODEC_V1 = 1
_V1_PREFIX = bytes([DEAL_CODEC_V1])
_ATTRIBUTE_INDEX = {name: i for i, name in enumerate(_ATTRIBUTES)}
# attributes whose values repeat across deals (ids and labels): one string object each
_INTERNED = frozenset(
    _ATTRIBUTE_INDEX[n]
    for n in ("rep_id", "team_id", "pipeline", "currency", "source_channel", "product")
)
_loads = json.loads
_intern = sys.intern
_mark: Any = StageMark  # called with a stamp's two fields spread
_touch: Any = Touch


def encode_deal(state: DealState) -> bytes:
    """The deal as a table value: the version byte, then a JSON array.

    A deal is mostly stamps ``(occurred_at, event_id)``, the same one on its marks and
    on every attribute an event set, so each distinct stamp is written once and referred
    to by its index; attribute names are their index in the register list. About a
    third of the size of :meth:`DealState.to_dict`'s JSON (bench/README.md, *state*).

    Layout: ``[deal_id, partition, stamps, marks, attributes, created_at, stalled,
    touches, gap, gap_checked, revision]`` with ``stamps`` flat ``[at, event_id, ...]``,
    ``marks`` flat ``[stamp, stage, ...]``, ``attributes`` flat ``[name, value, stamp,
    ...]`` (a name outside the register list is written as itself), ``touches`` flat
    ``[stamp, follow_up, ...]``, the episodes as arrays of their fields or null.
    """
    stamps: list[Any] = []
    index: dict[tuple[float, str], int] = {}

    def stamp(at: float, event_id: str) -> int:
        key = (at, event_id)
        i = index.get(key)
        if i is None:
            i = index[key] = len(index)
            stamps.append(at)
            stamps.append(event_id)
        return i

    marks: list[Any] = []
    for at, event_id, stage in state.marks:
        marks.append(stamp(at, event_id))
        marks.append(stage)
    attributes: list[Any] = []
    for name, (value, at, event_id) in state.attributes.items():
        attributes.append(_ATTRIBUTE_INDEX.get(name, name))
        attributes.append(value)
        attributes.append(stamp(at, event_id))
    touches: list[Any] = []
    for at, event_id, follow_up in state.touches:
        touches.append(stamp(at, event_id))
        touches.append(1 if follow_up else 0)
    s, g = state.stalled, state.gap
    row = [
        state.deal_id,
        state.partition,
        stamps,
        marks,
        attributes,
        state.created_at,
        None if s is None else [s.alert_id, s.stage, s.entered, s.started_at],
        touches,
        None if g is None else [g.alert_id, g.since, g.started_at],
        state.gap_checked,
        state.revision,
    ]
    return _V1_PREFIX + compact_json(row)


def _pairs(flat: list[Any]) -> Any:
    return zip(flat[::2], flat[1::2], strict=True)


def decode_deal(raw: bytes | str | Mapping[str, Any]) -> DealState:
    """A deal table value of any version: :func:`encode_deal`'s, or the JSON object of
    :meth:`DealState.to_dict` (as bytes, or already parsed) that tables held before."""
    if isinstance(raw, bytes | bytearray | memoryview):
        raw = bytes(raw)
        if raw[:1] != _V1_PREFIX:
            return DealState.from_dict(_loads(raw))
        row = _loads(raw[1:])
    elif isinstance(raw, str):
        return DealState.from_dict(_loads(raw))
    else:
        return DealState.from_dict(raw)
    deal_id, partition, flat, m, a, created_at, s, t, g, gap_checked, revision = row
    stamps: list[tuple[float, str]] = list(zip(flat[::2], flat[1::2], strict=True))
    marks = tuple([_mark(*stamps[i], _intern(stage)) for i, stage in _pairs(m)])
    attributes: dict[str, tuple[Any, float, str]] = {}
    for name, value, i in zip(a[::3], a[1::3], a[2::3], strict=True):
        if type(name) is int:
            if type(value) is str and name in _INTERNED:
                value = _intern(value)
            name = _ATTRIBUTES[name]
        attributes[name] = (value, *stamps[i])
    return DealState(
        deal_id,
        partition,
        marks,
        attributes,
        created_at,
        None if s is None else StalledEpisode(s[0], _intern(s[1]), s[2], s[3]),
        tuple([_touch(*stamps[i], f == 1) for i, f in _pairs(t)]) if t else (),
        None if g is None else GapEpisode(g[0], g[1], g[2]),
        gap_checked,
        revision,
    )


def _stage_after(event: DealEvent) -> str:
    if isinstance(event, DealWon):
        return "won"
    if isinstance(event, DealLost):
        return "lost"
    return event.stage


def _merge_marks(marks: tuple[StageMark, ...], new: StageMark) -> tuple[StageMark, ...]:
    event_id = new.event_id
    for mark in marks:
        if mark.event_id == event_id:
            return marks
    if not marks or marks[-1] < new:
        return (*marks, new)  # the usual case: the newest move
    return tuple(sorted((*marks, new)))


def _merge_attributes(
    attributes: Mapping[str, tuple[Any, float, str]], event: DealEvent, stamp: Stamp
) -> Mapping[str, tuple[Any, float, str]]:
    """The registers with the values ``event`` carries (None: not given) that are newer
    than what they hold; ``attributes`` itself when none is (no copy for a repeat)."""
    # a model's fields are in its __dict__; getattr of one a model lacks (``reason``
    # but on deal.lost) costs pydantic an exception
    fields = event.__dict__
    merged: dict[str, tuple[Any, float, str]] | None = None
    for name in _ATTRIBUTES:
        value = fields.get(name)
        if value is None:
            continue
        current = attributes.get(name)
        if current is not None and (current[1], current[2]) >= stamp:
            continue
        if not isinstance(value, str | float | int):
            value = _json_value(value)
        if merged is None:
            merged = dict(attributes)
        merged[name] = (value, stamp[0], stamp[1])
    return attributes if merged is None else merged


def _json_value(value: Any) -> Any:
    # dates (expected_close) are kept as ISO strings so the state stays JSON.
    return value.isoformat() if hasattr(value, "isoformat") else value


def apply_deal_event(
    state: DealState | None, event: DealEvent, partition: int, at: float | None = None
) -> tuple[DealState, bool]:
    """Fold one deal event into the deal's state.

    Returns the new state and whether anything changed; a repeated event
    returns the same state and ``False``. ``deal.updated`` changes attributes
    only; every other deal event also marks the stage the deal is in after it.
    ``at`` is ``event.occurred_at`` in epoch seconds, when the caller has it.
    """
    if at is None:
        at = to_epoch(event.occurred_at)
    event_id = event.event_id
    if state is None:
        state = DealState(deal_id=event.deal_id, partition=partition)
    marks = state.marks
    kind = event.event_type
    if kind != "deal.updated":
        marks = _merge_marks(marks, StageMark(at, event_id, _stage_after(event)))
    attributes = _merge_attributes(state.attributes, event, (at, event_id))
    created_at = state.created_at
    if kind == "deal.created" and (created_at is None or at < created_at):
        created_at = at
    if marks is state.marks and attributes is state.attributes and created_at == state.created_at:
        return state, False
    return DealState(
        state.deal_id,
        state.partition,
        marks,
        attributes,
        created_at,
        state.stalled,
        state.touches,
        state.gap,
        state.gap_checked,
        state.revision + 1,
    ), True


def apply_touch(
    state: DealState | None, event: ActivityLogged, partition: int, at: float | None = None
) -> tuple[DealState, bool]:
    """Record an activity on the deal; a repeated event id changes nothing."""
    assert event.deal_id is not None
    if state is None:
        state = DealState(deal_id=event.deal_id, partition=partition)
    event_id = event.event_id
    touches = state.touches
    for touch in touches:
        if touch.event_id == event_id:
            return state, False
    if at is None:
        at = to_epoch(event.occurred_at)
    touch = Touch(at, event_id, event.follow_up)
    if not touches or touches[-1] < touch:
        touches = (*touches, touch)  # the usual case: the newest touch
    else:
        touches = tuple(sorted((*touches, touch)))
    return DealState(
        state.deal_id,
        state.partition,
        state.marks,
        state.attributes,
        state.created_at,
        state.stalled,
        touches,
        state.gap,
        state.gap_checked,
        state.revision + 1,
    ), True
