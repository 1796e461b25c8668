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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from schemas import EventRejected, InputEvent, parse_event

from .engine import DealEngine, SharedView
from .kpis import build_report
from .processor import Processor
from .rep_engine import RepEngine
from .routing import home_of, partition_for
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
    """The processor over a stream of events, in one process (the loopback driver).

    Each line is read as the worker would read it from the topic and partition its
    producer would have written it to (:func:`~streamer.routing.home_of`), at the next
    offset of that partition, so lateness and the order of processing are the worker's.
    """

    def __init__(self, settings: Settings, emit: Any = None) -> None:
        self.settings = settings
        self.partitions = settings.partitions
        self.view = SharedView()
        deals = DealEngine(settings, {}, self.view)
        reps = RepEngine(settings, {}, {}, {}, self.view)
        counts = {role: self.partitions for role in ("deals", "activities", "quotas")}
        self.processor = Processor(settings, deals, reps, self.view, counts, loopback=True)
        self.deals, self.reps = deals, reps
        self.summary = ReplaySummary()
        self.emit = emit or (lambda alert: None)
        self.newest = -math.inf
        self._offsets: Counter[tuple[str, int]] = Counter()
        self._since_advance = 0

    def feed_line(self, raw: bytes | str) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        self.summary.read += 1
        try:
            event = parse_event(data)
        except EventRejected as rejected:
            self.summary.rejected[_reason_class(rejected.reason)] += 1
            return
        self._read(event, data)

    def feed(self, event: InputEvent) -> None:
        self.summary.read += 1
        self._read(event, event.model_dump_json(exclude_none=True).encode())

    def _read(self, event: InputEvent, data: bytes) -> None:
        role, key = home_of(event)
        partition = partition_for(key, self.partitions)
        offset = self._offsets[(role, partition)]
        self._offsets[(role, partition)] = offset + 1
        processor = self.processor
        processor.read(role, role, partition, offset, key.encode(), data)
        at = to_epoch(event.occurred_at)
        if at > self.newest and not processor.out.dead:
            self.newest = at
        self._since_advance += 1
        if self._since_advance >= _ADVANCE_EVERY:
            self.advance()
        else:
            self._collect()

    def advance(self) -> None:
        self._since_advance = 0
        self.processor.advance()
        self._collect()

    def _collect(self) -> None:
        out = self.processor.take()
        summary = self.summary
        for (metric, label), n in out.counts.items():
            if metric == "accepted":
                summary.accepted += n
            elif metric == "late":
                summary.late += n
                summary.accepted -= n
            elif metric == "duplicate":
                summary.duplicates += n
        for alert in out.alerts:
            summary.alerts[(alert.rule, alert.status)] += 1
            self.emit(alert)

    def finish(self) -> None:
        """The input has ended: every source is idle, time runs to the newest event
        less the allowed lateness (as in a worker that drained the same events)."""
        self.processor.finish_sources()
        self.advance()

    def frontier(self) -> float:
        """The moment the rep side has judged up to (its frontier)."""
        return self.processor.rep_frontier.value

    def report(self, as_of: float | None = None) -> dict[str, Any]:
        """The KPIs as of ``as_of`` (default: the newest event, with everything read)."""
        if as_of is None:
            self.processor.drain()
            as_of = self.newest
        return build_report(self.deals, self.reps, as_of)


#: Events between two runs of the processor (a run costs a look at every source).
_ADVANCE_EVERY = 64


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
