"""Throughput side by side on one data set in the real local Kafka, and the replay.

The simulator writes the events once to the contract topics (``produce``) and once to a
JSON-lines file (``write_jsonl``, the very same events). Then, one after the other:

(a) a plain aiokafka loop reads the four input topics and parses the JSON;
(quix) the Quix Streams peer (``bench/quix_peer.py``) does comparable stateful work on
    them: per-rep hourly windows of touches and per-deal stage state in RocksDB, two rules,
    alerts to a topic; run with the interpreter that has quixstreams (``quix_python``);
(b) a bare Faust agent reads them (and parses the JSON); (b') with the worker's consumer
    fast path; (b'') with the batch hand-over;
(c) one salespulse worker with every rule on and the production store processes them on
    the event clock (as a backfill runs): from the moment it is first seen processing until
    every input and internal partition is read and its event time has reached the newest
    event of the data less the allowed lateness; then the Kafka messages it wrote per
    input event, from the broker's end offsets;
(d) ``salespulse replay FILE --quiet`` runs the same events without Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

from streamer.core.processor import BOUND_HEADER, SUMMARY_HEADER
from streamer.core.timeutil import DAY, to_epoch
from streamer.devtools.simulate import produce, write_jsonl
from streamer.kafka_admin import ensure_topics
from streamer.settings import Settings

from .common import (
    Figures,
    WorkerProcess,
    all_rules_settings,
    bench_settings,
    data_config,
    input_topics,
    metric_sum,
    rss_mib,
    topic_ends,
    wait_drained,
)

#: Partitions of every topic, and the allowed lateness (c) and the replay both run with:
#: the same settings give the same alerts, so the two alert counts can be compared.
PARTITIONS = 6
LATENESS = DAY


class DataSet:
    """``events`` simulated events in fresh contract topics and in a JSON-lines file."""

    def __init__(self, root: Path, events: int) -> None:
        self.root = root
        self.events = events
        self.config = data_config(events)
        self.settings: Settings = bench_settings(root, partitions=PARTITIONS)
        self.file = root / "events.jsonl"
        self.newest = float("-inf")  # the newest occurred_at of a source of event time

    async def make(self, figures: Figures) -> None:
        started = time.perf_counter()
        written = write_jsonl(self.config, self.file, limit=self.events)
        figures.add("data", "events", written, "events")
        await ensure_topics(self.settings)
        produced = await produce(self.settings, self.config, speed=None, limit=self.events)
        assert produced == written, (produced, written)
        figures.add("data", "generate + produce", time.perf_counter() - started, "s")
        self.newest = newest_occurred_at(self.file)

    @property
    def topics(self) -> list[str]:
        return input_topics(self.settings)


def newest_occurred_at(path: Path) -> float:
    """The newest ``occurred_at`` (epoch seconds) of the events that drive event time:
    all but the org chart's ``rep.upserted``, which no frontier waits for."""
    newest = float("-inf")
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            event = json.loads(line)
            if event.get("event_type") == "rep.upserted":
                continue
            at = to_epoch(datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")))
            newest = max(newest, at)
    return newest


def _subprocess_rate(module: str, data: DataSet, env: dict[str, str] | None = None) -> float:
    out = data.root / f"{module.rsplit('.', 1)[-1]}.json"
    out.unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            module,
            data.settings.kafka_bootstrap,
            str(data.events),
            str(out),
            *data.topics,
        ],  # fmt: skip
        check=True,
        timeout=3600,
        env={**os.environ, **(env or {})},
    )
    result = json.loads(out.read_text())
    return result["count"] / result["seconds"]


#: The bench's own virtualenv, where ``make bench`` installs the ``bench`` extra
#: (quixstreams): it pins pydantic below the version the development virtualenv has.
QUIX_VENV = Path(__file__).resolve().parent / ".venv"
QUIX_INSTALL = (
    "make bench installs it; by hand: "
    "python3 -m venv bench/.venv && bench/.venv/bin/pip install -e '.[bench]'"
)


def quix_python() -> str | None:
    """The interpreter to run the Quix peer with: this one if it can import quixstreams,
    else the bench's own virtualenv's if that can; None if neither."""
    for python in (sys.executable, str(QUIX_VENV / "bin" / "python")):
        if not Path(python).exists():
            continue
        probe = subprocess.run([python, "-c", "import quixstreams"], capture_output=True)
        if probe.returncode == 0:
            return python
    return None


