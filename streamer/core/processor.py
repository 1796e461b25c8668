"""The processor: one pure dispatch from input messages to their effects.

The Faust worker (:mod:`streamer.faust_app.worker`) and ``salespulse replay``
(:mod:`streamer.replay`) both drive a :class:`Processor`; neither decides anything
itself. A driver hands it

* :meth:`Processor.read`: a message of an input topic (bytes, as the broker has them);
* :meth:`Processor.receive`: a message of an internal topic (a forwarded event, a deal
  summary, or a bound: see :mod:`streamer.core.event_time`);
* :meth:`Processor.advance`: "process what time allows" (and the wall time, on the wall
  clock),

and carries out what collects in :attr:`Processor.out`: alerts, forwards to the other
side, dead letters, late events, metric counts and the handles of the messages that are
now fully processed (which the driver acknowledges only after it has delivered every
effect and written the state: effects before commits).

Two sides, each over the partitions this process owns: the *deal side* (keyed by
``deal_id``: deal state, ``deal_stalled``, ``follow_up_gap``) and the *rep side* (keyed
by ``rep_id``: activity buckets, leads, quotas, the rep's deals as summaries, the rep
rules). An event reaches each side it feeds directly when it was read on that side's
own topic and partition, else in one hop through the side's internal topic; the deal
side's summaries reach the rep side in one hop. Each side takes its records in event
time order up to its frontier and judges its rules at every whole
``rep_rules_interval_seconds`` between them, so the decisions depend on the events
alone. No I/O, no clock, no Faust.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from schemas import (
    ActivityLogged,
    Alert,
    AlertSubject,
    EventRejected,
    InputEvent,
    LeadConverted,
    LeadCreated,
    RepUpserted,
    parse_event,
)

from ..settings import Settings, rules_for_team
from .deal_engine import DealEngine, SharedView
from .event_time import NEVER, Bound, Frontier, OrderedBuffer, Origin, RawMarks, floor_to
from .figures import TeamSums
from .rep_engine import RepEngine
from .routing import DEAL, REP, partition_for, sides_of
from .rules.alerting import AlertDraft
from .state.rep import DealSummary
from .timeutil import DAY, from_epoch, iso, to_epoch

__all__ = [
    "BOUND_HEADER",
    "ORIGIN_HEADER",
    "SUMMARY_HEADER",
    "DeadLetter",
    "Forward",
    "Outbox",
    "Processor",
    "finish_alert",
    "raw_sources",
]

Side = Literal["deal", "rep"]

#: Internal-topic headers: a deal summary (not an event), a bound message, and the
#: origin (``at;rank:partition:offset:sub``) that orders a forwarded record.
SUMMARY_HEADER = "salespulse-deal-summary"
BOUND_HEADER = "salespulse-bound"
ORIGIN_HEADER = "salespulse-origin"

#: Input topic roles whose partitions are sources of event time, in origin rank order.
RAW_ROLES = ("deals", "activities", "quotas")
_RANK = {role: rank for rank, role in enumerate(RAW_ROLES)}
_DEAL_SOURCE = "D:"  # a deal partition's processed bound, for the rep side

# record kinds
_DEAL_EVENT, _TOUCH, _ACTIVITY, _LEAD, _QUOTA, _SUMMARY = range(6)

_LATE_REASON = (
    "late: older than its source's watermark less the allowed lateness; processed as of "
    "that moment (a copy for the record)"
)


def raw_sources(counts: Mapping[str, int]) -> list[str]:
    """Every source of event time: ``"<role>:<partition>"`` of the raw input topics."""
    return [f"{role}:{p}" for role in RAW_ROLES for p in range(counts.get(role, 0))]


@dataclass(frozen=True, slots=True)
class Forward:
    """A message for one partition of a side's internal topic."""

    side: Side
    partition: int
    key: bytes
    value: bytes
    headers: tuple[tuple[str, bytes], ...]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An input message that can't be accepted, or (``late``) a copy of one that came
    later than the allowed lateness (it is processed, as of where its source stands)."""

    key: bytes | None
    value: bytes | None
    error: str
    topic: str
    partition: int
    offset: int
    late: bool = False


@dataclass(slots=True)
class Outbox:
    """What processing asked for since the driver last took it."""

    alerts: list[Alert] = field(default_factory=list)
    forwards: list[Forward] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)
    done: list[Any] = field(default_factory=list)  # handles now fully processed
    # (rep partition, boundary, its teams' sums): for the other processes' team baselines
    team_sums: list[tuple[int, float, Mapping[str, TeamSums]]] = field(default_factory=list)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)  # (metric, label)

    def __bool__(self) -> bool:
        return bool(
            self.alerts or self.forwards or self.dead or self.done or self.counts or self.team_sums
        )


class _Ticket:
    """A message's handle and how many of its records are still to be processed."""

    __slots__ = ("handle", "pending")

    def __init__(self, handle: Any, pending: int) -> None:
        self.handle, self.pending = handle, pending


