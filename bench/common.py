"""What every benchmark shares: the machine, the data set, worker processes, progress."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.core.timeutil import DAY
from streamer.devtools.simulate import SimConfig
from streamer.settings import RulesSettings, Settings, TopicNames
from tests.integration.kafka_helpers import (
    BOOTSTRAP,
    WorkerProcess,
    delete_topics,
    isolated_settings,
)

__all__ = [
    "Figures",
    "WorkerProcess",
    "all_rules_settings",
    "bench_settings",
    "data_config",
    "delete_bench_topics",
    "end_offsets",
    "get_json",
    "input_topics",
    "machine",
    "rss_mib",
    "topic_ends",
    "wait_drained",
]

INPUT_ROLES = ("deals", "activities", "quotas", "org")


def machine() -> dict[str, Any]:
    """The machine the figures were measured on."""
    model = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    import aiokafka
    import faust

    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem_kib / 2**20, 1),
        "python": platform.python_version(),
        "faust": faust.__version__,
        "aiokafka": aiokafka.__version__,
        "load_average_at_start": os.getloadavg(),
    }


def data_config(events: int) -> SimConfig:
    """The simulation behind the data set: enough reps and days for ``events`` events,
    ending about now (so the wall clock finds them recent)."""
    reps = 250 if events >= 200_000 else 40
    days = max(7.0, events / (reps * 47.0) * 1.15)  # ~47 events per rep and day
    start = datetime.fromtimestamp(time.time() - days * DAY, UTC).replace(microsecond=0)
    return SimConfig(seed=5, reps=reps, days=days, start=start)


#: The run ids of the settings this process made (``bench_settings``), whose topics
#: ``delete_bench_topics`` deletes at the end.
_RUN_IDS: list[str] = []


def bench_settings(tmp: Path, **overrides: Any) -> Settings:
    """``isolated_settings`` with names of the bench's own: topics ``bench-<run>.<name>``
    and app ``salespulse-bench-<run>``. The test suite deletes, after each Kafka test,
    every topic of its own prefixes (``t-``, ``salespulse-test-``) made while the test
    ran, so a bench on those names beside someone's test run would lose its data set or
    its worker's topics mid-run."""
    run = uuid.uuid4().hex[:10]
    _RUN_IDS.append(run)
    names = TopicNames().model_dump()
    values: dict[str, Any] = {
        "topics": TopicNames(**{role: f"bench-{run}.{name}" for role, name in names.items()}),
        "app_id": f"salespulse-bench-{run}",
    }
    values.update(overrides)
    return isolated_settings(tmp, **values)


async def delete_bench_topics() -> list[str]:
    """Delete every topic whose name holds the run id of settings this process made: the
    data sets, the workers' internal topics and changelogs, the Quix peer's alerts and
    changelogs (named after its consumer group, ``<app_id>-quix``). A million-event data
    set is some hundreds of MiB on a broker others share, and a broker carrying many
    topics recovers and elects ever slower. Returns the names deleted."""
    if not _RUN_IDS:
        return []
    lister = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP)  # where isolated_settings points
    await lister.start()
    try:
        existing = await lister.topics()
    finally:
        await lister.stop()
    ours = sorted(t for t in existing if any(run in t for run in _RUN_IDS))
    await delete_topics(ours)
    return ours


def all_rules_settings(tmp: Path, **overrides: Any) -> Settings:
    """A worker's settings with every rule on (``RulesSettings`` defaults), the production
    store, and topics and group of its own."""
    values: dict[str, Any] = {
        "rules": RulesSettings().model_dump(),
        "store": "rocksdb://",
        "tick_interval_seconds": 1.0,
        "stats_publish_interval_seconds": 2.0,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return bench_settings(tmp, **values)


def get_json(settings: Settings, path: str, timeout: float = 10.0) -> dict[str, Any]:
    url = f"http://127.0.0.1:{settings.web_port}{path}"
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
        return json.loads(response.read())


def metric_sum(text: str, name: str, label_prefix: str = "") -> float:
    """Sum of a Prometheus metric's samples whose labels start with ``label_prefix``."""
    total = 0.0
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})? (\S+)$")
    for line in text.splitlines():
        match = pattern.match(line)
        if match and label_prefix in (match.group(1) or ""):
            total += float(match.group(2))
    return total


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def input_topics(settings: Settings) -> list[str]:
    t = settings.topics
    return [t.deals, t.activities, t.quotas, t.org]


