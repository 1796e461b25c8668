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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pydantic_core import from_json

from schemas import EventRejected, InputEvent, parse_event

from .core.deal_engine import DealEngine, SharedView
from .core.kpis import build_report
from .core.processor import Processor
from .core.rep_engine import RepEngine
from .core.routing import home_of, partition_for
from .core.timeutil import iso, to_epoch
from .settings import Settings

__all__ = ["Replay", "ReplaySummary", "add_arguments", "run"]


@dataclass
class ReplaySummary:
    read: int = 0
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    alerts: Counter[tuple[str, str]] = field(default_factory=Counter)
    judged: int = 0  # judgings of reps (the rep side's work: see RepEngine)

    def lines(self, seconds: float) -> list[str]:
        rate = self.read / seconds if seconds > 0 else 0.0
        out = [
            f"replay: {self.read:,} events read in {seconds:.1f}s ({rate:,.0f}/s): "
            f"{self.accepted:,} accepted, {self.duplicates:,} duplicates, {self.late:,} late, "
            f"{sum(self.rejected.values()):,} rejected"
        ]
        out.append(f"  reps judged {self.judged:,} times")
        for reason, n in self.rejected.most_common(10):
            out.append(f"  rejected {n:,}: {reason}")
        for (rule, status), n in sorted(self.alerts.items()):
            out.append(f"  alerts {rule} {status}: {n:,}")
        return out


class Replay:
    """The processor over a stream of events, in one process (the loopback driver).

    Each line is read as the worker would read it from the topic and partition its
    producer would have written it to (:func:`~streamer.core.routing.home_of`), at the next
    offset of that partition, so lateness and the order of processing are the worker's.

    ``caught_up``: every partition counts as drained the moment its line is read, as a
    worker keeping up with live traffic sees its partitions (a file in event-time order
    then moves time with its newest event, and the deal rules are judged as it goes),
    rather than as a backlog, where a partition holds time back until it is read: the
    alerts are the same either way, their ``emitted_at`` is the one a live worker would
    have given them (to within ``advance_every`` events).
    """

    def __init__(
        self,
        settings: Settings,
        emit: Any = None,
        advance_every: int | None = None,
        caught_up: bool = False,
    ) -> None:
        self.settings = settings
        self.partitions = settings.partitions
        self.view = SharedView()
        deals = DealEngine(settings, {}, self.view)
        reps = RepEngine(settings, {}, {}, {}, self.view)
        counts = {role: self.partitions for role in ("deals", "activities", "quotas")}
        self.processor = Processor(settings, deals, reps, self.view, counts, loopback=True)
        self.deals, self.reps = deals, reps
        self._summary = ReplaySummary()
        self.emit = emit or (lambda alert: None)
        self.newest = -math.inf
        self._offsets: Counter[tuple[str, int]] = Counter()
        self._since_advance = 0
        self.advance_every = advance_every or _ADVANCE_EVERY
        self.caught_up = caught_up

    @property
    def summary(self) -> ReplaySummary:
        """What has been read, and the alerts emitted, so far (the processor's output
        since the last run of it is taken in first, its alerts emitted)."""
        self._collect()
        return self._summary

    def feed_line(self, raw: bytes | str) -> None:
        data = raw.encode() if isinstance(raw, str) else raw
        self._summary.read += 1
        try:
            event = parse_event(data)
        except EventRejected as rejected:
            self._summary.rejected[_reason_class(rejected.reason)] += 1
            return
        self._read(event, data)

    def feed(self, event: InputEvent) -> None:
        self._summary.read += 1
        self._read(event, event.model_dump_json(exclude_none=True).encode())

    def _read(self, event: InputEvent, data: bytes) -> None:
        role, key = home_of(event)
        partition = partition_for(key, self.partitions)
        offset = self._offsets[(role, partition)]
        self._offsets[(role, partition)] = offset + 1
        processor = self.processor
        dead_before = len(processor.out.dead)
        processor.read(role, role, partition, offset, key.encode(), data, event=event)
        if self.caught_up and role in _TIME_ROLES:
            processor.end_source(f"{role}:{partition}")
        refused = [d.error for d in processor.out.dead[dead_before:] if not d.late]
        if refused:  # valid, but its occurred_at is not taken (see RawMarks.refuse)
            self._summary.rejected[_reason_class(refused[0])] += 1
        else:
            at = to_epoch(event.occurred_at)
            if at > self.newest:
                self.newest = at
        # Alerts come only from a run of the processor: its output (counts, mostly) is
        # taken after each run, not after each line (a take costs a new outbox).
        self._since_advance += 1
        if self._since_advance >= self.advance_every:
            self.advance()

    def replay(
        self,
        lines: Callable[[], Iterable[bytes | str]],
        progress: Callable[[], None] | None = None,
    ) -> None:
        """Replay a whole input (``lines()`` gives it anew each call: read twice) as a
        worker drains the same events from Kafka: a first pass finds each partition's
        last line, so a partition holds time back until it is read and stops holding
        it once its last line is (as a partition with lag, then drained); the order the
        file puts the partitions in does not matter. Ends with :meth:`finish`."""
        last: dict[str, int] = {}
        for index, line in enumerate(lines()):
            source = _source_of(line, self.partitions)
            if source is not None:
                last[source] = index
        ends: dict[int, list[str]] = {}
        for source, index in last.items():
            ends.setdefault(index, []).append(source)
        self.processor.declare_sources(last)
        for index, line in enumerate(lines()):
            self.feed_line(line)
            for source in ends.get(index, ()):
                self.processor.end_source(source)
            if progress is not None and index % 10_000 == 0:
                progress()
        self.finish()

    def advance(self) -> None:
        self._since_advance = 0
        self.processor.advance()
        self._collect()

    def _collect(self) -> None:
        out = self.processor.take()
        summary = self._summary
        summary.judged = self.reps.judged
        for (metric, _label), n in out.counts.items():
            if metric == "accepted":
                summary.accepted += n
            elif metric == "late":
                summary.late += n
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
            self._collect()  # (drain drops what the processor has not handed over)
            self.processor.drain()
            as_of = self.newest
        return build_report(self.deals, self.reps, as_of)