@dataclass(slots=True)
class _Record:
    kind: int
    partition: int
    at: float
    origin: Origin
    payload: Any  # an event, or (rep_id, DealSummary)
    ticket: _Ticket | None
    counted: bool = False  # an input event of its own (duplicates are counted for it)


def finish_alert(view: SharedView, draft: AlertDraft, emitted_at: float) -> Alert:
    """Turn a rule's draft into the contract's alert message, with routing facts."""
    rep = view.reps.get(draft.rep_id) if draft.rep_id else None
    return Alert(
        alert_id=draft.alert_id,
        alert_key=draft.alert_key,
        rule=draft.rule,
        status=draft.status,
        severity=draft.severity,
        subject=AlertSubject(kind=draft.subject_kind, id=draft.subject_id),
        rep_id=draft.rep_id,
        team_id=rep.team_id if rep is not None else draft.team_id,
        manager_id=rep.manager_id if rep is not None else None,
        title=draft.title,
        summary=draft.summary,
        metrics=draft.metrics,
        started_at=from_epoch(draft.started_at),
        resolved_at=from_epoch(draft.resolved_at) if draft.resolved_at is not None else None,
        emitted_at=from_epoch(emitted_at),
    )


class Processor:
    """Both sides over the partitions this process owns; see the module docstring.

    ``loopback``: everything is local and nothing travels through Kafka (a replay):
    forwards and summaries go straight into the other side's buffer and bounds are known
    at once. Otherwise (a worker) a record is taken directly only when it was read on its
    side's own topic and partition; the rest become :class:`Forward` effects.
    """

    def __init__(
        self,
        settings: Settings,
        deals: DealEngine,
        reps: RepEngine,
        view: SharedView,
        counts: Mapping[str, int],
        loopback: bool = False,
    ) -> None:
        self.settings = settings
        self.deals = deals
        self.reps = reps
        self.view = view
        self.counts = dict(counts)  # partitions per topic role: deals, activities, quotas
        self.n_deals = counts["deals"]
        self.n_reps = counts["activities"]
        self.loopback = loopback
        self.lateness = settings.allowed_lateness_seconds
        self.interval = settings.rep_rules_interval_seconds
        self.marks = RawMarks(
            self.lateness,
            max_jump=settings.max_event_time_jump_seconds,
            earliest=_year_start(settings.earliest_event_year),
            latest=_year_start(settings.latest_event_year + 1),
        )
        self.deal_frontier = Frontier()
        self.rep_frontier = Frontier()
        self.deal_buffer = OrderedBuffer()
        self.rep_buffer = OrderedBuffer()
        self.deal_judged = NEVER  # the last moment the deal rules were judged at
        self.rep_judged = NEVER  # the last rule boundary the rep rules were judged at
        self.out = Outbox()
        self.wall = settings.clock == "wall"
        self._now = NEVER  # the moment of the judging in progress (for emitted_at)
        self.deal_parts: set[int] = set()
        self.rep_parts: set[int] = set()
        teams = [rules_for_team(settings, t) for t in [None, *settings.teams]]
        # cross-process facts a decision waits for (see stats_cap and _teams_ready)
        self.stalls_on = any(r.deal_stalled.enabled for r in teams)
        self.teams_on = any(r.conversion_drop.enabled or r.win_rate_outlier.enabled for r in teams)
        # per rep partition, the last boundary whose team sums this process published (a
        # partition taken over walks boundaries the others here have long passed)
        self._sums_sent: dict[int, float] = {}
        if loopback:
            self.assign(range(self.n_deals), range(self.n_reps))
            self.deal_frontier.set_lanes([0])
            self.rep_frontier.set_lanes([0])
            self.rep_frontier.set_sources([f"{_DEAL_SOURCE}all"])
        else:
            sources = raw_sources(counts)
            self.deal_frontier.set_sources(sources)
            self.rep_frontier.set_sources(
                [*sources, *(f"{_DEAL_SOURCE}{p}" for p in range(self.n_deals))]
            )

    # --- ownership ---------------------------------------------------------------------
    def assign(self, deal_parts: Iterable[int], rep_parts: Iterable[int]) -> None:
        """This process now owns these partitions of each side (added to what it had)."""
        self.deal_parts |= set(deal_parts)
        self.rep_parts |= set(rep_parts)
        self.deals.assign(self.deal_parts)
        self.reps.assign(self.rep_parts)
        if not self.loopback:
            self.deal_frontier.set_lanes(self.deal_parts)
            self.rep_frontier.set_lanes(self.rep_parts)

    def expect(self, deal_parts: Iterable[int], rep_parts: Iterable[int]) -> None:
        """Partitions given to this process whose tables are still being recovered:
        indexed at the first record after recovery (one scan, see DealEngine.expect)."""
        deal_parts, rep_parts = set(deal_parts), set(rep_parts)
        self.deal_parts |= deal_parts
        self.rep_parts |= rep_parts
        self.deals.expect(deal_parts)
        self.deal_frontier.set_lanes(self.deal_parts)
        self.rep_frontier.set_lanes(self.rep_parts)

    def revoke(self, deal_parts: Iterable[int], rep_parts: Iterable[int]) -> None:
        """Give partitions away: their unprocessed records are dropped unacknowledged
        (the next owner reads them again from the committed offsets)."""
        deal_parts, rep_parts = set(deal_parts), set(rep_parts)
        self.deal_parts -= deal_parts
        self.rep_parts -= rep_parts
        self.deals.revoke(deal_parts)
        self.reps.revoke(rep_parts)
        for partition in rep_parts:
            self._sums_sent.pop(partition, None)
        self.deal_buffer.drop(lambda r: r.partition not in deal_parts)
        self.rep_buffer.drop(lambda r: r.partition not in rep_parts)
        self.deal_frontier.set_lanes(self.deal_parts)
        self.rep_frontier.set_lanes(self.rep_parts)
        if not self.deal_parts:
            self.deal_judged = NEVER
        if not self.rep_parts:
            self.rep_judged = NEVER

    def forget_sources(self, sources: Iterable[str]) -> None:
        """Input partitions given away: their watermarks go with them (whoever reads
        them next starts from the committed offset, and judges lateness from there)."""
        for source in sources:
            self.marks.forget(source)

    # --- input -------------------------------------------------------------------------
    def read(
        self,
        role: str,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        handle: Any = None,
        event: InputEvent | None = None,
    ) -> None:
        """One message of an input topic (``role``: deals, activities, quotas, org,
        commands). Validated, its ``occurred_at`` guarded (see :class:`RawMarks`), judged
        late or not against its source, and routed. ``event``: ``value`` as the caller
        has already parsed it (a replay parses a line once, to find its partition)."""
        out = self.out
        if event is None:
            try:
                event = parse_event(value if value is not None else b"")
            except EventRejected as rejected:
                out.dead.append(DeadLetter(key, value, rejected.reason, topic, partition, offset))
                out.counts[("rejected", topic)] += 1
                out.done.append(handle)
                return
        at = to_epoch(event.occurred_at)
        if self.marks.out_of_range(at):
            self._refuse(self._out_of_range_reason(at), key, value, topic, partition, offset)
            out.done.append(handle)
            return
        if isinstance(event, RepUpserted):
            out.counts[("accepted", event.event_type)] += 1
            self.view.upsert_rep(event)  # the org chart takes effect as it is read
            out.done.append(handle)
            return
        sides = [s for s in sides_of(event) if s[0] in (DEAL, REP)]
        if not sides:  # an alert command: validated here, acted on by the notifications
            out.counts[("accepted", event.event_type)] += 1
            out.done.append(handle)
            return
        source = f"{role}:{partition}"
        mark = self.marks.mark(source)
        if self.marks.refuse(source, at):
            self._refuse(self._jump_reason(at, mark), key, value, topic, partition, offset)
            out.done.append(handle)
            return
        out.counts[("accepted", event.event_type)] += 1
        placed = self.marks.place(source, at)
        if placed != at:  # late: processed where its source stands, copied for the record
            out.dead.append(DeadLetter(key, value, _LATE_REASON, topic, partition, offset, True))
            out.counts[("late", event.event_type)] += 1
            at = placed
        if self.loopback:
            self._put_source(source)
        origin: Origin = (_RANK.get(role, len(_RANK)), partition, offset, 0)
        direct: list[tuple[str, int, str]] = []
        for sub, (side, side_key) in enumerate(sides):
            target = partition_for(side_key, self.n_deals if side == DEAL else self.n_reps)
            home = (side == DEAL and role == "deals") or (side == REP and role == "activities")
            if self.loopback or (home and target == partition):
                direct.append((side, target, side_key))
                continue
            raw = value if value is not None else b""
            origin_text = f"{at!r};{origin[0]}:{origin[1]}:{origin[2]}:{sub}".encode()
            side_name: Side = "deal" if side == DEAL else "rep"
            out.forwards.append(
                Forward(side_name, target, side_key.encode(), raw, ((ORIGIN_HEADER, origin_text),))
            )
            if not (home or (side == DEAL and isinstance(event, ActivityLogged))):
                out.counts[("forwarded", event.event_type)] += 1
        if not direct:
            out.done.append(handle)
            return
        ticket = _Ticket(handle, len(direct))
        for side, target, _ in direct:
            sub = 0 if side == sides[0][0] else 1
            self._push(side, event, target, at, (*origin[:3], sub), ticket, counted=sub == 0)

    def _refuse(
        self,
        reason: str,
        key: bytes | None,
        value: bytes | None,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        self.out.dead.append(DeadLetter(key, value, reason, topic, partition, offset))
        self.out.counts[("rejected", topic)] += 1

    def _out_of_range_reason(self, at: float) -> str:
        settings = self.settings
        return (
            f"occurred_at: outside the years {settings.earliest_event_year} to "
            f"{settings.latest_event_year} this service takes (earliest_event_year, "
            f"latest_event_year); not processed, got {iso(at)}"
        )

    def _jump_reason(self, at: float, mark: float) -> str:
        limit = self.settings.max_event_time_jump_seconds
        return (
            f"occurred_at: more than max_event_time_jump_seconds ({limit:,.0f} s) ahead of "
            "the newest event read from its partition; not processed (the partition's next "
            f"event within that much of it is taken as a real jump), got {iso(at)}, "
            f"{(at - mark) / DAY:,.1f} days after {iso(mark)}"
        )

    def receive(
        self,
        side: Side,
        partition: int,
        key: bytes | None,
        value: bytes | None,
        headers: Mapping[str, bytes],
        handle: Any = None,
    ) -> None:
        """One message of a side's internal topic (``partition``: the side's partition)."""
        out = self.out
        frontier = self.deal_frontier if side == "deal" else self.rep_frontier
        bound = headers.get(BOUND_HEADER)
        if bound is not None:
            for source, wire in json.loads(value or b"{}").items():
                frontier.put(partition, source, Bound.from_wire(wire))
            out.done.append(handle)
            return
        at_text, origin_text = (headers.get(ORIGIN_HEADER) or b"0;9:0:0:0").decode().split(";")
        rank, part, offset, sub = (int(x) for x in origin_text.split(":"))
        origin: Origin = (rank, part, offset, sub)
        at = float(at_text)
        ticket = _Ticket(handle, 1)
        if headers.get(SUMMARY_HEADER):
            summary = DealSummary.from_dict(json.loads(value or b"{}"))
            rep_id = (key or b"").decode()
            self.rep_buffer.push(
                at, origin, _Record(_SUMMARY, partition, at, origin, (rep_id, summary), ticket)
            )
            return
        try:
            event = parse_event(value if value is not None else b"")
        except EventRejected as rejected:  # validated before it was forwarded: a bug
            out.dead.append(
                DeadLetter(key, value, rejected.reason, f"{side}-internal", partition, 0)
            )
            out.done.append(handle)
            return
        # an event of its own (sub-index 0), not an activity's touch of a deal: counted
        counted = sub == 0
        self._push(DEAL if side == "deal" else REP, event, partition, at, origin, ticket, counted)

    def _push(
        self,
        side: str,
        event: InputEvent,
        partition: int,
        at: float,
        origin: Origin,
        ticket: _Ticket | None,
        counted: bool,
    ) -> None:
        if side == DEAL:
            kind = _TOUCH if isinstance(event, ActivityLogged) else _DEAL_EVENT
            record = _Record(kind, partition, at, origin, event, ticket, counted)
            self.deal_buffer.push(at, origin, record)
            return
        if isinstance(event, ActivityLogged):
            kind = _ACTIVITY
        elif isinstance(event, LeadCreated | LeadConverted):
            kind = _LEAD
        else:
            kind = _QUOTA
        self.rep_buffer.push(
            at, origin, _Record(kind, partition, at, origin, event, ticket, counted)
        )

    def declare_sources(self, sources: Iterable[str]) -> None:
        """Loopback: the sources the whole input has (a replay of a file knows them
        before it starts): each holds time back from the start until it is read, as a
        partition with lag does in a worker. Undeclared, a source joins when first read."""
        sources = set(sources)
        self.deal_frontier.set_sources(sources)
        self.rep_frontier.set_sources([*sources, f"{_DEAL_SOURCE}all"])

    def end_source(self, source: str) -> None:
        """Loopback: the source has nothing more (as a drained partition: idle)."""
        bound = Bound(self.marks.mark(source) - self.lateness, True)
        self.deal_frontier.put(0, source, bound)
        self.rep_frontier.put(0, source, bound)

    def _put_source(self, source: str) -> None:
        """Loopback: a raw source's bound is known the moment it is read."""
        frontier_sources = self.deal_frontier.sources
        if source not in frontier_sources:
            self.deal_frontier.set_sources([*frontier_sources, source])
            self.rep_frontier.set_sources([*self.rep_frontier.sources, source])
        bound = Bound(self.marks.mark(source) - self.lateness)
        self.deal_frontier.put(0, source, bound)
        self.rep_frontier.put(0, source, bound)

    # --- bounds --------------------------------------------------------------------------
    def bounds(self, idle: Mapping[str, bool]) -> dict[str, list[Any]]:
        """What this process promises the others, for every internal partition: per raw
        source it reads (``idle``: source -> caught up), its watermark less the lateness;
        per deal partition it owns, what its deal side has processed."""
        wire: dict[str, list[Any]] = {}
        for source, caught_up in idle.items():
            wire[source] = Bound(self.marks.mark(source) - self.lateness, caught_up).to_wire()
        processed = Bound(self.deal_processed()).to_wire()
        for p in sorted(self.deal_parts):
            wire[f"{_DEAL_SOURCE}{p}"] = processed
        return wire

    def read_locally(self, idle: Mapping[str, bool]) -> None:
        """The input partitions this process reads (source -> caught up): those whose
        records its sides take directly (a side's own topic) are bounded by what it has
        read of them itself, as well as by the bounds on the lanes."""
        direct = {"deals": self.deal_frontier, "activities": self.rep_frontier}
        for side in direct.values():
            side.local.clear()
        for source, caught_up in idle.items():
            frontier = direct.get(source.split(":", 1)[0])
            if frontier is not None:
                frontier.local[source] = Bound(self.marks.mark(source) - self.lateness, caught_up)

    def deal_processed(self) -> float:
        """Every deal-side record before this moment is processed (its summaries sent)."""
        return min(self.deal_frontier.value, self.deal_buffer.peek_at())

    def finish_sources(self) -> None:
        """Loopback: the input has ended; every source is idle."""
        for source in self.deal_frontier.sources:
            bound = Bound(self.marks.mark(source) - self.lateness, True)
            self.deal_frontier.put(0, source, bound)
            self.rep_frontier.put(0, source, bound)

    # --- time ----------------------------------------------------------------------------
    def advance(self, wall: float | None = None) -> None:
        """Process every buffered record the frontiers allow, in event time order, and
        judge the rules at every boundary they pass (and the deal rules at the frontier)."""
        wall = wall if self.wall else None
        lateness = self.lateness
        deal_at = self.deal_frontier.advance(wall, lateness)
        if not self.loopback:
            self.deals.assign(self.deal_parts)  # index what recovery brought (one scan)
            self.deals.sync_shared()
            deal_at = min(deal_at, self.stats_cap())
        self._run_deals(deal_at)
        if self.loopback:
            self.rep_frontier.put(0, f"{_DEAL_SOURCE}all", Bound(self.deal_processed()))
        rep_at = self.rep_frontier.advance(wall, lateness)
        self._run_reps(rep_at)

    def stats_cap(self) -> float:
        """How far the deal side may go on what other processes' deal partitions have
        told: a stall is judged against the stage averages of visits that ended before
        the day the deal entered the stage, so a record of day d waits until every other
        deal partition has processed everything before day d (their snapshots say).
        Each side thus runs at most a day ahead of the slowest; neither waits for itself."""
        remote = [p for p in range(self.n_deals) if p not in self.deal_parts]
        if not self.stalls_on or not remote:
            return math.inf
        lowest = math.inf
        for p in remote:
            snapshot = self.view.snapshots.get(p)
            if snapshot is None or snapshot.processed is None:
                return NEVER
            lowest = min(lowest, snapshot.processed)
        return floor_to(lowest, DAY) + DAY - 0.001

    def _teams_ready(self, boundary: float) -> bool:
        """Whether the rep rules can be judged at ``boundary``: this process's team sums
        there are published, and every other rep partition's are here."""
        remote = [p for p in range(self.n_reps) if p not in self.rep_parts]
        if not self.teams_on or not remote or self.loopback:
            return True
        due = [p for p in self.rep_parts if self._sums_sent.get(p, NEVER) < boundary]
        if due:
            local = self.reps.local_sums_at(boundary)
            for partition in sorted(due):
                self.out.team_sums.append((partition, boundary, local.get(partition, {})))
                self._sums_sent[partition] = boundary
        passed = self.view.team_sums_passed(boundary)
        return all(p in passed for p in remote)

    def _run_deals(self, upto: float) -> None:
        """The deal side's records up to ``upto``, then its rules judged there. Which
        episodes the deal rules find does not depend on when they are judged (a stay or
        a quiet spell is one whether it is judged while it lasts or after it ended, see
        their modules), so once per run is enough: no judging at every boundary of a
        long quiet stretch."""
        buffer, take = self.deal_buffer, self._take_deal
        took = False
        while buffer.peek_at() <= upto:
            take(buffer.pop())
            took = True
        # again after records at or before the last judging (from a partition taken over
        # from another process, which had not got as far): judging twice is harmless
        if upto != NEVER and (upto > self.deal_judged or took):
            self._judge_deals(upto)

    def _run_reps(self, upto: float) -> None:
        # from the partition judged least far: one taken over from another process walks
        # the boundaries since its own last one, in order with its records (the others
        # skip what they judged); None: a partition never judged starts at its records
        own = self.reps.judged_until(self.rep_parts) if self.rep_parts else None
        if own is None and self.rep_parts and upto != NEVER:
            # partitions never judged: time starts just before the first record (or the
            # frontier, with nothing buffered)
            self.reps.start_clocks(
                self.rep_parts, _before(min(self.rep_buffer.peek_at(), upto), self.interval)
            )
            own = self.reps.judged_until(self.rep_parts)
        self.rep_judged = NEVER if own is None else own
        self.rep_judged = self._run(
            self.rep_buffer,
            self.rep_judged,
            upto,
            self._take_rep,
            self._judge_reps,
            self._teams_ready,
        )

    def _run(
        self,
        buffer: OrderedBuffer,
        judged: float,
        upto: float,
        take: Any,
        judge: Any,
        ready: Any = None,
    ) -> float:
        """Take the records up to ``upto`` in order, judging every boundary between them
        (a record at a boundary is taken before it is judged: windows are (T - w, T]).
        Returns the last boundary judged."""
        interval = self.interval
        if upto == NEVER:
            return judged
        while True:
            at = buffer.peek_at()
            if judged == NEVER:
                # nothing judged since start: time starts just before the first record
                judged = _before(min(at, upto), interval)
            following = (judged // interval + 1) * interval
            if following <= upto and following < at:
                if ready is not None and not ready(following):
                    return judged  # waits for other processes' facts of that boundary
                judge(following)
                judged = following
                continue
            if at > upto:
                return judged
            take(buffer.pop())

    def _judge_deals(self, moment: float) -> None:
        self._now = moment
        for partition in sorted(self.deal_parts):
            self._alerts(self.deals.on_tick(partition, moment))
        self.deal_judged = moment

    def _judge_reps(self, boundary: float) -> None:
        self._now = boundary
        self._alerts(self.reps.on_ticks(sorted(self.rep_parts), boundary))

    # --- records -------------------------------------------------------------------------
    def _take_deal(self, record: _Record) -> None:
        event = record.payload
        self._now = record.at
        if record.kind == _TOUCH:
            changed, drafts = self.deals.on_touch(event, record.partition, record.at)
        else:
            amount, currency = event.amount, event.currency
            if amount is not None and currency and self.settings.to_reporting(amount, currency)[1]:
                self.out.counts[("unconverted", currency)] += 1
            changed, drafts = self.deals.on_deal_event(event, record.partition, record.at)
        if not changed and record.counted:
            self.out.counts[("duplicate", event.event_type)] += 1
        self._alerts(drafts)
        self._send_summaries(record)
        self._done(record)

    def _send_summaries(self, record: _Record) -> None:
        outbox = self.deals.outbox
        if not outbox:
            return
        for i, (rep_id, summary) in enumerate(outbox, start=2):
            target = partition_for(rep_id, self.n_reps)
            origin: Origin = (*record.origin[:3], record.origin[3] * 8 + i)
            if self.loopback:
                payload = (rep_id, summary)
                self.rep_buffer.push(
                    record.at, origin, _Record(_SUMMARY, target, record.at, origin, payload, None)
                )
                continue
            origin_text = f"{record.at!r};{origin[0]}:{origin[1]}:{origin[2]}:{origin[3]}"
            self.out.forwards.append(
                Forward(
                    "rep",
                    target,
                    rep_id.encode(),
                    json.dumps(summary.to_dict()).encode(),
                    ((SUMMARY_HEADER, b"1"), (ORIGIN_HEADER, origin_text.encode())),
                )
            )
        outbox.clear()

    def _take_rep(self, record: _Record) -> None:
        reps, partition = self.reps, record.partition
        kind = record.kind
        if kind == _SUMMARY:
            rep_id, summary = record.payload
            reps.on_summary(rep_id, summary, partition, record.at)
        else:
            event = record.payload
            if kind == _ACTIVITY:
                changed = reps.on_activity(event, partition)
            elif kind == _LEAD:
                changed = reps.on_lead(event, partition)
            else:
                changed = reps.on_quota(event, partition)
            if not changed and record.counted:
                self.out.counts[("duplicate", event.event_type)] += 1
        self._done(record)

    def _done(self, record: _Record) -> None:
        ticket = record.ticket
        if ticket is not None:
            ticket.pending -= 1
            if ticket.pending == 0:
                self.out.done.append(ticket.handle)

    def _alerts(self, drafts: Iterable[AlertDraft]) -> None:
        out = self.out
        for draft in drafts:
            emitted = self._now if self._now != NEVER else draft.started_at
            out.alerts.append(finish_alert(self.view, draft, max(emitted, draft.started_at)))
            out.counts[("alert", f"{draft.rule}:{draft.status}")] += 1

    def take(self) -> Outbox:
        """The effects collected since the last call (the driver carries them out)."""
        out, self.out = self.out, Outbox()
        return out

    def drain(self) -> None:
        """Loopback, at the end of the input: process what is still buffered, judging
        nothing more and emitting nothing (for a report as of the newest event)."""
        while self.deal_buffer:
            self._take_deal(self.deal_buffer.pop())
        self.deals.outbox.clear()
        while self.rep_buffer:
            self._take_rep(self.rep_buffer.pop())
        self.out = Outbox()


def _year_start(year: int) -> float:
    """1 January of ``year``, 00:00 UTC, in seconds (beyond year 9999: never)."""
    return to_epoch(datetime(year, 1, 1, tzinfo=UTC)) if year <= 9999 else math.inf


def _before(at: float, interval: float) -> float:
    """The last rule boundary strictly before ``at``."""
    floor = (at // interval) * interval
    return floor - interval if floor == at else floor
