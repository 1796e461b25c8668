"""Memory per open deal: the engine's state for N open deals, measured in-process.

    .venv/bin/python bench/memory_open_deals.py [N] [--rss]   (default 100000)

Feeds N ``deal.created`` events (spread over 12 partitions, 6 stages, 40 reps)
through :class:`~streamer.core.deal_engine.DealEngine` over a plain dict, the way a
worker with ``store = "memory://"`` holds them, and prints the Python heap
growth (tracemalloc); with ``--rss`` it measures the process RSS growth
instead, without tracemalloc's own overhead. With ``rocksdb://`` the deal
values live in RocksDB (disk plus its caches) and the in-memory part is the
stall index and statistics, so this is an upper bound for the worker's heap.
"""

from __future__ import annotations

import gc
import resource
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

from schemas import DealCreated
from streamer.core.deal_engine import DealEngine, SharedView
from streamer.settings import load_settings

STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "review")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(n: int, trace: bool) -> None:
    settings = load_settings(store="memory://")
    t0 = datetime(2026, 1, 5, tzinfo=UTC)
    events = (
        DealCreated(
            event_id=f"e-{i}",
            occurred_at=t0 + timedelta(seconds=i * 30),
            source="bench",
            deal_id=f"deal-{i:07d}",
            rep_id=f"rep-{i % 40}",
            team_id=f"team-{i % 3}",
            stage=STAGES[i % len(STAGES)],
            amount=1000.0 + i % 5000,
            source_channel=("referral", "ads", "event")[i % 3],
            product=("platform-annual", "addon")[i % 2],
        )
        for i in range(n)
    )
    gc.collect()
    rss_before = rss_mib()
    if trace:
        tracemalloc.start()
    deals: dict = {}
    engine = DealEngine(settings, deals, SharedView())
    for i, event in enumerate(events):
        partition = i % 12
        engine.observe(partition, event.occurred_at.timestamp())
        engine.on_deal_event(event, partition, event.occurred_at.timestamp())
    gc.collect()
    assert len(deals) == n
    if trace:
        heap, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"{n} open deals: python heap {heap / 2**20:.1f} MiB ({heap / n:.0f} B/deal)")
    else:
        grown = rss_mib() - rss_before
        print(f"{n} open deals: RSS growth {grown:.1f} MiB ({grown * 2**20 / n:.0f} B/deal)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 100_000, trace="--rss" not in sys.argv)
