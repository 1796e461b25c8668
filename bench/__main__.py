"""Run the benchmark suite: ``python -m bench [--quick] [--only SECTION,...]``.

Sections: throughput (a plain loop, the Quix Streams peer, b bare Faust, c worker; with
the replay on the same events), latency, state, history (a year of 5,000 reps
replayed). Prints a table and writes ``bench/results/<time>.json`` and
``bench/results/latest.json``; deletes the topics it made. Needs the local broker
(``salespulse kafka up``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .common import Figures, delete_bench_topics, machine, write_results

SECTIONS = ("throughput", "latency", "state", "history")
FULL = {"events": 1_000_000, "deals": (10_000, 100_000, 1_000_000), "latency_seconds": 60.0}
QUICK = {"events": 20_000, "deals": (2_000, 10_000), "latency_seconds": 10.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test")
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    parser.add_argument("--events", type=int, help="size of the throughput data set")
    parser.add_argument(
        "--parts",
        default="a,quix,b,bfast,c,replay",
        help="throughput parts: a, quix (the Quix Streams peer), b, bfast (b with the "
        "consumer fast path), bbatch (b with the batch hand-over), c, replay",
    )
    parser.add_argument("--deals", help="comma-separated open-deal counts for the state section")
    parser.add_argument("--history-reps", type=int, help="reps of the history section")
    parser.add_argument("--history-days", type=float, help="days of the history section")
    parser.add_argument("--out", type=Path, default=Path("bench/results"))
    parser.add_argument(
        "--max-rate",
        type=float,
        help="the worker's maximum events/s for the latency loads, when throughput (c) "
        "is not measured in this run",
    )
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    if args.events:
        sizes["events"] = args.events
    if args.deals:
        sizes["deals"] = tuple(int(x) for x in args.deals.split(","))
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")

    figures = Figures()
    info = machine()
    print(f"machine: {info}", file=sys.stderr)
    results: dict = {"machine": info, "sizes": sizes, "quick": args.quick,
                     "started": datetime.now(UTC).isoformat()}  # fmt: skip
    started = time.perf_counter()
    try:
        run_sections(args, only, sizes, figures, results)
    finally:
        deleted = asyncio.run(delete_bench_topics())
        print(f"deleted the run's {len(deleted)} topics from the broker", file=sys.stderr)
    results["seconds"] = time.perf_counter() - started
    results["figures"] = figures.as_json()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    write_results(args.out / f"{stamp}{'-quick' if args.quick else ''}.json", results)
    write_results(args.out / "latest.json", results)
    print()
    print(
        f"machine: {info['cpus']} x {info['cpu_model']}, {info['memory_gib']} GiB, "
        f"Python {info['python']}, faust {info['faust']}, aiokafka {info['aiokafka']}, "
        f"load average at start {info['load_average_at_start'][0]:.2f}"
    )
    print(figures.table())
    if "throughput" in results:
        from . import throughput

        print(f"\nside by side, {sizes['events']:,} events, one run:")
        print(throughput.side_by_side(results["throughput"]))
    print(f"\nwritten to {args.out / 'latest.json'}")
    return 0


def run_sections(
    args: argparse.Namespace,
    only: set[str],
    sizes: dict[str, Any],
    figures: Figures,
    results: dict[str, Any],
) -> None:
    max_rate = args.max_rate
    if "throughput" in only:
        from . import throughput

        parts = {p.strip() for p in args.parts.split(",")}
        results["throughput"] = asyncio.run(throughput.run(figures, sizes["events"], parts))
        max_rate = results["throughput"]["rates"].get("c") or max_rate
    if "latency" in only:
        from . import latency

        results["latency"] = asyncio.run(
            latency.run(figures, max_rate, sizes["latency_seconds"], quick=args.quick)
        )
    if "state" in only:
        from . import state

        results["state"] = asyncio.run(state.run(figures, sizes["deals"]))
    if "history" in only:
        from . import history

        size = history.QUICK if args.quick else history.FULL
        results["history"] = history.run(
            figures, args.history_reps or size["reps"], args.history_days or size["days"]
        )


if __name__ == "__main__":
    sys.exit(main())