def quix_rate(data: DataSet, python: str) -> dict[str, Any]:
    """Run the Quix Streams peer over the data set with ``python``; its figures
    (``bench/quix_peer.py`` writes them), with ``rate`` in events/s."""
    out = data.root / "quix_peer.json"
    out.unlink(missing_ok=True)
    s = data.settings
    subprocess.run(
        [
            python,
            "-m",
            "bench.quix_peer",
            s.kafka_bootstrap,
            str(data.events),
            str(out),
            str(data.root / "quix-state"),
            f"{s.app_id}-quix",  # its consumer group, which also names its changelogs
            f"{s.topics.alerts}.quix",
            *data.topics,
        ],  # fmt: skip
        check=True,
        timeout=3600,
        cwd=Path(__file__).resolve().parent.parent,  # where ``-m bench.quix_peer`` is found
    )
    result = json.loads(out.read_text())
    return {**result, "rate": result["count"] / result["seconds"], "python": python}


async def worker_rate(data: DataSet, figures: Figures, label: str = "c") -> dict[str, Any]:
    settings = all_rules_settings(
        data.root / f"worker-{label}",
        topics=data.settings.topics,
        partitions=PARTITIONS,
        clock="event",
        allowed_lateness_seconds=LATENESS,
    )
    await ensure_topics(settings)
    # where the event clock stops: the newest event less the allowed lateness (what is
    # newer stays buffered until time passes it, which on the event clock it never does)
    frontier_at = data.newest - settings.allowed_lateness_seconds
    worker = WorkerProcess(settings, data.root / f"worker-{label}.log")
    worker.start()
    peak_rss = 0.0
    try:
        assert worker.proc is not None
        wait = asyncio.create_task(wait_drained(worker, frontier_at, timeout=7200))
        while not wait.done():
            peak_rss = max(peak_rss, rss_mib(worker.proc.pid))
            await asyncio.sleep(0.5)
        drained = wait.result()
        metrics = worker.metrics()
        alerts = metric_sum(metrics, "salespulse_alerts_total")
        late = metric_sum(metrics, "salespulse_events_late_total")
    finally:
        worker.stop()
    written = await messages_written(settings, data.events)
    seconds = drained.done - drained.first_seen
    progress = drained.progress
    return {
        "rate": data.events / seconds,
        "seconds": seconds,
        "input_seconds": drained.input_read - drained.first_seen,
        "alerts": alerts,
        "late": late,
        "peak_rss_mib": peak_rss,
        "frontier_at": frontier_at,
        "frontier": progress["frontier"],
        "buffered_at_end": progress["buffered"],
        "written": written,
    }


#: The split of (c)'s messages written per input event, as printed.
WRITTEN_ROWS = (
    ("internal event topics", "internal event topics (forwards + summaries + bounds)"),
    ("forwards", "  of which forwarded events"),
    ("deal summaries", "  of which deal summaries"),
    ("bounds", "  of which bounds"),
    ("changelogs", "table changelogs"),
    ("alerts", "alerts"),
    ("other", "other (ticks, partition stats, dead letters, late)"),
)

#: The worker's internal event topics (``<app_id>-<name>``): forwarded events, deal
#: summaries and bounds, told apart by their headers.
EVENT_TOPICS = ("deal-events", "rep-events")


async def messages_written(settings: Settings, events: int) -> dict[str, Any]:
    """The Kafka messages the worker wrote, from the broker once it has stopped: the sum of
    the end offsets of every topic of its own (``<app_id>-*``: the internal event topics,
    the tick topics, partition stats, the tables' changelogs) and of the alerts,
    dead-letter and late topics; split by what they are, each also per input event. The
    internal event topics are read back to tell forwards, deal summaries and bounds apart
    by their headers."""
    prefix = f"{settings.app_id}-"
    t = settings.topics
    lister = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap)
    await lister.start()
    try:
        existing = await lister.topics()
    finally:
        await lister.stop()
    names = {n: n.removeprefix(prefix) for n in sorted(existing) if n.startswith(prefix)}
    names.update({n: role for n, role in ((t.alerts, "alerts"), (t.dlq, "dlq"),
                                          (t.late, "late")) if n in existing})  # fmt: skip
    ends = await topic_ends(settings.kafka_bootstrap, list(names))
    per_topic = dict.fromkeys(names.values(), 0)
    for tp, end in ends.items():
        per_topic[names[tp.rsplit(":", 1)[0]]] += end
    event_topics = [n for n, short in names.items() if short in EVENT_TOPICS]
    kinds = await _event_topic_kinds(settings.kafka_bootstrap, event_topics, ends)
    groups = {
        "internal event topics": sum(per_topic.get(n, 0) for n in EVENT_TOPICS),
        "forwards": kinds["forward"],
        "deal summaries": kinds["summary"],
        "bounds": kinds["bound"],
        "changelogs": sum(n for short, n in per_topic.items() if short.endswith("-changelog")),
        "alerts": per_topic.get("alerts", 0),
    }
    total = sum(per_topic.values())
    groups["other"] = total - groups["internal event topics"] - groups["changelogs"]
    groups["other"] -= groups["alerts"]
    return {
        "total": total,
        "per_event": total / events,
        "groups": groups,
        "groups_per_event": {k: v / events for k, v in groups.items()},
        "per_topic": per_topic,
    }


