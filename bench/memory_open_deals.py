"""Memory per open deal: the engine's state for N open deals, measured in-process.

    .venv/bin/python bench/memory_open_deals.py [N] [--rss] [--worker]   (default 100000)

Feeds N ``deal.created`` events (spread over 12 partitions, 6 stages, 40 reps)
through :class:`~streamer.core.deal_engine.DealEngine` over a plain dict, the way a
worker with ``store = "memory://"`` holds them, and prints the Python heap
growth (tracemalloc); with ``--rss`` it measures the process RSS growth
instead, without tracemalloc's own overhead.

With ``--worker`` the dict holds each deal's table value (bytes) behind the worker's
``CodecTable``, as ``rocksdb://`` does (values decoded one at a time, none kept), so
the heap is what a worker keeps in Python per open deal: the rule indexes and stage
statistics (RocksDB's own memory comes on top: see ``bench/state.py``). It also prints
the bytes per table value, in the table encoding and in the JSON object written before.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import tracemalloc
from datetime import UTC, datetime, timedelta

from schemas import DealCreated
from streamer.core.deal_engine import DealEngine, SharedView
from streamer.core.state.deal import decode_deal, encode_deal
from streamer.faust_app.worker import CodecTable
from streamer.settings import load_settings

STAGES = ("prospecting", "qualification", "discovery", "proposal", "negotiation", "review")


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(n: int, trace: bool, worker: bool) -> None:
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
    store = CodecTable(deals, decode_deal, encode_deal, cache=False) if worker else deals
    engine = DealEngine(settings, store, SharedView())
    for i, event in enumerate(events):
        partition = i % 12
        engine.on_deal_event(event, partition, event.occurred_at.timestamp())
        engine.outbox.clear()  # the worker sends the summaries on at once
    gc.collect()
    assert len(deals) == n
    if worker:  # the values are what RocksDB holds, not the worker's heap
        value_bytes = sum(map(len, deals.values()))
        heap_values = sum(sys.getsizeof(k) + sys.getsizeof(v) for k, v in deals.items())
        heap_values += sys.getsizeof(deals)
        json_bytes = sum(len(json.dumps(decode_deal(v).to_dict())) for v in deals.values())
        print(f"table value: {value_bytes / n:.0f} B/deal encoded, {json_bytes / n:.0f} B/deal "
              "as the JSON object written before")  # fmt: skip
    if trace:
        heap, _peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if worker:
            heap -= heap_values  # approximately: the bytes objects and the dict holding them
        what = "worker heap beside RocksDB" if worker else "python heap"
        print(f"{n} open deals: {what} {heap / 2**20:.1f} MiB ({heap / n:.0f} B/deal)")
    else:
        grown = rss_mib() - rss_before
        print(f"{n} open deals: RSS growth {grown:.1f} MiB ({grown * 2**20 / n:.0f} B/deal)")


if __name__ == "__main__":
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    main(int(args[0]) if args else 100_000, "--rss" not in sys.argv, "--worker" in sys.argv)
