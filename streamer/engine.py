"""The processing core shared by the live worker and replays.

:class:`DealEngine` owns the deal state of the partitions assigned to this
process, over any ``MutableMapping`` (a Faust table in a worker, a dict in a
replay or a test), and the in-memory structures derived from it: the stall
index and the per-partition stage statistics. It turns events and the
passing of time into alert drafts. It does no I/O and reads no clock: the
caller passes ``now``.

Cross-partition facts (the global stage averages, the global event-time
watermark, the org chart) come in through :class:`SharedView`, which a
worker fills from compacted topics and a replay fills directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

from schemas import Alert, AlertSubject, DealEvent, RepUpserted

from .rules.alerting import AlertDraft
from .rules.deal_stalled import StageBaseline, baseline, evaluate_stalled
from .settings import Settings
from .state.deal import DealState, apply_deal_event
from .state.stage_stats import StageKey, StageStat, StageStats, combine, from_wire
from .state.stall_index import StallIndex
from .timeutil import from_epoch, to_epoch

__all__ = ["DealEngine", "PartitionSnapshot", "RepInfo", "SharedView"]


@dataclass(frozen=True, slots=True)
class RepInfo:
    rep_id: str
    name: str
    team_id: str
    manager_id: str
    at: float
    event_id: str
    email: str | None = None
    slack_user_id: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class PartitionSnapshot:
    """What one partition tells the others: its stage statistics and watermark."""

    partition: int
    watermark: float | None
    stages: Mapping[StageKey, StageStat]
    open_deals: Mapping[StageKey, int] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "partition": self.partition,
            "watermark": self.watermark,
            "stages": {k: [v.total_seconds, v.count] for k, v in sorted(self.stages.items())},
            "open_deals": dict(sorted(self.open_deals.items())),
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> PartitionSnapshot:
        return cls(
            int(data["partition"]),
            data.get("watermark"),
            from_wire(data["stages"]),
            {k: int(v) for k, v in data.get("open_deals", {}).items()},
        )


class SharedView:
    """Facts from other partitions and workers: snapshots and the org chart."""

    def __init__(self) -> None:
        self.snapshots: dict[int, PartitionSnapshot] = {}
        self.reps: dict[str, RepInfo] = {}

    def put_snapshot(self, snapshot: PartitionSnapshot) -> None:
        self.snapshots[snapshot.partition] = snapshot

    def upsert_rep(self, event: RepUpserted) -> bool:
        """Keep the newest ``rep.upserted`` per rep; True when it changed the view."""
        at = to_epoch(event.occurred_at)
        current = self.reps.get(event.rep_id)
        if current is not None and (current.at, current.event_id) >= (at, event.event_id):
            return False
        self.reps[event.rep_id] = RepInfo(
            rep_id=event.rep_id,
            name=event.name,
            team_id=event.team_id,
            manager_id=event.manager_id,
            at=at,
            event_id=event.event_id,
            email=event.email,
            slack_user_id=event.slack_user_id,
            timezone=event.timezone,
        )
        return True


class DealEngine:
    """Deal state and ``deal_stalled`` for the partitions this process owns."""

    def __init__(self, settings: Settings, deals: MutableMapping[Any, Any], view: SharedView):
        self.settings = settings
        self.rule = settings.rules.deal_stalled
        self.deals = deals
        self.view = view
        self.indexes: dict[int, StallIndex] = {}
        self.partials: dict[int, StageStats] = {}
        self.watermarks: dict[int, float] = {}
        self._stats_cache: dict[StageKey, StageStat] | None = None

    # --- ownership -------------------------------------------------------------------
    @property
    def owned(self) -> set[int]:
        return set(self.indexes)

    def assign(self, partitions: Iterable[int]) -> int:
        """Rebuild the derived structures of newly owned partitions with one scan.

        Returns the number of deals indexed.
        """
        wanted = set(partitions) - self.owned
        if not wanted:
            return 0
        for partition in wanted:
            self.indexes[partition] = StallIndex()
            self.partials[partition] = StageStats()
        count = 0
        for raw in list(self.deals.values()):
            deal = DealState.from_dict(raw)
            if deal.partition in wanted:
                self.indexes[deal.partition].update(deal)
                self.partials[deal.partition].add(deal)
                if deal.marks:
                    # the event clock restarts from what the table proves was seen
                    self.observe(deal.partition, deal.marks[-1].at)
                count += 1
        self._stats_cache = None
        return count

    def revoke(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.indexes.pop(partition, None)
            self.partials.pop(partition, None)
            self.watermarks.pop(partition, None)
        self._stats_cache = None

    # --- time ------------------------------------------------------------------------
    def observe(self, partition: int, occurred_at: float) -> None:
        """Advance the partition's event-time watermark."""
        if occurred_at > self.watermarks.get(partition, float("-inf")):
            self.watermarks[partition] = occurred_at

    def event_time(self) -> float | None:
        """The global watermark less the allowed lateness (None before any event)."""
        marks = list(self.watermarks.values())
        marks += [
            s.watermark
            for p, s in self.view.snapshots.items()
            if s.watermark is not None and p not in self.watermarks
        ]
        if not marks:
            return None
        return max(marks) - self.settings.allowed_lateness_seconds

    # --- statistics ------------------------------------------------------------------
    def stage_stats(self) -> dict[StageKey, StageStat]:
        """Global statistics: own partitions live, others from their snapshots."""
        if self._stats_cache is None:
            parts: list[Mapping[StageKey, StageStat]] = [
                p.snapshot() for p in self.partials.values()
            ]
            parts += [s.stages for p, s in self.view.snapshots.items() if p not in self.partials]
            self._stats_cache = combine(parts)
        return self._stats_cache

    def invalidate_stats(self) -> None:
        self._stats_cache = None

    def baseline_for(self, key: StageKey) -> StageBaseline:
        stage = key.split("/", 1)[1] if "/" in key else key
        return baseline(self.stage_stats().get(key), stage, self.rule)

    def snapshot(self, partition: int) -> PartitionSnapshot:
        return PartitionSnapshot(
            partition,
            self.watermarks.get(partition),
            self.partials[partition].snapshot(),
            self.indexes[partition].open_counts(),
        )

    # --- events and ticks ------------------------------------------------------------
    def _load(self, deal_id: str) -> DealState | None:
        raw = self.deals.get(deal_id)
        return None if raw is None else DealState.from_dict(raw)

    def _store(self, partition: int, deal: DealState) -> None:
        self.deals[deal.deal_id] = deal.to_dict()
        self.indexes[partition].update(deal)

    def on_deal_event(
        self, event: DealEvent, partition: int, now: float
    ) -> tuple[bool, list[AlertDraft]]:
        """Apply a deal event; returns whether it changed anything and the alerts it ends."""
        self.assign([partition])
        self.observe(partition, to_epoch(event.occurred_at))
        old = self._load(event.deal_id)
        deal, changed = apply_deal_event(old, event, partition)
        if not changed:
            return False, []
        if old is not None and old.partition != partition:
            # The topic was re-partitioned: the deal now lives where its events arrive.
            if old.partition in self.indexes:
                self.indexes[old.partition].discard(old.deal_id)
                self.partials[old.partition].add(old, -1)
            old, deal = None, replace(deal, partition=partition)
        self.partials[partition].replace(old, deal)
        self._stats_cache = None
        drafts: list[AlertDraft] = []
        if deal.stalled is not None and (
            deal.stage != deal.stalled.stage or deal.entered_at != deal.stalled.entered
        ):
            deal, draft = evaluate_stalled(deal, now, self._deal_baseline(deal), self.rule)
            if draft is not None:
                drafts.append(draft)
        self._store(partition, deal)
        return True, drafts

    def _deal_baseline(self, deal: DealState) -> StageBaseline:
        return self.baseline_for(f"{deal.pipeline}/{deal.stage}")

    def on_tick(self, partition: int, now: float) -> list[AlertDraft]:
        """Evaluate the time-based rules of one partition as of ``now``.

        Idempotent: a repeated or late tick finds nothing new to do.
        """
        self.assign([partition])
        self._stats_cache = None  # other partitions' snapshots may have moved on
        index = self.indexes[partition]
        thresholds: dict[StageKey, float] = {}

        def threshold(key: StageKey) -> float:
            if key not in thresholds:
                thresholds[key] = self.baseline_for(key).threshold_seconds
            return thresholds[key]

        changed = list(index.due(now, threshold)) + list(index.no_longer_due(now, threshold))
        drafts: list[AlertDraft] = []
        for deal_id in changed:
            deal = self._load(deal_id)
            if deal is None:
                index.discard(deal_id)
                continue
            deal, draft = evaluate_stalled(deal, now, self._deal_baseline(deal), self.rule)
            if draft is not None:
                self._store(partition, deal)
                drafts.append(draft)
        return drafts

    # --- alerts ----------------------------------------------------------------------
    def finish(self, draft: AlertDraft, emitted_at: float) -> Alert:
        """Turn a rule's draft into the contract's alert message, with routing facts."""
        rep = self.view.reps.get(draft.rep_id) if draft.rep_id else None
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

    # --- KPIs ---------------------------------------------------------------------------
    def open_deals_by_stage(self) -> dict[StageKey, int]:
        """Open deals per stage over all partitions (own ones live, others from snapshots)."""
        parts = [index.open_counts() for index in self.indexes.values()]
        parts += [s.open_deals for p, s in self.view.snapshots.items() if p not in self.indexes]
        counts: dict[StageKey, int] = {}
        for part in parts:
            for key, n in part.items():
                counts[key] = counts.get(key, 0) + n
        return counts

    def firing(self) -> int:
        return sum(index.firing_count() for index in self.indexes.values())