async def _event_topic_kinds(
    bootstrap: str, topics: list[str], ends: dict[str, int]
) -> Counter[str]:
    """Read ``topics`` from the start to ``ends`` and count their messages by kind."""
    kinds: Counter[str] = Counter(forward=0, summary=0, bound=0)
    wanted = {tp: end for tp, end in ends.items() if tp.rsplit(":", 1)[0] in topics}
    if not wanted:
        return kinds
    reader = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_partition_fetch_bytes=4 * 2**20,
    )
    await reader.start()
    try:
        left = dict(wanted)
        while left:
            batches = await reader.getmany(timeout_ms=1000, max_records=10_000)
            if not batches:
                raise TimeoutError(f"internal topics not read to their end: {left}")
            for tp, records in batches.items():
                key = f"{tp.topic}:{tp.partition}"
                end = left.get(key)
                if end is None:
                    continue
                for record in records:
                    if record.offset >= end:
                        break
                    headers = dict(record.headers or ())
                    if BOUND_HEADER in headers:
                        kinds["bound"] += 1
                    elif SUMMARY_HEADER in headers:
                        kinds["summary"] += 1
                    else:
                        kinds["forward"] += 1
                if records[-1].offset + 1 >= end:
                    del left[key]
    finally:
        await reader.stop()
    return kinds


def replay_rate(data: DataSet) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "replay", str(data.file), "--quiet"],
        check=True,
        capture_output=True,
        text=True,
        timeout=7200,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")},
            "SALESPULSE_PARTITIONS": str(PARTITIONS),
            "SALESPULSE_ALLOWED_LATENESS_SECONDS": str(LATENESS),
        },
    )
    seconds = time.perf_counter() - started
    summary = [line for line in done.stderr.splitlines() if " events read in " in line]
    alerts = sum(
        int(m.group(1).replace(",", ""))
        for m in re.finditer(r"alerts \S+ \S+: ([\d,]+)", done.stderr)
    )
    return {"rate": data.events / seconds, "seconds": seconds, "alerts": alerts,
            "summary": summary[-1] if summary else ""}  # fmt: skip


#: The side-by-side rows, in print order: rate key, what it is.
SIDE_BY_SIDE = (
    ("a", "(a) plain aiokafka loop, json.loads (the Python ceiling)"),
    ("quix", "Quix Streams peer, stateful (hourly windows + deal state, 2 rules)"),
    ("b", "(b) bare Faust agent + json"),
    ("bfast", "(b') bare Faust, worker's fast path"),
    ("bbatch", "(b'') bare Faust, batch hand-over"),
    ("c", "(c) salespulse worker, every rule on"),
    ("replay", "salespulse replay --quiet (no Kafka)"),
)


def side_by_side(result: dict[str, Any]) -> str:
    """The throughput parts of one run as the issue's table: events/s, the ratio to (a),
    the events per CPU second of the part's processes and the load average when the part
    began; then (c)'s peak RSS and the events it counted as late."""
    rates = result["rates"]
    cpu, load = result.get("cpu_seconds", {}), result.get("load_at_start", {})
    base = rates.get("a")
    head = f"{'consumer':<68}  {'events/s':>9}  {'ratio to (a)':>12}  {'events/CPU s':>12}  load"
    lines = [head, "-" * len(head)]
    for key, label in SIDE_BY_SIDE:
        if key not in rates:
            continue
        ratio = f"{rates[key] / base:.3g}" if base else "n/a"
        per_cpu = f"{result['events'] / cpu[key]:,.0f}" if cpu.get(key) else "n/a"
        at = f"{load[key]:.1f}" if key in load else "n/a"
        lines.append(f"{label:<68}  {rates[key]:>9,.0f}  {ratio:>12}  {per_cpu:>12}  {at}")
    if "quix_skipped" in result:
        lines.append(f"{SIDE_BY_SIDE[1][1]:<68}  {'skipped':>9}  {result['quix_skipped']}")
    worker = result.get("worker")
    if worker:
        lines.append(f"(c) peak RSS: {worker['peak_rss_mib']:,.0f} MiB; events counted late: "
                     f"{worker['late']:,.0f}; alerts: {worker['alerts']:,.0f}")  # fmt: skip
    lines.append(
        "events/CPU s: input events over the CPU seconds of the part's processes (start-up "
        "and stop included); load: the 1-minute load average as the part began"
    )
    return "\n".join(lines)


