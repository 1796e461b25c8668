"""The rep side of the processing core, shared by the live worker and replays.

:class:`RepEngine` owns, for the partitions of the rep-keyed topics assigned
to this process, the rep states and the activity day buckets (two
``MutableMapping`` stores: Faust tables in a worker, dicts in a replay). It
applies events and deal summaries, keeps a watermark per partition to tell
late events, and judges the rep rules at every rule boundary that the
partition's clock passes. It does no I/O and reads no clock.

Team baselines: a partition computes its teams' :class:`TeamSums` at the
boundary it judges; the other partitions' newest sums come from their
snapshots (:class:`~streamer.core.deal_engine.SharedView`), so a team's baseline covers
all its reps wherever they are processed.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import replace

from schemas import ActivityLogged, LeadConverted, LeadCreated, QuotaSet

from ..settings import RulesSettings, Settings, rules_for_team
from .deal_engine import RepPartitionSnapshot, SharedView
from .figures import DealIndex, LeadIndex, RepFigures, TeamSums, Windows, rep_figures
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
    ) -> None:
        self.settings = settings
        self.reps = reps
        self.buckets = buckets
        self.clocks = clocks  # per partition: the last rule boundary judged
        self.view = view
        self.interval = settings.rep_rules_interval_seconds
        self.rep_ids: dict[int, set[str]] = {}
        self.team_sums: dict[int, tuple[float, dict[str, TeamSums]]] = {}
        self._rules: dict[str | None, RulesSettings] = {}
        self._teams_cache: (
            tuple[
                float,
                dict[int, dict[str, TeamSums]],
                dict[str, Windows],
                dict[str, TeamSums] | None,
            ]
            | None
        ) = None
        self._indexes: dict[str, _RepIndexes] = {}  # derived from the stores, rebuilt at will
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

    # --- ownership -------------------------------------------------------------------
    @property
    def owned(self) -> set[int]:
        return set(self.rep_ids)

    def assign(self, partitions: Iterable[int]) -> int:
        wanted = set(partitions) - self.owned
        if not wanted:
            return 0
        for partition in wanted:
            self.rep_ids[partition] = set()
        count = 0
        for state in list(self.reps.values()):
            if state.partition in wanted:
                self.rep_ids[state.partition].add(state.rep_id)
                count += 1
        return count

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            for rep_id in self.rep_ids.pop(partition, ()):
                self._indexes.pop(rep_id, None)
            self.team_sums.pop(partition, None)
        self._teams_cache = None

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
        return True

    def on_lead(self, event: LeadCreated | LeadConverted, partition: int) -> bool:
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_lead(self.reps.get(event.rep_id), event, partition)
        if changed:
            self._put_rep(new)
        return changed

    def on_quota(self, event: QuotaSet, partition: int) -> bool:
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_quota(self.reps.get(event.rep_id), event, partition)
        if changed:
            self._put_rep(new)
        return changed

    def on_summary(self, rep_id: str, summary: DealSummary, partition: int) -> bool:
        if partition not in self.rep_ids:
            self.assign([partition])
        new, changed = apply_summary(self.reps.get(rep_id), rep_id, summary, partition)
        if changed:
            self._put_rep(new)
        return changed

    def snapshot(self, partition: int) -> RepPartitionSnapshot:
        as_of, teams = self.team_sums.get(partition, (None, {}))
        return RepPartitionSnapshot(partition, as_of, teams)

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

    def local_team_sums(
        self, partition: int, as_of: float, windows: dict[str, Windows] | None = None
    ) -> dict[str, TeamSums]:
        sums: dict[str, TeamSums] = {}
        for rep_id in sorted(self.rep_ids.get(partition, ())):
            state = self.rep(rep_id)
            if state is None or state.first_seen is None or state.first_seen >= as_of:
                continue
            w = self.windows(state, as_of)
            if windows is not None:
                windows[rep_id] = w
            team = self.team_of(state) or ""
            sums.setdefault(team, TeamSums()).add_rep(rep_figures(w, as_of))
        return sums

    def local_sums_at(self, as_of: float) -> dict[int, dict[str, TeamSums]]:
        """This process's partitions' team sums at a boundary (computed once per boundary,
        with the windows the judging then reuses). What a partition publishes for the
        others to judge the same boundary with."""
        if self._teams_cache is None or self._teams_cache[0] != as_of:
            windows: dict[str, Windows] = {}
            local: dict[int, dict[str, TeamSums]] = {}
            for partition in sorted(self.rep_ids):
                local[partition] = self.local_team_sums(partition, as_of, windows)
                self.team_sums[partition] = (as_of, local[partition])
            self._teams_cache = (as_of, local, windows, None)
        return self._teams_cache[1]

    def teams_at(self, as_of: float) -> tuple[dict[str, TeamSums], dict[str, Windows]]:
        """Every team's sums at a boundary: this process's partitions computed at that very
        boundary, plus every other partition's sums at the same boundary (from the shared
        view: the caller waits until they are there, see Processor).

        Figures at a boundary only count what happened before it, so every rep of a team
        is compared with the same baseline, wherever and whenever it is judged.
        """
        self.local_sums_at(as_of)
        assert self._teams_cache is not None
        _, local, windows, total = self._teams_cache
        if total is None:
            total = {}
            parts: list[Mapping[str, TeamSums]] = list(local.values())
            remote = {p for p, _ in self.view.team_sums if p not in local}
            for partition in sorted(remote):
                found = self.view.team_sums_at(partition, as_of)
                if found is not None:
                    parts.append(found)
            for part in parts:
                for team, sums in part.items():
                    total.setdefault(team, TeamSums()).add(sums)
            self._teams_cache = (as_of, local, windows, total)
            # keep what any partition here may still judge: one taken over from another
            # process walks boundaries from its own clock, behind this one
            oldest = self.judged_until(self.rep_ids)
            keep_from = min(as_of, oldest if oldest is not None else as_of) - DAY
            for key in [k for k in self.view.team_sums if k[1] < keep_from]:
                del self.view.team_sums[key]
        return total, windows

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
        """Judge every rep of the partition at every boundary up to ``now``; prune old state.

        Idempotent: boundaries already judged are not judged again.
        """
        return self.on_ticks([partition], now)

    def on_ticks(self, partitions: Iterable[int], now: float) -> list[AlertDraft]:
        """:meth:`on_tick` for several partitions at once, boundary by boundary (so each
        boundary's team sums are computed once, however many partitions judge it)."""
        partitions = sorted(partitions)
        self.assign(partitions)
        last = self.boundary(now)
        pending: dict[float, list[str]] = {}
        for partition in partitions:
            judged = self.clocks.get(str(partition))
            for rep_id in sorted(self.rep_ids[partition]):
                state = self.rep(rep_id)
                first = self._first_boundary(state, judged) if state is not None else None
                if first is None or first > last:
                    continue
                steps = int(round((last - first) / self.interval))
                for i in range(steps + 1):
                    pending.setdefault(first + i * self.interval, []).append(rep_id)
        drafts: list[AlertDraft] = []
        for as_of in sorted(pending):
            teams, windows = self.teams_at(as_of)
            for rep_id in pending[as_of]:
                state = self.rep(rep_id)
                assert state is not None
                team = self.team_of(state)
                inputs = RepInputs(
                    state=state,
                    w=windows.get(rep_id) or self.windows(state, as_of),
                    as_of=as_of,
                    rules=self.rules_for(team),
                    team=teams.get(team or ""),
                )
                new, found = judge_rep(inputs, team)
                drafts.extend(found)
                new = self._pruned(new, as_of)
                if new is not state and new != state:
                    self._put_rep(new)
        for partition in partitions:
            judged = self.clocks.get(str(partition))
            if last > (judged if judged is not None else -math.inf):
                self.clocks[str(partition)] = last
        return drafts

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
