"""What one event costs in the engines, part by part, in one process (no Kafka).

    python -m bench.engine_path FILE [--limit N] [--repeat R]

FILE is a JSON-lines file of events (``salespulse simulate`` or ``write_jsonl``). Prints
microseconds per event for:

- ``json.loads``: the floor any consumer pays (what ``bench.plain_loop`` does);
- ``parse_event``: bytes to a validated event model;
- ``feed``: ``Replay.feed`` of the parsed events over dict stores, rule ticks off,
  split into the deal side (deal events and touches, with the summaries they send)
  and the rep side (activities, leads, quotas, summaries received);
- ``feed over JSON stores``: the same (once) over stores that encode every write to
  JSON and decode reads as the worker's tables do (the deals table without a decode
  cache);
- per table value left at the end: encoding (to_dict + json) and decoding (json +
  from_dict) each.

Times are the process's CPU time (less disturbed by other work on a shared machine
than wall time); each figure but the JSON-store feed is the best of ``--repeat`` runs
on fresh engines.
Timings only mean something next to each other, on the same machine in the same run;
nothing here is a test.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from schemas import EventRejected, parse_event
from streamer.core.state.activity import ActivityDay
from streamer.core.state.deal import DealState
from streamer.core.state.rep import RepState
from streamer.faust_app.worker import CodecTable
from streamer.replay import Replay
from streamer.settings import load_settings


class JsonTable(dict[str, bytes]):
    """Stands in for a Faust table with a JSON value schema: JSON bytes in, JSON values out."""

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        raw = super().get(key)
        return default if raw is None else json.loads(raw)

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, json.dumps(value).encode())

    def values(self) -> Any:  # type: ignore[override]
        return [json.loads(raw) for raw in super().values()]

    def raw(self) -> list[bytes]:
        return list(super().values())


class _Clock:
    """Time spent inside the wrapped methods."""

    def __init__(self) -> None:
        self.seconds = 0.0

    def wrap(self, target: Any, name: str) -> None:
        inner = getattr(target, name)
        clock = time.perf_counter

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = clock()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += clock() - started

        setattr(target, name, timed)


def _replay(codec: bool) -> Replay:
    replay = Replay(load_settings())
    replay.tick = lambda: None  # type: ignore[method-assign]
    if codec:
        # the worker's own wrapper, with the decode caches it gives each table
        deals = CodecTable(JsonTable(), DealState.from_dict, DealState.to_dict, cache=False)
        reps = CodecTable(JsonTable(), RepState.from_dict, RepState.to_dict, cache=True)
        buckets = CodecTable(JsonTable(), ActivityDay.from_dict, ActivityDay.to_dict, cache=True)
        replay.deals.deals = deals
        replay.reps.reps, replay.reps.buckets = reps, buckets
    return replay


def _best(repeat: int, run: Callable[[], float]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        best = min(best, run())
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.engine_path", description=__doc__)
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--limit", type=int, default=None, help="read at most N events")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args(argv)

    lines = [line for line in args.file.read_bytes().splitlines() if line.strip()]
    if args.limit is not None:
        lines = lines[: args.limit]
    n = len(lines)
    events = []
    for line in lines:
        with contextlib.suppress(EventRejected):
            events.append(parse_event(line))

    def timed_loop(step: Callable[[bytes], Any]) -> Callable[[], float]:
        def run() -> float:
            started = time.process_time()
            for line in lines:
                with contextlib.suppress(EventRejected):
                    step(line)
            return time.process_time() - started

        return run

    per_event: dict[str, float] = {}
    per_event["json.loads"] = _best(args.repeat, timed_loop(json.loads))
    per_event["parse_event"] = _best(args.repeat, timed_loop(parse_event))

    best, split = float("inf"), {}
    for _ in range(args.repeat):
        replay = _replay(codec=False)
        deal_side, rep_side = _Clock(), _Clock()
        for name in ("on_deal_event", "on_touch"):
            deal_side.wrap(replay.deals, name)
        for name in ("on_activity", "on_lead", "on_quota", "on_summary"):
            rep_side.wrap(replay.reps, name)
        gc.collect()
        started = time.process_time()
        for event in events:
            replay.feed(event)
        seconds = time.process_time() - started
        if seconds < best:
            best = seconds
            split = {"deal side": deal_side.seconds, "rep side": rep_side.seconds}
    per_event["feed (ticks off)"] = best
    per_event.update({f"  {k}": v for k, v in split.items()})

    # once: it is long, and its stores are what the codec figures below are about
    replay = _replay(codec=True)
    gc.collect()
    started = time.process_time()
    for event in events:
        replay.feed(event)
    per_event["feed over JSON stores"] = time.process_time() - started

    print(f"{n:,} lines, {len(events):,} valid events; best of {args.repeat} runs")
    print("per event, us")
    for label, seconds in per_event.items():
        print(f"  {label:<28} {seconds / n * 1e6:9.2f}")
    print("per table value at the end, us: encode (to_dict + json), decode (json + from_dict)")
    stores = {"deals": replay.deals.deals, "reps": replay.reps.reps, "buckets": replay.reps.buckets}
    for name, store in stores.items():
        assert isinstance(store, CodecTable)
        raw = store.table.raw()
        objects = [store.decode(json.loads(r)) for r in raw]

        def encode(objects: list[Any] = objects, store: CodecTable = store) -> float:
            started = time.process_time()
            for obj in objects:
                json.dumps(store.encode(obj)).encode()
            return time.process_time() - started

        def decode(raw: list[bytes] = raw, store: CodecTable = store) -> float:
            started = time.process_time()
            for r in raw:
                store.decode(json.loads(r))
            return time.process_time() - started

        count = max(len(raw), 1)
        size = sum(map(len, raw)) / count
        enc = _best(args.repeat, encode) / count * 1e6
        dec = _best(args.repeat, decode) / count * 1e6
        print(f"  {name:<8} {len(raw):>7,} values of {size:>8,.0f} bytes: {enc:9.2f} {dec:9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
