"""(a) The practical ceiling: a plain aiokafka consumer loop that reads and parses JSON.

    python -m bench.plain_loop BOOTSTRAP EXPECTED OUT.json TOPIC...

Reads the topics from the beginning (no group, no commits), ``json.loads`` every value,
and writes ``{"count", "seconds"}`` (first record to last) to OUT.json.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

from aiokafka import AIOKafkaConsumer


async def main(bootstrap: str, expected: int, out: Path, topics: list[str]) -> None:
    consumer = AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    count, first, parsed_bytes = 0, 0.0, 0
    try:
        while count < expected:
            batches = await consumer.getmany(timeout_ms=1000)
            if batches and not first:
                first = time.perf_counter()
            for records in batches.values():
                for record in records:
                    value = json.loads(record.value)
                    parsed_bytes += len(record.value)
                    count += 1 if value is not None else 0
        seconds = time.perf_counter() - first
    finally:
        await consumer.stop()
    out.write_text(json.dumps({"count": count, "seconds": seconds, "bytes": parsed_bytes}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4:]))
