"""(b) A bare Faust agent that only reads (and parses the JSON, as the plain loop does).

    python -m bench.bare_faust BOOTSTRAP EXPECTED OUT.json TOPIC...

The app is configured as the salespulse worker configures its own (raw bytes, earliest,
at-least-once); ``SALESPULSE_BENCH_FAUST`` may hold a JSON object of extra Faust settings
to try, and ``SALESPULSE_BENCH_FASTPATH=1`` installs the worker's consumer fast path
and fetch settings (:mod:`streamer.faust_app.fastpath`); ``SALESPULSE_BENCH_BATCH=1`` (b'')
hands whole fetched batches of a partition to one handler instead (the fast path's batch
hand-over, same settings) and no agent reads the topics. Writes ``{"count", "seconds"}``
(first message to last) to OUT.json and exits.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import faust
from faust.worker import Worker


def main(bootstrap: str, expected: int, out: Path, topics: list[str]) -> None:
    extra = json.loads(os.environ.get("SALESPULSE_BENCH_FAUST", "{}"))
    batch = os.environ.get("SALESPULSE_BENCH_BATCH") == "1"
    fast = batch or os.environ.get("SALESPULSE_BENCH_FASTPATH") == "1"
    if fast:
        from streamer.faust_app.fastpath import THROUGHPUT_SETTINGS

        extra = {**THROUGHPUT_SETTINGS, **extra}
    app = faust.App(
        f"bench-bare-{uuid.uuid4().hex[:8]}",
        broker=f"kafka://{bootstrap}",
        store="memory://",
        consumer_auto_offset_reset="earliest",
        processing_guarantee="at_least_once",
        topic_allow_declare=False,
        web_enabled=False,
        autodiscover=False,
        **extra,
    )
    source = app.topic(
        *topics, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    state = {"count": 0, "first": 0.0}

    def done() -> None:
        seconds = time.perf_counter() - state["first"]
        out.write_text(json.dumps({"count": state["count"], "seconds": seconds}))
        os._exit(0)  # a benchmark: nothing to clean up but the process

    async def on_batch(tp: Any, messages: list[Any]) -> None:
        if not state["count"]:
            state["first"] = time.perf_counter()
        loads = json.loads
        for message in messages:
            loads(message.value)
        state["count"] += len(messages)
        if state["count"] >= expected:
            done()

    if fast:
        from streamer.faust_app.fastpath import install

        install(app, batch_handlers=dict.fromkeys(topics, on_batch) if batch else None)

    # With the batch hand-over the agent subscribes the topics but sees no event.
    @app.agent(source, name="bare")
    async def bare(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if not state["count"]:
                state["first"] = time.perf_counter()
            json.loads(event.message.value)
            state["count"] += 1
            if state["count"] >= expected:
                done()

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    Worker(app, loglevel="warning", quiet=True, loop=loop).execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:])