class Usage:
    """Per part, the CPU seconds its processes used (the bench's child processes that
    ended during it: the consumer, the worker, the replay, all their threads, start-up and
    stop included) and the 1-minute load average when it began. On a shared machine a
    rate says little without them; events per CPU second says what a part costs whatever
    else runs."""

    def __init__(self) -> None:
        self.cpu_seconds: dict[str, float] = {}
        self.load_at_start: dict[str, float] = {}

    @contextlib.contextmanager
    def part(self, key: str) -> Iterator[None]:
        self.load_at_start[key] = os.getloadavg()[0]
        before = _children_cpu_seconds()
        yield
        self.cpu_seconds[key] = _children_cpu_seconds() - before


def _children_cpu_seconds() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


async def run(figures: Figures, events: int, parts: set[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="salespulse-bench-") as tmp:
        data = DataSet(Path(tmp), events)
        await data.make(figures)
        rates: dict[str, float] = {}
        extra: dict[str, Any] = {}
        usage = Usage()
        if "a" in parts:
            with usage.part("a"):
                rates["a"] = _subprocess_rate("bench.plain_loop", data)
            figures.add("throughput", "(a) plain aiokafka loop + json", rates["a"], "events/s")
        if "quix" in parts:
            python = quix_python()
            label = "(quix) Quix Streams peer, stateful: hourly windows + deal state, 2 rules"
            if python is None:
                extra["quix_skipped"] = f"quixstreams is not installed ({QUIX_INSTALL})"
                print(f"(quix) skipped: {extra['quix_skipped']}", file=sys.stderr)
                figures.add("throughput", label, "skipped: quixstreams not installed")
            else:
                with usage.part("quix"):
                    q = quix_rate(data, python)
                rates["quix"] = q["rate"]
                extra["quix"] = q
                figures.add("throughput", label, q["rate"], "events/s")
                figures.add("throughput", "(quix) alerts emitted", q["alerts"], "alerts")
                figures.add("throughput", "(quix) late events dropped", q["late"], "events")
        if "b" in parts:
            with usage.part("b"):
                rates["b"] = _subprocess_rate("bench.bare_faust", data)
            figures.add("throughput", "(b) bare Faust agent + json", rates["b"], "events/s")
        if "bfast" in parts:
            with usage.part("bfast"):
                rates["bfast"] = _subprocess_rate(
                    "bench.bare_faust", data, env={"SALESPULSE_BENCH_FASTPATH": "1"}
                )
            label = "(b') bare Faust + json, worker's fast path and fetch settings"
            figures.add("throughput", label, rates["bfast"], "events/s")
        if "bbatch" in parts:
            with usage.part("bbatch"):
                rates["bbatch"] = _subprocess_rate(
                    "bench.bare_faust", data, env={"SALESPULSE_BENCH_BATCH": "1"}
                )
            label = "(b'') bare Faust + json, batch hand-over (a partition's fetch at a time)"
            figures.add("throughput", label, rates["bbatch"], "events/s")
        if "c" in parts:
            with usage.part("c"):
                c = await worker_rate(data, figures)
            rates["c"] = c["rate"]
            extra["worker"] = c
            figures.add("throughput", "(c) worker, every rule on", c["rate"], "events/s")
            figures.add("throughput", "(c) input read (frontier not yet at the end)",
                        data.events / c["input_seconds"], "events/s")  # fmt: skip
            figures.add("throughput", "(c) alerts emitted", int(c["alerts"]), "alerts")
            figures.add("throughput", "(c) peak RSS", c["peak_rss_mib"], "MiB")
            per_event = c["written"]["groups_per_event"]
            unit = "messages/event"
            figures.add("throughput", "(c) Kafka messages written per input event",
                        c["written"]["per_event"], unit)  # fmt: skip
            for name, label in WRITTEN_ROWS:
                figures.add("throughput", f"(c)   {label}", per_event[name], unit)
        if "a" in rates:
            for k in ("quix", "b", "bfast", "bbatch", "c"):
                if k in rates:
                    figures.add("throughput", f"ratio {k}/a", rates[k] / rates["a"], "")
        if "replay" in parts:
            with usage.part("replay"):
                r = replay_rate(data)
            extra["replay"] = r
            rates["replay"] = r["rate"]
            figures.add("replay", "salespulse replay --quiet", r["rate"], "events/s")
            figures.add("replay", "alerts", r["alerts"], "alerts")
            if "a" in rates:
                figures.add("replay", "ratio replay/a", r["rate"] / rates["a"], "")
        for key, seconds in usage.cpu_seconds.items():
            if key in rates and seconds > 0:
                figures.add("cpu", f"{key}: events per CPU second", events / seconds, "events/s")
        return {"rates": rates, "events": events, "cpu_seconds": usage.cpu_seconds,
                "load_at_start": usage.load_at_start, **extra}  # fmt: skip
