"""Latency, event produced to alert on ``sales.alerts``, under a steady offered load.

Design (wall clock, so an event is judged the moment it is processed):

* ``P`` probe deals are created as having entered ``proposal`` 40 days ago; the first tick
  finds each stalled and fires ``deal_stalled``. The bench waits for all of those alerts.
* Then, per load level (a share of the worker's measured maximum throughput), the bench
  offers a steady stream of simulator events (the realistic mix of activities, deal and
  lead events, every rule on) at that rate for a while; a fixed share of the messages are
  probes: a ``deal.stage_changed`` that moves a stalled probe deal on. The deal agent
  resolves the stall in stream, with no tick involved, so each probe gives one
  ``deal_stalled resolved`` alert.
* Latency of a probe = the time its alert was read from ``sales.alerts`` (a consumer
  polling with a 10 ms fetch wait) minus the time the probe was handed to the producer.
  Both clocks are this machine's. The first seconds of each level are a warm-up and are
  not counted.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas import DealCreated, DealStageChanged
from streamer.devtools.simulate import SimConfig, generate
from streamer.kafka_admin import ensure_topics

from .common import Figures, WorkerProcess, all_rules_settings

LEVELS = (0.2, 0.5, 0.8)
PROBES_PER_SECOND = 10.0
WARM_UP = 3.0


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(
    figures: Figures, max_rate: float | None, seconds: float, quick: bool = False
) -> dict[str, Any]:
    if not max_rate:
        figures.add("latency", "skipped (no measured worker throughput)", "n/a")
        return {}
    with tempfile.TemporaryDirectory(prefix="salespulse-latency-") as tmp:
        settings = all_rules_settings(Path(tmp), clock="wall", tick_interval_seconds=0.5)
        await ensure_topics(settings)
        worker = WorkerProcess(settings, Path(tmp) / "worker.log")
        worker.start()
        try:
            worker.wait_ready(120)
            return await _measure(figures, settings, max_rate, seconds, worker)
        finally:
            worker.stop()


async def _measure(
    figures: Figures, settings: Any, max_rate: float, seconds: float, worker: WorkerProcess
) -> dict[str, Any]:
    topics = settings.topics
    per_level = int(PROBES_PER_SECOND * (seconds + WARM_UP)) + 10
    probes = per_level * len(LEVELS)
    entered = datetime.now(UTC) - timedelta(days=40)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=0)
    await producer.start()
    resolved: dict[str, float] = {}
    fired: set[str] = set()
    consumer = AIOKafkaConsumer(
        topics.alerts, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
        auto_offset_reset="earliest", fetch_max_wait_ms=10,
    )  # fmt: skip
    await consumer.start()

    async def collect() -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for records in batches.values():
                for record in records:
                    alert = json.loads(record.value)
                    if alert["rule"] != "deal_stalled" or not alert["subject"]["id"].startswith(
                        "probe-"
                    ):
                        continue
                    if alert["status"] == "firing":
                        fired.add(alert["subject"]["id"])
                    else:
                        resolved.setdefault(alert["subject"]["id"], now)

    collector = asyncio.create_task(collect())
    results: dict[str, Any] = {}
    try:
        for i in range(probes):
            deal = DealCreated(
                event_id=f"probe-created-{i}", occurred_at=entered, source="bench",
                deal_id=f"probe-{i}", rep_id="probe-rep", stage="proposal", amount=1000,
            )  # fmt: skip
            await producer.send(topics.deals, deal.model_dump_json().encode(), key=b"probe-%d" % i)
        await producer.flush()
        deadline = time.monotonic() + 120
        while len(fired) < probes and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        figures.add("latency", "probe deals stalled before the load", len(fired), "deals")
        start = datetime.now(UTC) - timedelta(days=2)
        background = iter(generate(SimConfig(seed=9, reps=100, days=None, start=start)))
        names = {role: getattr(topics, role) for role in ("deals", "activities", "quotas", "org")}
        next_probe = 0
        for level in LEVELS:
            rate = level * max_rate
            sent: dict[str, float] = {}
            probe_every = max(1, round(rate / PROBES_PER_SECOND))
            started = time.perf_counter()
            n = 0
            while True:
                elapsed = time.perf_counter() - started
                if elapsed >= seconds + WARM_UP:
                    break
                due = int(elapsed * rate)
                while n < due:
                    n += 1
                    if n % probe_every == 0 and next_probe < probes:
                        deal_id = f"probe-{next_probe}"
                        next_probe += 1
                        move = DealStageChanged(
                            event_id=f"{deal_id}-moved", occurred_at=datetime.now(UTC),
                            source="bench", deal_id=deal_id, rep_id="probe-rep",
                            stage="negotiation", from_stage="proposal", amount=1000,
                        )  # fmt: skip
                        at = time.perf_counter()
                        await producer.send(
                            topics.deals, move.model_dump_json().encode(), key=deal_id.encode()
                        )
                        if at - started >= WARM_UP:
                            sent[deal_id] = at
                    else:
                        event = next(background)
                        await producer.send(
                            names[event.topic], json.dumps(event.value).encode(),
                            key=event.key.encode(),
                        )  # fmt: skip
                await asyncio.sleep(0.002)
            offered = n / (time.perf_counter() - started)
            deadline = time.monotonic() + 60
            while not all(d in resolved for d in sent) and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            ms = [(resolved[d] - t) * 1000 for d, t in sent.items() if d in resolved]
            label = f"{level:.0%} of max ({rate:,.0f}/s offered, {offered:,.0f}/s achieved)"
            if ms:
                figures.add("latency", f"{label} median", statistics.median(ms), "ms")
                figures.add("latency", f"{label} p99", quantile(ms, 0.99), "ms")
            missing = len(sent) - len(ms)
            if missing:
                figures.add("latency", f"{label} probes without alert in 60 s", missing, "")
            results[f"{level:.2f}"] = {
                "offered_rate": rate, "achieved_rate": offered, "probes": len(sent),
                "median_ms": statistics.median(ms) if ms else None,
                "p99_ms": quantile(ms, 0.99) if ms else None, "missing": missing,
            }  # fmt: skip
            await asyncio.sleep(2.0)  # let the worker drain before the next level
    finally:
        collector.cancel()
        await producer.stop()
        await consumer.stop()
    return results
