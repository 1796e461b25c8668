"""``salespulse replay FILE``: the worker's state and rules over a JSON-lines file.

No Kafka: the same engines run in one process over dict stores. Events are
spread over the same partitions Kafka's default partitioner would choose,
so each partition's watermark (and with it what counts as late) is the one a
live worker would see for the same events in the same order. Time is event
time: the newest ``occurred_at`` read, less the allowed lateness. Alert
messages go to stdout as JSON lines; progress and a summary go to stderr.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from schemas import (
    ActivityLogged,
    EventRejected,
    InputEvent,
    LeadConverted,
    LeadCreated,
    QuotaSet,
    RepUpserted,
    parse_event,
)

from .engine import DealEngine, SharedView, finish_alert
from .kpis import build_report
from .rep_engine import FORWARDED, INPUT, RepEngine
from .routing import DEAL, REP, partition_for, sides_of
from .rules.alerting import AlertDraft
from .settings import Settings
from .timeutil import iso, to_epoch

__all__ = ["Replay", "ReplaySummary", "add_arguments", "run"]


@dataclass
class ReplaySummary:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)

    def lines(self, seconds: float) -> list[str]:
        rate = self.read / seconds if seconds > 0 else 0.0
        out = [
            f"replay: {self.read:,} events read in {seconds:.1f}s ({rate:,.0f}/s): "
            f"{self.accepted:,} accepted, {self.duplicates:,} duplicates, {self.late:,} late, "
            f"{sum(self.rejected.values()):,} rejected"
        ]
        for reason, n in self.rejected.most_common(10):
            out.append(f"  rejected {n:,}: {reason}")
        for (rule, status), n in sorted(self.alerts.items()):
            out.append(f"  alerts {rule} {status}: {n:,}")
        return out


class Replay:
    """Both sides of the processor in one process, driven by a stream of events."""

    def __init__(self, settings: Settings, emit: Any = None) -> None:
        self.settings = settings
        self.partitions = settings.partitions
        self.view = SharedView()
        self.deals = DealEngine(settings, {}, self.view)
        self.reps = RepEngine(settings, {}, {}, {}, self.view)
        self.summary = ReplaySummary()
        self.emit = emit or (lambda alert: None)
        self.newest = -math.inf
        self.next_tick = -math.inf
        self.tick_every = settings.rep_rules_interval_seconds
        self.deals.assign(range(self.partitions))
        self.reps.assign(range(self.partitions))

    def now(self) -> float:
        return self.newest - self.settings.allowed_lateness_seconds

    def feed_line(self, raw: bytes | str) -> None:
        self.summary.read += 1
        try:
            event = parse_event(raw)
        except EventRejected as rejected:
            self.summary.rejected[_reason_class(rejected.reason)] += 1
            return
        self.feed(event)

    def feed(self, event: InputEvent) -> None:
        at = to_epoch(event.occurred_at)
        late = False
        for side, key in sides_of(event):
            partition = partition_for(key, self.partitions)
            if side == REP and not isinstance(event, QuotaSet):
                # the stream the event reaches the rep side by in a worker: activities on
                # the side's own input topic, leads through its internal topic
                stream = INPUT if isinstance(event, ActivityLogged) else FORWARDED
                if self.reps.is_late(partition, at, stream):
                    late = True
                    break
                self.reps.observe(partition, at, stream)
        if late:
            self.summary.late += 1
            return
        self.summary.accepted += 1
        self.newest = max(self.newest, at)
        changed = self._apply(event, at)
        if not changed:
            self.summary.duplicates += 1
        if self.now() >= self.next_tick:
            self.tick()

    def _apply(self, event: InputEvent, at: float) -> bool:
        changed = False
        now = self.now()
        for side, key in sides_of(event):
            partition = partition_for(key, self.partitions)
            if side == DEAL:
                if isinstance(event, ActivityLogged):
                    did, drafts = self.deals.on_touch(event, partition, now)
                else:
                    did, drafts = self.deals.on_deal_event(event, partition, now)  # type: ignore[arg-type]
                changed |= did
                self._alerts(drafts)
                self._deliver_summaries()
            elif side == REP:
                if isinstance(event, ActivityLogged):
                    changed |= self.reps.on_activity(event, partition)
                elif isinstance(event, LeadCreated | LeadConverted):
                    changed |= self.reps.on_lead(event, partition)
                elif isinstance(event, QuotaSet):
                    changed |= self.reps.on_quota(event, partition)
            elif isinstance(event, RepUpserted):
                changed |= self.view.upsert_rep(event)
        return changed

    def _deliver_summaries(self) -> None:
        for rep_id, summary in self.deals.outbox:
            self.reps.on_summary(rep_id, summary, partition_for(rep_id, self.partitions))
        self.deals.outbox.clear()

    def tick(self) -> None:
        now = self.now()
        for partition in range(self.partitions):
            self._alerts(self.deals.on_tick(partition, now))
        self._alerts(self.reps.on_ticks(range(self.partitions), now))
        self.next_tick = (math.floor(now / self.tick_every) + 1) * self.tick_every

    def _alerts(self, drafts: Iterable[AlertDraft]) -> None:
        for draft in drafts:
            self.summary.alerts[(draft.rule, draft.status)] += 1
            self.emit(finish_alert(self.view, draft, max(self.now(), draft.started_at)))

    def finish(self) -> None:
        if self.newest > -math.inf:
            self.tick()

    def report(self) -> dict[str, Any]:
        return build_report(self.deals, self.reps, self.newest)


def _reason_class(reason: str) -> str:
    """Group rejection reasons by what was wrong, not by the value that was wrong."""
    head = reason.split(", got ")[0]
    return head if len(head) <= 120 else head[:117] + "..."


def _lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if line.strip():
                yield line


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE", help="JSON-lines file of events")
    parser.add_argument(
        "--report", type=Path, metavar="OUT.json", help="write the KPIs as of the last event"
    )
    parser.add_argument("--quiet", action="store_true", help="no alerts on stdout")


def run(settings: Settings, args: argparse.Namespace, out: IO[str] = sys.stdout) -> int:
    if not args.file.is_file():
        print(f"salespulse replay: no such file: {args.file}", file=sys.stderr)
        return 2
    write = (
        (lambda alert: None)
        if args.quiet
        else (lambda alert: out.write(alert.to_json_bytes().decode() + "\n"))
    )
    replay = Replay(settings, emit=write)
    started = last = time.monotonic()
    for line in _lines(args.file):
        replay.feed_line(line)
        if replay.summary.read % 10_000 == 0:
            moment = time.monotonic()
            if moment - last >= 2.0:
                last = moment
                rate = replay.summary.read / (moment - started)
                at = iso(replay.newest) if replay.newest > -math.inf else "-"
                print(
                    f"replay: {replay.summary.read:,} events ({rate:,.0f}/s), event time {at}",
                    file=sys.stderr,
                )
    replay.finish()
    out.flush()
    if args.report:
        args.report.write_text(json.dumps(replay.report(), indent=2, sort_keys=True) + "\n")
        print(f"replay: KPI report written to {args.report}", file=sys.stderr)
    for line in replay.summary.lines(time.monotonic() - started):
        print(line, file=sys.stderr)
    return 0