async def end_offsets(consumer: AIOKafkaConsumer, topics: list[str]) -> dict[str, int]:
    tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    ends = await consumer.end_offsets(tps)
    return {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items() if end > 0}


async def topic_ends(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """The broker's end offsets of ``topics`` (``"topic:partition"`` -> next offset;
    partitions never written left out)."""
    if not topics:
        return {}
    reader = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None)
    await reader.start()
    reader.pause(*reader.assignment())
    try:
        return await end_offsets(reader, topics)
    finally:
        await reader.stop()


@dataclass
class Drained:
    first_seen: float  # monotonic time the worker was first seen processing
    input_read: float  # monotonic time every input partition was read to its end
    done: float  # ... and everything read, sent, and event time at the end of the data
    progress: dict[str, Any]  # the worker's /progress at ``done``


async def wait_drained(
    worker: WorkerProcess, frontier_at: float, timeout: float, poll: float = 0.2
) -> Drained:
    """Until the worker has read everything and event time has come to the end of the data.

    On the event clock the newest ``allowed_lateness_seconds`` of event time stay
    buffered (unacknowledged) until time passes them, so "every offset processed" never
    holds at the end of a backlog. Done is instead, in one ``/progress`` reading: nothing
    left to read on any input or internal partition (``lag`` 0; the input partitions also
    against the broker's end offsets, since a partition not fetched yet shows no lag),
    nothing waiting in the producer (``unsent`` 0), and the rep side's frontier (the
    later of the two sides: it waits for the deal side's summaries) at ``frontier_at``,
    the newest ``occurred_at`` of the data less the allowed lateness: every rule has been
    judged as far as the data lets anyone judge it."""
    s = worker.settings
    ends = await topic_ends(s.kafka_bootstrap, input_topics(s))
    deadline = time.monotonic() + timeout
    first_seen: float | None = None
    input_read: float | None = None
    while time.monotonic() < deadline:
        assert worker.proc is not None
        if worker.proc.poll() is not None:
            raise RuntimeError(f"worker exited:\n{worker.tail()}")
        try:
            progress = get_json(s, "/progress")
        except OSError:
            await asyncio.sleep(poll)
            continue
        now = time.monotonic()
        processed = progress["processed"]
        if first_seen is None and processed:
            first_seen = now
        if input_read is None and all(processed.get(tp, -1) + 1 >= n for tp, n in ends.items()):
            input_read = now
        rep_frontier = progress["frontier"]["rep"]
        if (
            input_read is not None
            and progress["lag"] == 0
            and progress["unsent"] == 0
            and rep_frontier is not None
            and rep_frontier >= frontier_at
        ):
            assert first_seen is not None
            return Drained(first_seen, input_read, now, progress)
        await asyncio.sleep(poll)
    raise TimeoutError(f"worker did not drain in {timeout}s\n{worker.tail()}")


class Figures:
    """Named figures, printed as a table and written as JSON."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, Any, str]] = []  # section, name, value, unit

    def add(self, section: str, name: str, value: Any, unit: str = "") -> None:
        self.rows.append((section, name, value, unit))
        print(f"  {section} | {name}: {_fmt(value)} {unit}", file=sys.stderr, flush=True)

    def table(self) -> str:
        width = max((len(f"{s} / {n}") for s, n, _, _ in self.rows), default=10)
        lines = [f"{'figure':<{width}}  {'value':>14}  unit", "-" * (width + 24)]
        for section, name, value, unit in self.rows:
            lines.append(f"{f'{section} / {name}':<{width}}  {_fmt(value):>14}  {unit}")
        return "\n".join(lines)

    def as_json(self) -> list[dict[str, Any]]:
        return [{"section": s, "name": n, "value": v, "unit": u} for s, n, v, u in self.rows]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        if value != value:  # nan
            return "n/a"
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def write_results(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
