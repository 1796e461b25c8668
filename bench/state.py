"""State at scale: open deals, tick cost, worker memory and recovery from the changelog.

For each size N of open deals:

* **tick** (in process, the :class:`~streamer.core.deal_engine.DealEngine` a worker runs,
  over a dict):
  N open deals of which 100 are due (entered their stage 40 days ago, so ``deal_stalled``
  and ``follow_up_gap`` fire for them); the rest entered spread over the same 4.6 days
  at every N. A tick costs one search per (team, entry day, stage) group of the index
  plus the deals due; the groups are the same at every N here. The index
  rebuild (``assign``, what a worker does after recovery), then one tick of every partition
  with the 100 due, then one tick with none due. A tick must cost in proportion to the
  deals due, not to N.
* **worker** (a real worker, production store ``rocksdb://``, every rule on): the N deals
  are written to the ``deals`` table's changelog topic as the worker itself would have
  written them; then a worker with an empty data directory starts and restores them
  (start to ``/ready``, and to its ``deals_indexed`` log lines covering every partition:
  the deal indexes rebuilt from the table, which the worker does at its first batch once
  the tables are recovered), its RSS is read, and it is restarted once on its intact data
  directory (restart to indexed).
"""

from __future__ import annotations

import asyncio
import gc
import json
import tempfile
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from streamer.core.deal_engine import DealEngine, SharedView
from streamer.core.routing import partition_for
from streamer.core.state.deal import DealState, StageMark, encode_deal
from streamer.core.timeutil import DAY
from streamer.kafka_admin import ensure_topics
from streamer.settings import load_settings

from .common import Figures, WorkerProcess, all_rules_settings, rss_mib

PARTITIONS = 6
DUE = 100
STAGES = ("prospecting", "qualification", "proposal", "negotiation")


def open_deals(n: int, now: float, due: int, partitions: int = PARTITIONS) -> dict[str, DealState]:
    deals: dict[str, DealState] = {}
    for i in range(n):
        deal_id = f"deal-{i:07d}"
        # the rest spread evenly over the same 4.6 days at every size, so every size has
        # the same (team, entry day, stage) groups and only the number of deals differs
        entered = now - 40 * DAY - i if i < due else now - 5 * DAY + i * 400_000 // n
        event_id = f"e-{i}"
        attributes = {
            "rep_id": (f"rep-{i % 400}", entered, event_id),
            "team_id": (("central", "east", "west")[i % 3], entered, event_id),
            "pipeline": ("default", entered, event_id),
            "amount": (1000.0 + i % 5000, entered, event_id),
            "currency": ("USD", entered, event_id),
        }
        deals[deal_id] = DealState(
            deal_id=deal_id,
            partition=partition_for(deal_id, partitions),
            marks=(StageMark(entered, event_id, STAGES[i % len(STAGES)]),),
            attributes=attributes,
            created_at=entered,
            revision=1,
        )
    return deals


def tick_figures(figures: Figures, n: int) -> dict[str, float]:
    now = time.time()
    settings = load_settings(store="memory://")
    deals = open_deals(n, now, DUE)
    gc.collect()
    engine = DealEngine(settings, deals, SharedView())
    started = time.perf_counter()
    engine.assign(range(PARTITIONS))
    rebuilt = time.perf_counter() - started
    started = time.perf_counter()
    fired = sum(len(engine.on_tick(p, now)) for p in range(PARTITIONS))
    busy = time.perf_counter() - started
    started = time.perf_counter()
    again = sum(len(engine.on_tick(p, now + 60)) for p in range(PARTITIONS))
    idle = time.perf_counter() - started
    label = f"{n:,} open"
    figures.add("state", f"{label}: index rebuild (all partitions)", rebuilt, "s")
    figures.add("state", f"{label}: tick, {DUE} due ({fired} alerts)", busy * 1000, "ms")
    figures.add("state", f"{label}: tick, none due ({again} alerts)", idle * 1000, "ms")
    return {"rebuild_s": rebuilt, "tick_due_ms": busy * 1000, "tick_idle_ms": idle * 1000,
            "alerts": fired}  # fmt: skip


