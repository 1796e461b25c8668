"""Throughput side by side on one data set in the real local Kafka, and the replay.

The simulator writes the events once to the contract topics (``produce``) and once to a
JSON-lines file (``write_jsonl``, the very same events). Then, one after the other:

(a) a plain aiokafka loop reads the four input topics and parses the JSON;
(b) a bare Faust agent reads them (and parses the JSON); (b') with the worker's consumer
    fast path; (b'') with the batch hand-over;
(c) one salespulse worker with every rule on and the production store processes them on
    the event clock (as a backfill runs): from the moment it is first seen processing until
    every input and internal partition is done and a tick after that has judged the rules;
(d) ``salespulse replay FILE --quiet`` runs the same events without Kafka.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from streamer.core.timeutil import DAY
from streamer.devtools.simulate import produce, write_jsonl
from streamer.kafka_admin import ensure_topics
from streamer.settings import Settings
from tests.integration.kafka_helpers import isolated_settings

from .common import (
    Figures,
    WorkerProcess,
    all_rules_settings,
    data_config,
    get_json,
    metric_sum,
    rss_mib,
    wait_caught_up,
)


class DataSet:
    """``events`` simulated events in fresh contract topics and in a JSON-lines file."""

    def __init__(self, root: Path, events: int) -> None:
        self.root = root
        self.events = events
        self.config = data_config(events)
        self.settings: Settings = isolated_settings(root, partitions=6)
        self.file = root / "events.jsonl"

    async def make(self, figures: Figures) -> None:
        started = time.perf_counter()
        written = write_jsonl(self.config, self.file, limit=self.events)
        figures.add("data", "events", written, "events")
        await ensure_topics(self.settings)
        produced = await produce(self.settings, self.config, speed=None, limit=self.events)
        assert produced == written, (produced, written)
        figures.add("data", "generate + produce", time.perf_counter() - started, "s")

    @property
    def topics(self) -> list[str]:
        t = self.settings.topics
        return [t.deals, t.activities, t.quotas, t.org]


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


async def worker_rate(data: DataSet, figures: Figures, label: str = "c") -> dict[str, float]:
    settings = all_rules_settings(
        data.root / f"worker-{label}",
        topics=data.settings.topics,
        partitions=6,
        clock="event",
        allowed_lateness_seconds=DAY,
    )
    await ensure_topics(settings)
    worker = WorkerProcess(settings, data.root / f"worker-{label}.log")
    worker.start()
    peak_rss = 0.0
    try:
        assert worker.proc is not None
        catch = asyncio.create_task(wait_caught_up(worker, timeout=7200))
        while not catch.done():
            peak_rss = max(peak_rss, rss_mib(worker.proc.pid))
            await asyncio.sleep(0.5)
        caught = catch.result()
        # the rules judge on ticks: wait for one tick of every partition after catching up
        before = _ticks(worker)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            now_ticks = _ticks(worker)
            if all(now_ticks.get(k, 0) > v for k, v in before.items()):
                break
            await asyncio.sleep(0.1)
        judged = time.monotonic()
        metrics = worker.metrics()
        alerts = metric_sum(metrics, "salespulse_alerts_total")
        late = metric_sum(metrics, "salespulse_events_late_total")
        progress = get_json(settings, "/progress")
    finally:
        worker.stop()
    seconds = judged - caught.first_seen
    return {
        "rate": data.events / seconds,
        "seconds": seconds,
        "input_seconds": caught.caught_up - caught.first_seen,
        "alerts": alerts,
        "late": late,
        "peak_rss_mib": peak_rss,
        "lag": progress["lag"],
    }


def _ticks(worker: WorkerProcess) -> dict[str, float]:
    counts: dict[str, float] = {}
    for line in worker.metrics().splitlines():
        m = re.match(r'^salespulse_ticks_total\{partition="([^"]+)"\} (\S+)$', line)
        if m:
            counts[m.group(1)] = float(m.group(2))
    return counts


def replay_rate(data: DataSet) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "streamer.cli", "replay", str(data.file), "--quiet"],
        check=True,
        capture_output=True,
        text=True,
        timeout=7200,
        env={k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")},
    )
    seconds = time.perf_counter() - started
    summary = [line for line in done.stderr.splitlines() if " events read in " in line]
    alerts = sum(
        int(m.group(1).replace(",", ""))
        for m in re.finditer(r"alerts \S+ \S+: ([\d,]+)", done.stderr)
    )
    return {"rate": data.events / seconds, "seconds": seconds, "alerts": alerts,
            "summary": summary[-1] if summary else ""}  # fmt: skip


async def run(figures: Figures, events: int, parts: set[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="salespulse-bench-") as tmp:
        data = DataSet(Path(tmp), events)
        await data.make(figures)
        rates: dict[str, float] = {}
        extra: dict[str, Any] = {}
        if "a" in parts:
            rates["a"] = _subprocess_rate("bench.plain_loop", data)
            figures.add("throughput", "(a) plain aiokafka loop + json", rates["a"], "events/s")
        if "b" in parts:
            rates["b"] = _subprocess_rate("bench.bare_faust", data)
            figures.add("throughput", "(b) bare Faust agent + json", rates["b"], "events/s")
        if "bfast" in parts:
            rates["bfast"] = _subprocess_rate(
                "bench.bare_faust", data, env={"SALESPULSE_BENCH_FASTPATH": "1"}
            )
            label = "(b') bare Faust + json, worker's fast path and fetch settings"
            figures.add("throughput", label, rates["bfast"], "events/s")
        if "bbatch" in parts:
            rates["bbatch"] = _subprocess_rate(
                "bench.bare_faust", data, env={"SALESPULSE_BENCH_BATCH": "1"}
            )
            label = "(b'') bare Faust + json, batch hand-over (a partition's fetch at a time)"
            figures.add("throughput", label, rates["bbatch"], "events/s")
        if "c" in parts:
            c = await worker_rate(data, figures)
            rates["c"] = c["rate"]
            extra["worker"] = c
            figures.add("throughput", "(c) worker, every rule on", c["rate"], "events/s")
            figures.add("throughput", "(c) input drained (before final tick)",
                        data.events / c["input_seconds"], "events/s")  # fmt: skip
            figures.add("throughput", "(c) alerts emitted", int(c["alerts"]), "alerts")
            figures.add("throughput", "(c) peak RSS", c["peak_rss_mib"], "MiB")
        if "a" in rates:
            for k in ("b", "bfast", "bbatch", "c"):
                if k in rates:
                    figures.add("throughput", f"ratio {k}/a", rates[k] / rates["a"], "")
        if "replay" in parts:
            r = replay_rate(data)
            extra["replay"] = r
            figures.add("replay", "salespulse replay --quiet", r["rate"], "events/s")
            figures.add("replay", "alerts", r["alerts"], "alerts")
            if "a" in rates:
                figures.add("replay", "ratio replay/a", r["rate"] / rates["a"], "")
        return {"rates": rates, **extra}
