"""The rep side of the processing core, shared by the live worker and replays.

:class:`RepEngine` owns, for the partitions of the rep-keyed topics assigned
to this process, the rep states and the activity day buckets (two
``MutableMapping`` stores: Faust tables in a worker, dicts in a replay). It
applies events and deal summaries and judges the rep rules at the rule boundaries
that the partition's clock passes. It does no I/O and reads no clock.

What is judged follows the events, not the length of history: the outcome of
judging a rep at a boundary (alerts and the rep's episodes) is the very outcome of
judging it at every boundary, but a rep is judged only at the boundaries where that
outcome may differ from the last: the first after one of its events, the first
after a window edge passes one of its moments (a touch, a deal's creation, exit or
closing, a lead, a quota period), a moment a rule names as it judges
(:meth:`~.rules.rep_rules.RepInputs.changes_at`: a pace crossing a line as a period
goes by), the end of a rule's ``for`` or ``keep_firing_for``, and a change of a team
value the rep's judging read. Judged at every boundary instead
(``judge_every_boundary``), the same events give the same alerts: the tests hold
one against the other.

Team baselines: a partition keeps its teams' sums of what rules compare reps with
(won and lost deals, stage exits: integers, so adding and taking away a rep's part
is exact), updated as its reps' windows change; the other partitions' sums at the
same boundary come from the shared view
(:class:`~streamer.core.deal_engine.SharedView`), so a team's baseline covers all
its reps wherever they are processed.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import replace
from typing import NamedTuple

from schemas import ActivityLogged, LeadConverted, LeadCreated, QuotaSet

from ..settings import RulesSettings, Settings, rules_for_team
from .deal_engine import RepPartitionSnapshot, SharedView
from .figures import (
    DealIndex,
    LeadIndex,
    RepFigures,
    TeamRead,
    TeamReads,
    TeamSums,
    Windows,
    rep_figures,
)
from .rules.alerting import AlertDraft
from .rules.rep_rules import RepInputs, judge_rep
from .state.activity import ActivityDay, TouchIndex, add_activity, bucket_key
from .state.rep import (
    DealSummary,
    LeadEntry,
    RepState,
    apply_lead,
    apply_quota,
    apply_summary,
    note_bucket_day,
    note_lead_touch,
)
from .timeutil import DAY, to_epoch

__all__ = ["RepEngine"]

_DEAL_RETENTION = 100 * DAY  # closed deals beyond the longest deal window (90 days)
_LEAD_RETENTION = 35 * DAY
_QUOTA_RETENTION = 400 * DAY
_TEAM_WINDOW = 90 * DAY  # the window of the team baseline (RepFigures.win90)
# a moment a rule names is waited for this much early, so rounding in its arithmetic
# can never make the rep judged a boundary late
_MARGIN = 60.0


class _Offsets(NamedTuple):
    """Window offsets by kind of moment (see RepEngine._window_offsets)."""

    touches: tuple[float, ...]
    deals: tuple[float, ...]
    leads: tuple[float, ...]
    others: tuple[float, ...]  # first seen, quota periods


# a rep's part of its team's baseline: (team, won, lost, stage exits as (key, n, forward))
_Part = tuple[str, int, int, tuple[tuple[str, int, int], ...]]


class _RepIndexes:
    """What the judging of one rep derives from its state and buckets, kept between
    boundaries: each part says which object it was derived from, and is derived anew
    when that is no longer the rep's (state parts and buckets are values: a change is
    a new object). Nothing here is stored; a restarted worker derives it again."""

    __slots__ = (
        "days_of",
        "deals",
        "deals_of",
        "keys",
        "leads",
        "leads_of",
        "prune_at",
        "prune_of",
        "touches",
    )

    def __init__(self) -> None:
        self.deals_of: Mapping[str, DealSummary] | None = None
        self.deals: DealIndex | None = None
        self.leads_of: Mapping[str, LeadEntry] | None = None
        self.leads: LeadIndex | None = None
        self.days_of: tuple[float, ...] | None = None
        self.keys: list[str] = []  # the bucket keys of ``days_of``, in day order
        self.touches = TouchIndex()
        self.prune_of: tuple[object, ...] | None = None  # the parts _pruned last returned
        self.prune_at = -math.inf


class RepEngine:
    def __init__(
        self,
        settings: Settings,
        reps: MutableMapping[str, RepState],
        buckets: MutableMapping[str, ActivityDay],
        clocks: MutableMapping[str, float],
        view: SharedView,
        *,
        judge_every_boundary: bool = False,
    ) -> None:
        self.settings = settings
        self.reps = reps
        self.buckets = buckets
        self.clocks = clocks  # per partition: the last rule boundary judged
        self.view = view
        self.interval = settings.rep_rules_interval_seconds
        self.every_boundary = judge_every_boundary
        self.judged = 0  # judgings of reps so far (what the schedule saves is counted here)
        self.rep_ids: dict[int, set[str]] = {}
        self._rules: dict[str | None, RulesSettings] = {}
        self._indexes: dict[str, _RepIndexes] = {}  # derived from the stores, rebuilt at will
        # --- the schedule (derived, not stored: a restarted worker judges every rep of a
        # partition at its next boundary and schedules from there) ---
        self._wake: dict[str, float] = {}  # rep -> the boundary it must be judged at, at the latest
        self._heaps: dict[int, list[tuple[float, str]]] = {}  # per partition, lazily pruned
        self._parts: dict[str, _Part] = {}  # rep -> its part of its team's baseline
        self._sums: dict[int, dict[str, TeamSums]] = {}  # per partition: its reps' parts added
        self._sums_at: dict[int, float] = {}  # the boundary ``_sums`` of a partition is at
        self._reads: dict[str, tuple[int, str, dict[TeamRead, float | None]]] = {}
        self._readers: dict[tuple[int, str], set[str]] = {}  # reps that read a team's values
        self._seen: dict[tuple[int, str], TeamSums] = {}  # a team's total at the last boundary
        self._round: tuple[float, dict[int, list[str]], dict[str, Windows]] | None = None
        self._org_version = view.reps_version  # the org chart the schedule has seen
        rules = settings.rules
        windows = [
            rules.activity_drop.window_days + 7 * rules.activity_drop.baseline_weeks,
            rules.low_contact_rate.window_days,
            30,
        ]
        for team in settings.teams.values():
            rd = team.rules.get("activity_drop", {})
            windows.append(
                rd.get("window_days", rules.activity_drop.window_days)
                + 7 * rd.get("baseline_weeks", rules.activity_drop.baseline_weeks)
            )
            windows.append(
                team.rules.get("low_contact_rate", {}).get(
                    "window_days", rules.low_contact_rate.window_days
                )
            )
        self.bucket_retention = (max(windows) + 1) * DAY
        self._offsets = self._window_offsets()

    def _window_offsets(self) -> _Offsets:
        """For each kind of moment of a rep, every length by which a window the rules read
        of that kind starts or ends before ``as_of`` (with the team baseline's): a moment
        ``t`` changes such a window at ``t + offset`` for one of these. (The KPIs' other
        windows are worked out when a report asks, not judged.)"""
        touches, deals, leads, others = {0.0}, {0.0, _TEAM_WINDOW}, {0.0}, {0.0}
        for rules in [self.settings.rules, *(self.rules_for(t) for t in self.settings.teams)]:
            drop = rules.activity_drop
            barometer = rules.activity_barometer
            baseline = (drop.window_days + 7 * drop.baseline_weeks) * DAY
            touches.update((rules.low_contact_rate.window_days * DAY, drop.window_days * DAY))
            touches.add(baseline)
            others.add(baseline)  # first seen: enough history for the baseline
            deals.update(
                d * DAY
                for d in (
                    rules.conversion_drop.window_days,
                    rules.win_rate_outlier.window_days,
                    barometer.window_days,
                    barometer.history_days,
                )
            )
            leads.update(
                d * DAY
                for d in (
                    rules.leads_uncontacted.window_days,
                    rules.leads_uncontacted.within_days,
                )
            )
        return _Offsets(*(tuple(sorted(kind)) for kind in (touches, deals, leads, others)))

    # --- ownership -------------------------------------------------------------------
    @property
    def owned(self) -> set[int]:
        return set(self.rep_ids)

    def assign(self, partitions: Iterable[int]) -> int:
        """Take partitions over (their reps are in the stores): every rep of them is
        judged at its next boundary, which schedules it from there."""
        wanted = set(partitions) - self.owned
        if not wanted:
            return 0
        for partition in wanted:
            self.rep_ids[partition] = set()
        count = 0
        for state in list(self.reps.values()):
            if state.partition in wanted:
                self.rep_ids[state.partition].add(state.rep_id)
                self._due(state.rep_id, state.partition, -math.inf)
                count += 1
        return count

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            for rep_id in self.rep_ids.pop(partition, ()):
                self._indexes.pop(rep_id, None)
                self._wake.pop(rep_id, None)
                self._parts.pop(rep_id, None)
                self._reads.pop(rep_id, None)
            self._heaps.pop(partition, None)
            self._sums.pop(partition, None)
            self._sums_at.pop(partition, None)
            for key in [k for k in (*self._readers, *self._seen) if k[0] == partition]:
                self._readers.pop(key, None)
                self._seen.pop(key, None)
        self._round = None

    def org_changed(self) -> None:
        """The org chart changed (a rep's team, perhaps): every rep is judged at its next
        boundary, with its team as the chart now says."""
        for partition, rep_ids in self.rep_ids.items():
            for rep_id in rep_ids:
                self._due(rep_id, partition, -math.inf)

    def _due(self, rep_id: str, partition: int, boundary: float) -> None:
        """Judge the rep at ``boundary`` at the latest (at once when it has passed)."""
        if boundary < self._wake.get(rep_id, math.inf):
            self._wake[rep_id] = boundary
            heapq.heappush(self._heaps.setdefault(partition, []), (boundary, rep_id))

    def _changed(self, rep_id: str, partition: int, at: float) -> None:
        """Something of the rep happened at ``at``: judged at the first boundary after it."""
        if at == -math.inf:  # (``-inf // interval`` is nan)
            self._due(rep_id, partition, at)
        else:
            self._due(rep_id, partition, (at // self.interval + 1) * self.interval)

    def rules_for(self, team_id: str | None) -> RulesSettings:
        if team_id not in self._rules:
            self._rules[team_id] = rules_for_team(self.settings, team_id)
        return self._rules[team_id]

    def team_of(self, state: RepState) -> str | None:
        rep = self.view.reps.get(state.rep_id)
        return rep.team_id if rep is not None else state.event_team()

    # --- stores ----------------------------------------------------------------------
    def rep(self, rep_id: str) -> RepState | None:
        return self.reps.get(rep_id)

    def _put_rep(self, state: RepState) -> None:
        self.reps[state.rep_id] = state
        ids = self.rep_ids.get(state.partition)
        if ids is None:
            ids = self.rep_ids[state.partition] = set()
        ids.add(state.rep_id)

    def days_of(self, state: RepState, start: float, end: float) -> list[ActivityDay]:
        days = []
        for day in state.bucket_days:
            if day + DAY > start and day < end:
                bucket = self.buckets.get(bucket_key(state.rep_id, day))
                if bucket is not None:
                    days.append(bucket)
        return days

    # --- events ----------------------------------------------------------------------
    def on_activity(self, event: ActivityLogged, partition: int) -> bool:
        """Count the touch; returns whether it changed anything."""
        if partition not in self.rep_ids:
            self.assign([partition])
        at = to_epoch(event.occurred_at)
        day = at - (at % DAY)
        rep_id = event.rep_id
        key = f"{rep_id}|{int(day)}"  # bucket_key
        bucket, changed = add_activity(self.buckets.get(key), event, at)
        if not changed:
            return False
        self.buckets[key] = bucket
        state = self.reps.get(rep_id)
        new = note_bucket_day(state, rep_id, day, at, event.team_id, event.event_id, partition)
        if event.lead_id and event.direction == "outbound":
            new = note_lead_touch(new, event.lead_id, at)
        if new is not state:
            self._put_rep(new)
        self._changed(rep_id, partition, at)
        return True

    def on_lead(self, event: LeadCreated | LeadConverted, partition: int) -> bool:
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_lead(self.reps.get(event.rep_id), event, partition)
        if changed:
            self._put_rep(new)
            self._changed(event.rep_id, partition, to_epoch(event.occurred_at))
        return changed

    def on_quota(self, event: QuotaSet, partition: int) -> bool:
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_quota(self.reps.get(event.rep_id), event, partition)
        if changed:
            self._put_rep(new)
            self._changed(event.rep_id, partition, to_epoch(event.occurred_at))
        return changed

    def on_summary(
        self, rep_id: str, summary: DealSummary, partition: int, at: float = -math.inf
    ) -> bool:
        """A deal summary, sent at ``at`` (the moment of the deal's event; unknown: the
        rep is judged at the next boundary)."""
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_summary(self.reps.get(rep_id), rep_id, summary, partition)
        if changed:
            self._put_rep(new)
            self._changed(rep_id, partition, at)
        return changed

    def snapshot(self, partition: int) -> RepPartitionSnapshot:
        """The partition's teams' sums as of its last judged boundary (KPIs of the teams)."""
        as_of = self.clocks.get(str(partition))
        if as_of is None:
            return RepPartitionSnapshot(partition, None, {})
        return RepPartitionSnapshot(partition, as_of, self.local_team_sums(partition, as_of))

    # --- judging ---------------------------------------------------------------------
    def boundary(self, now: float) -> float:
        return math.floor(now / self.interval) * self.interval

    def _first_boundary(self, state: RepState, judged: float | None) -> float | None:
        if state.first_seen is None:
            return None
        first = (math.floor(state.first_seen / self.interval) + 1) * self.interval
        return first if judged is None else max(first, judged + self.interval)

    def windows(self, state: RepState, as_of: float) -> Windows:
        """The rep's windows ending at ``as_of`` over the activity days of ``days_of``."""
        index = self._indexes.get(state.rep_id)
        if index is None:
            index = self._indexes[state.rep_id] = _RepIndexes()
        if index.deals_of is not state.deals:
            index.deals = (
                DealIndex(state.deals, self._convert)
                if index.deals is None
                else index.deals.updated(state.deals, self._convert)
            )
            index.deals_of = state.deals
        if index.leads_of is not state.leads:
            index.leads = LeadIndex(state.leads)
            index.leads_of = state.leads
        if index.days_of is not state.bucket_days:
            index.keys = [bucket_key(state.rep_id, day) for day in sorted(state.bucket_days)]
            index.days_of = state.bucket_days
        get = self.buckets.get
        buckets = [b for b in [get(key) for key in index.keys] if b is not None]
        index.touches = index.touches.updated(buckets)
        return Windows(
            state,
            (),
            self._convert,
            deals=index.deals,
            leads=index.leads,
            touches=index.touches,
            lo=as_of - self.bucket_retention,
            hi=as_of,
        )

    def figures(self, state: RepState, as_of: float) -> RepFigures:
        return rep_figures(self.windows(state, as_of), as_of)

    def _convert(self, amount: float, currency: str | None) -> float:
        return self.settings.to_reporting(amount, currency)[0]

    def local_team_sums(self, partition: int, as_of: float) -> dict[str, TeamSums]:
        """The partition's teams' sums at ``as_of``, every figure, from its reps' state."""
        sums: dict[str, TeamSums] = {}
        for rep_id in sorted(self.rep_ids.get(partition, ())):
            state = self.rep(rep_id)
            if state is None or state.first_seen is None or state.first_seen >= as_of:
                continue
            team = self.team_of(state) or ""
            sums.setdefault(team, TeamSums()).add_rep(self.figures(state, as_of))
        return sums

    def local_sums_at(self, as_of: float) -> dict[int, dict[str, TeamSums]]:
        """This process's partitions' team baselines at a boundary (:meth:`TeamSums.baseline`):
        what a partition publishes for the others to judge the same boundary with.

        Takes the partitions judged before ``as_of`` there: the reps due at it are found and
        their parts of the baselines brought up to it (once per boundary; the judging of
        the boundary then goes on from there). A partition already judged past it (taken
        over from another process, this one is behind) has its sums worked out anew.
        """
        if self._round is None or self._round[0] != as_of:
            self._start_round(as_of)
        local: dict[int, dict[str, TeamSums]] = {}
        for partition in sorted(self.rep_ids):
            at = self._sums_at.get(partition)
            if at == as_of or (
                # judged up to ``as_of`` with no rep due since the sums were brought up
                at is not None
                and self.clocks.get(str(partition)) == as_of
                and self._next_due(partition) > as_of
            ):
                local[partition] = self._sums.get(partition, {})
            else:
                local[partition] = {
                    team: sums.baseline()
                    for team, sums in self.local_team_sums(partition, as_of).items()
                }
        return local

    def _start_round(self, as_of: float) -> None:
        """The reps due at ``as_of`` in the partitions not yet judged there, and their parts
        of the team baselines brought up to it."""
        if self._org_version != self.view.reps_version:
            self._org_version = self.view.reps_version
            self.org_changed()
        due: dict[int, list[str]] = {}
        windows: dict[str, Windows] = {}
        for partition in sorted(self.rep_ids):
            judged = self.clocks.get(str(partition))
            if judged is not None and judged >= as_of:
                continue
            heap = self._heaps.get(partition)
            found: set[str] = set()
            if self.every_boundary:
                found.update(self.rep_ids[partition])
            while heap and heap[0][0] <= as_of:
                moment, rep_id = heapq.heappop(heap)
                if self._wake.get(rep_id) == moment:
                    del self._wake[rep_id]
                    found.add(rep_id)
            sums = self._sums.setdefault(partition, {})
            taken: list[str] = []
            for rep_id in sorted(found):
                state = self.rep(rep_id)
                if state is None or state.first_seen is None or state.first_seen >= as_of:
                    # not judged yet (nothing before the boundary): again when it is
                    if state is not None and state.first_seen is not None:
                        self._changed(rep_id, partition, state.first_seen)
                    self._set_part(rep_id, sums, None)
                    continue
                taken.append(rep_id)
                w = windows[rep_id] = self.windows(state, as_of)
                win = w.deals(as_of - _TEAM_WINDOW, as_of)
                exits = tuple((k, n, f) for k, (n, f) in win.exits.items())
                self._set_part(rep_id, sums, (self.team_of(state) or "", win.won, win.lost, exits))
            due[partition] = taken
            self._sums_at[partition] = as_of
        self._round = (as_of, due, windows)

    def _set_part(self, rep_id: str, sums: dict[str, TeamSums], part: _Part | None) -> None:
        """Replace the rep's part of its partition's team baselines."""
        old = self._parts.get(rep_id)
        if old == part:
            return
        if old is not None:
            total = sums[old[0]]
            total.won -= old[1]
            total.lost -= old[2]
            for key, n, forward in old[3]:
                entry = total.exits[key]
                entry[0] -= n
                entry[1] -= forward
                if entry[0] == 0 and entry[1] == 0:
                    del total.exits[key]
            total.reps -= 1
            if total.reps == 0:
                del sums[old[0]]
        if part is None:
            self._parts.pop(rep_id, None)
            return
        self._parts[rep_id] = part
        team = sums.get(part[0])
        if team is None:
            team = sums[part[0]] = TeamSums()
        team.reps += 1
        team.won += part[1]
        team.lost += part[2]
        for key, n, forward in part[3]:
            pair = team.exits.get(key)
            if pair is None:
                pair = team.exits[key] = [0, 0]
            pair[0] += n
            pair[1] += forward

    def teams_at(self, as_of: float) -> dict[str, TeamSums]:
        """Every team's baseline at a boundary: this process's partitions at that very
        boundary, plus every other partition's at the same boundary (from the shared
        view: the caller waits until they are there, see Processor).

        Figures at a boundary only count what happened before it, so every rep of a team
        is compared with the same baseline, wherever and whenever it is judged.
        """
        local = self.local_sums_at(as_of)
        total: dict[str, TeamSums] = {}
        parts: list[Mapping[str, TeamSums]] = list(local.values())
        remote = {p for p, _ in self.view.team_sums if p not in local}
        for partition in sorted(remote):
            found = self.view.team_sums_at(partition, as_of)
            if found is not None:
                parts.append(found)
        for part in parts:
            for team, sums in part.items():
                total.setdefault(team, TeamSums()).add(sums)  # only baselines are read
        if remote:
            # keep what any partition here may still judge: one taken over from another
            # process walks boundaries from its own clock, behind this one
            oldest = self.judged_until(self.rep_ids)
            keep_from = min(as_of, oldest if oldest is not None else as_of) - DAY
            for key in [k for k in self.view.team_sums if k[1] < keep_from]:
                del self.view.team_sums[key]
        return total

    def judged_until(self, partitions: Iterable[int]) -> float | None:
        """The last boundary every one of ``partitions`` has been judged at (None: one
        of them never was). A partition keeps its own: one taken over from another
        process may be behind the others."""
        moments = [self.clocks.get(str(p)) for p in partitions]
        if not moments or any(m is None for m in moments):
            return None
        return min(m for m in moments if m is not None)

    def start_clocks(self, partitions: Iterable[int], moment: float) -> None:
        """Partitions never judged start judging after ``moment`` (a boundary just before
        the first record they take): kept with the clocks, so time does not start again
        at a later record when the next run finds them still unjudged."""
        for partition in partitions:
            self.clocks.setdefault(str(partition), moment)

    def on_tick(self, partition: int, now: float) -> list[AlertDraft]:
        """Judge the partition's reps at every boundary up to ``now``; prune old state.

        Idempotent: boundaries already judged are not judged again.
        """
        return self.on_ticks([partition], now)

    def on_ticks(self, partitions: Iterable[int], now: float) -> list[AlertDraft]:
        """:meth:`on_tick` for several partitions at once, boundary by boundary (so each
        boundary's team baselines are worked out once, however many partitions judge it).

        Boundaries where no rep is due are passed over when no other process tells team
        sums (nothing can change at them then); with other processes' sums each boundary
        is taken in turn, since a change of theirs can make a rep here due.
        """
        partitions = sorted(partitions)
        self.assign(partitions)
        last = self.boundary(now)
        interval = self.interval
        clocks = self.clocks
        for partition in partitions:
            if clocks.get(str(partition)) is None:
                # never judged: from the first boundary any of its reps is judged at
                firsts = [
                    self._first_boundary(state, None)
                    for state in map(self.rep, self.rep_ids[partition])
                    if state is not None
                ]
                first = min((f for f in firsts if f is not None), default=math.inf)
                clocks[str(partition)] = min(first - interval, last)
        stepwise = self.every_boundary or bool(self.view.team_sums)
        drafts: list[AlertDraft] = []
        while True:
            behind = [p for p in partitions if clocks[str(p)] < last]
            if not behind:
                break
            if stepwise:
                as_of = min(clocks[str(p)] + interval for p in behind)
            else:
                as_of = min(max(clocks[str(p)] + interval, self._next_due(p)) for p in behind)
            as_of = min(as_of, last)
            drafts.extend(self._judge_round(behind, as_of))
            for partition in behind:
                if clocks[str(partition)] < as_of:
                    clocks[str(partition)] = as_of
        return drafts

    def _next_due(self, partition: int) -> float:
        """The earliest boundary a rep of the partition is due at (inf: none)."""
        heap = self._heaps.get(partition)
        while heap and self._wake.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # an entry an earlier one replaced, or one already taken
        return heap[0][0] if heap else math.inf

    def _judge_round(self, partitions: list[int], as_of: float) -> list[AlertDraft]:
        """Judge, at ``as_of``, the reps of ``partitions`` that are due there, and those
        whose team values read at their last judging are not the team's values now."""
        teams = self.teams_at(as_of)
        assert self._round is not None and self._round[0] == as_of
        _, due, windows = self._round
        drafts: list[AlertDraft] = []
        for partition in partitions:
            if partition not in due:
                continue  # judged at or past ``as_of`` already
            reps = set(due.pop(partition))
            # Every reader's values are the team's as of the last boundary judged here (it
            # was judged again where they changed), so only teams whose sums changed since
            # can have readers to judge again.
            keys = {team for (p, team) in self._seen if p == partition} | set(teams)
            for team in keys:
                key = (partition, team)
                total = teams.get(team)
                seen = self._seen.get(key)
                if _same_baseline(seen, total):
                    continue
                if total is None:
                    self._seen.pop(key, None)
                else:
                    self._seen[key] = total.baseline()
                for rep_id in self._readers.get(key, ()):
                    if rep_id not in reps and TeamReads.changed(self._reads[rep_id][2], total):
                        reps.add(rep_id)
            for rep_id in sorted(reps):
                state = self.rep(rep_id)
                if state is None or state.first_seen is None or state.first_seen >= as_of:
                    continue
                w = windows.get(rep_id) or self.windows(state, as_of)
                drafts.extend(self._judge(partition, state, w, as_of, teams))
        return drafts

    def _judge(
        self,
        partition: int,
        state: RepState,
        w: Windows,
        as_of: float,
        teams: Mapping[str, TeamSums],
    ) -> list[AlertDraft]:
        """Judge one rep at ``as_of``; keep its new state and schedule its next judging."""
        team = self.team_of(state)
        key = team or ""
        reads = TeamReads(teams.get(key))
        inputs = RepInputs(state=state, w=w, as_of=as_of, rules=self.rules_for(team), team=reads)
        new, found = judge_rep(inputs, team)
        self.judged += 1
        new = self._pruned(new, as_of)
        if new is not state and new != state:
            self._put_rep(new)
        rep_id = state.rep_id
        old = self._reads.pop(rep_id, None)
        if old is not None:
            readers = self._readers.get((old[0], old[1]))
            if readers is not None:
                readers.discard(rep_id)
        if reads.read:
            self._reads[rep_id] = (partition, key, reads.read)
            self._readers.setdefault((partition, key), set()).add(rep_id)
        self._due(rep_id, partition, self._next_judging(new, w, as_of, inputs.moments))
        return found

    def _next_judging(
        self, state: RepState, w: Windows, as_of: float, moments: list[float]
    ) -> float:
        """The first boundary after ``as_of`` where judging the rep may come out otherwise
        than at ``as_of`` with no new event: a window edge passing one of its moments, a
        moment its rules named, the end of a ``for`` or ``keep_firing_for``, a pruning."""
        interval = self.interval
        if self.every_boundary:
            return as_of + interval
        offsets = self._offsets
        edge = math.inf
        for kind_next, kind_offsets in (
            (w.touch_index.next_moment, offsets.touches),
            (w.deal_index.next_moment, offsets.deals),
            (w.lead_index.next_moment, offsets.leads),
        ):
            for offset in kind_offsets:
                edge = min(edge, kind_next(as_of - offset) + offset)
        others = sorted(
            [
                *([state.first_seen] if state.first_seen is not None else []),
                *(m for q in state.quotas.values() for m in (q.period_start, q.period_end)),
            ]
        )
        for offset in offsets.others:
            for moment in others:
                if moment >= as_of - offset:
                    edge = min(edge, moment + offset)
                    break
        named = [m - _MARGIN for m in moments]
        rules = self.rules_for(self.team_of(state))
        for name, since in state.pending.items():
            named.append(since + getattr(rules, name).for_seconds)
        for name, episode in state.episodes.items():
            if episode.false_since is not None:
                named.append(episode.false_since + getattr(rules, name).keep_firing_for_seconds)
        index = self._indexes.get(state.rep_id)
        if index is not None and index.prune_at != -math.inf:
            named.append(index.prune_at)
        soonest = min([edge, *named])
        if soonest == math.inf:
            return math.inf
        return max(as_of + interval, math.floor(soonest / interval) * interval)

    def _pruned(self, state: RepState, as_of: float) -> RepState:
        """The state without what no window reaches any more (and its old buckets deleted)."""
        index = self._indexes.get(state.rep_id)
        parts = (state.bucket_days, state.deals, state.leads, state.quotas)
        if (
            index is not None
            and index.prune_of is not None
            and as_of < index.prune_at
            and all(map(operator.is_, parts, index.prune_of))
        ):
            return state
        new = self._prune(state, as_of)
        if index is not None:
            index.prune_of = (new.bucket_days, new.deals, new.leads, new.quotas)
            index.prune_at = self._next_prune(new)
        return new

    def _next_prune(self, state: RepState) -> float:
        """A moment before which :meth:`_prune` removes nothing from ``state``, early
        rather than late (a second of slack against rounding)."""
        quotas = state.quotas.values()
        moments = [day + DAY + self.bucket_retention for day in state.bucket_days]
        for deal in state.deals.values():
            if not deal.is_open and deal.closed_at is not None:
                # kept while a quota period it counts towards runs
                held = [q.period_end for q in quotas if q.period_start <= deal.closed_at]
                moments.append(max([deal.closed_at + _DEAL_RETENTION, *held]))
        moments += [
            v.created_at + _LEAD_RETENTION for v in state.leads.values() if v.created_at is not None
        ]
        moments += [q.period_end + _QUOTA_RETENTION for q in quotas]
        return min(moments, default=math.inf) - 1.0

    def _prune(self, state: RepState, as_of: float) -> RepState:
        old_days = [d for d in state.bucket_days if d + DAY <= as_of - self.bucket_retention]
        for day in old_days:
            key = bucket_key(state.rep_id, day)
            if key in self.buckets:
                del self.buckets[key]
        # closed deals are kept for the longest deal window, and for as long as a quota
        # period they may count towards is still running
        keep_from = min(
            [as_of - _DEAL_RETENTION]
            + [q.period_start for q in state.quotas.values() if q.period_end > as_of]
        )
        deals = {
            k: d
            for k, d in state.deals.items()
            if d.is_open or d.closed_at is None or d.closed_at >= keep_from
        }
        leads = {
            k: v
            for k, v in state.leads.items()
            if v.created_at is None or v.created_at >= as_of - _LEAD_RETENTION
        }
        quotas = {k: q for k, q in state.quotas.items() if q.period_end >= as_of - _QUOTA_RETENTION}
        if (
            not old_days
            and len(deals) == len(state.deals)
            and len(leads) == len(state.leads)
            and len(quotas) == len(state.quotas)
        ):
            return state
        days = tuple(d for d in state.bucket_days if d not in old_days)
        return replace(state, bucket_days=days, deals=deals, leads=leads, quotas=quotas)


def _same_baseline(a: TeamSums | None, b: TeamSums | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.won == b.won and a.lost == b.lost and a.exits == b.exits