def _source_of(line: bytes | str, partitions: int) -> str | None:
    """The input partition a line's event reaches a worker by (its producer's topic and
    key, :func:`~streamer.core.routing.home_of`), without validating it; None for what is no
    source of event time (org, commands) or no event at all."""
    try:
        try:
            # the validator's own JSON reader, several times faster than json's; what it
            # refuses (a lone surrogate, a byte-order mark, UTF-16...) json may still read
            data = from_json(line)
        except ValueError:
            data = json.loads(line)
        kind = data["event_type"]
        if kind.startswith("deal."):
            role, key = "deals", data["deal_id"]
        elif kind.startswith("lead."):
            role, key = "deals", data["lead_id"]
        elif kind == "activity.logged":
            role, key = "activities", data["rep_id"]
        elif kind == "quota.set":
            role, key = "quotas", data["rep_id"]
        else:
            return None
        return f"{role}:{partition_for(str(key), partitions)}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


#: Events between two runs of the processor (a run costs a look at every source).
_ADVANCE_EVERY = 64

#: The input topics whose partitions are sources of event time.
_TIME_ROLES = frozenset({"deals", "activities", "quotas"})


def _reason_class(reason: str) -> str:
    """Group rejection reasons by what was wrong, not by the value that was wrong."""
    head = reason.split(", got ")[0]
    return head if len(head) <= 120 else head[:117] + "..."


def _lines(path: Path) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            if not line.isspace():  # (a line read is never empty; strip() would copy it)
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
    started = time.monotonic()
    last = [started]

    def progress() -> None:
        moment = time.monotonic()
        if moment - last[0] >= 2.0:
            last[0] = moment
            rate = replay.summary.read / (moment - started)
            at = iso(replay.newest) if replay.newest > -math.inf else "-"
            print(
                f"replay: {replay.summary.read:,} events ({rate:,.0f}/s), event time {at}",
                file=sys.stderr,
            )

    replay.replay(lambda: _lines(args.file), progress)
    out.flush()
    if args.report:
        args.report.write_text(json.dumps(replay.report(), indent=2, sort_keys=True) + "\n")
        print(f"replay: KPI report written to {args.report}", file=sys.stderr)
    for line in replay.summary.lines(time.monotonic() - started):
        print(line, file=sys.stderr)
    return 0
