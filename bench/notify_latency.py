"""Delivery latency, event in to notification out, through a real worker and Kafka.

    .venv/bin/python bench/notify_latency.py [N] [--spacing SECONDS]   (default 200, 0.05)

Needs the local broker (``salespulse kafka up``). Starts a local HTTP server
answering as a Slack incoming webhook does and a ``salespulse worker`` on the
wall clock (ticks every 0.2 s, the hook's 1 message/s limit switched off so
the pipeline, not the throttle, is measured). Then it writes N ``deal.created``
events for deals that entered ``proposal`` 40 days ago, one every
``--spacing`` seconds. Each deal is stalled the moment it is known, so the
path measured is: produce -> deal agent -> next tick -> ``sales.alerts`` ->
lifecycle -> outbox -> delivery -> HTTP POST received. Latency per deal is
the time the POST arrived minus the time the event was acknowledged by Kafka.
Prints the median, p90, p99 and max.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from schemas import DealCreated  # noqa: E402
from streamer.kafka_admin import ensure_topics  # noqa: E402
from tests.integration.kafka_helpers import (  # noqa: E402
    WorkerProcess,
    event_bytes,
    isolated_settings,
    produce,
)
from tests.integration.notify_servers import FakeSlack  # noqa: E402


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main(count: int, spacing: float) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        async with FakeSlack() as slack:
            settings = isolated_settings(
                Path(tmp),
                clock="wall",
                tick_interval_seconds=0.2,
                notifications={
                    "receivers": {
                        "team": {
                            "type": "slack_webhook",
                            "url": slack.url("/hook/team"),
                            "min_interval_seconds": 0,
                        }
                    },
                    "default_receiver": "team",
                },
            )
            await ensure_topics(settings)
            worker = WorkerProcess(settings, Path(tmp) / "worker.log")
            worker.start()
            try:
                worker.wait_ready()
                entered = datetime.now(UTC) - timedelta(days=40)
                sent: dict[str, float] = {}
                for i in range(count):
                    deal = DealCreated(
                        event_id=f"bench-{i}",
                        occurred_at=entered,
                        source="bench",
                        deal_id=f"bench-{i}",
                        rep_id="rep-1",
                        stage="proposal",
                        amount=1000,
                    )
                    await produce(
                        settings,
                        [(settings.topics.deals, deal.deal_id.encode(), event_bytes(deal))],
                    )
                    sent[deal.deal_id] = time.time()
                    await asyncio.sleep(spacing)
                await slack.wait_for(
                    lambda: len(slack.delivered()) >= count, 120, "every notification", worker.tail
                )
            finally:
                worker.stop()
            latencies = []
            for call in slack.delivered():
                deal_id = call.payload["blocks"][-1]["elements"][0]["text"].split("deal ")[1]
                deal_id = deal_id.split(" ")[0]
                latencies.append(call.received_at - sent[deal_id])
    ms = [x * 1000 for x in latencies]
    print(
        f"notifications: {len(ms)}  median {statistics.median(ms):.0f} ms  "
        f"p90 {quantile(ms, 0.90):.0f} ms  p99 {quantile(ms, 0.99):.0f} ms  max {max(ms):.0f} ms"
    )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=200)
    parser.add_argument("--spacing", type=float, default=0.05)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.count, args.spacing)))