async def write_changelog(settings: Any, deals: dict[str, DealState]) -> None:
    topic = f"{settings.app_id}-deals-changelog"
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [NewTopic(topic, PARTITIONS, 1, topic_configs={"cleanup.policy": "compact"})]
        )
    finally:
        await admin.close()
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, linger_ms=20, acks="all",
        max_batch_size=256 * 1024,
    )  # fmt: skip
    await producer.start()
    try:
        pending = []
        for deal in deals.values():
            pending.append(
                await producer.send(
                    topic,
                    key=json.dumps(deal.deal_id).encode(),
                    value=encode_deal(deal),
                    partition=deal.partition,
                )
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def _indexed_partitions(worker: WorkerProcess, since: int) -> set[int]:
    """The deal partitions the worker has indexed, from the ``deals_indexed`` lines of its
    log after byte ``since`` (a JSON record, behind whatever prefix the log handler writes
    before it). The worker no longer ticks per deal partition (its
    ``salespulse_ticks_total`` counts rep partitions only), so the log line is the signal."""
    indexed: set[int] = set()
    with open(worker.log_path, "rb") as log:
        log.seek(since)
        for line in log:
            start = line.find(b"{")
            if b'"deals_indexed"' not in line or start < 0:
                continue
            try:
                record = json.loads(line[start:])
            except ValueError:
                continue
            if record.get("event") == "deals_indexed":
                indexed.update(record.get("partitions", ()))
    return indexed


async def _start_and_time(worker: WorkerProcess, timeout: float) -> tuple[float, float]:
    """Seconds from start to ``/ready``, and to every deal partition indexed (raises
    TimeoutError if that does not come within ``timeout``)."""
    since = worker.log_path.stat().st_size if worker.log_path.exists() else 0
    started = time.monotonic()
    worker.start()
    worker.wait_ready(timeout)
    ready = time.monotonic() - started
    deadline = time.monotonic() + timeout
    while len(_indexed_partitions(worker, since)) < PARTITIONS:
        if time.monotonic() > deadline:
            raise TimeoutError(f"deals not indexed on every partition in {timeout:.0f}s")
        await asyncio.sleep(0.1)
    return ready, time.monotonic() - started


async def worker_figures(figures: Figures, n: int, root: Path) -> dict[str, float]:
    settings = all_rules_settings(root, partitions=PARTITIONS, clock="wall",
                                  tick_interval_seconds=1.0, log_level="INFO")  # fmt: skip
    await ensure_topics(settings)
    deals = open_deals(n, time.time(), DUE)
    started = time.perf_counter()
    await write_changelog(settings, deals)
    written = time.perf_counter() - started
    del deals
    gc.collect()
    label = f"{n:,} open"
    figures.add("state", f"{label}: changelog written", written, "s")
    worker = WorkerProcess(settings, root / "worker.log")
    timeout = 600 + n / 500
    try:
        ready, indexed = await _start_and_time(worker, timeout)
        assert worker.proc is not None
        rss = rss_mib(worker.proc.pid)
        worker.stop()
        again_ready, again_indexed = await _start_and_time(worker, timeout)
    finally:
        worker.stop()
    figures.add("state", f"{label}: worker RSS (rocksdb, indexes built)", rss, "MiB")
    figures.add("state", f"{label}: recovery, empty data dir -> ready", ready, "s")
    figures.add("state", f"{label}: recovery, empty data dir -> indexed", indexed, "s")
    figures.add("state", f"{label}: restart on its data dir -> indexed", again_indexed, "s")
    return {"rss_mib": rss, "ready_s": ready, "indexed_s": indexed,
            "restart_ready_s": again_ready, "restart_indexed_s": again_indexed}  # fmt: skip


async def run(figures: Figures, sizes: tuple[int, ...]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for n in sizes:
        results[str(n)] = {"tick": tick_figures(figures, n)}
        gc.collect()
        with tempfile.TemporaryDirectory(prefix="salespulse-state-") as tmp:
            try:
                results[str(n)]["worker"] = await worker_figures(figures, n, Path(tmp))
            except (AssertionError, TimeoutError) as error:
                figures.add("state", f"{n:,} open: worker not measured", str(error)[:80])
    return results
