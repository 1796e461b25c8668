"""``salespulse demo``: everything on one machine, until Ctrl-C.

A local Kafka (unless ``SALESPULSE_KAFKA_BOOTSTRAP`` names one), a worker on
the event clock, the simulator writing some weeks of history and then going
on at a compressed pace, and the alerts printed as they fire. Each run uses
its own topics and consumer group (``demo-<run>.``), so runs never mix.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas import Alert

from ..alerts_cli import follow_alerts
from ..settings import Settings, TopicNames

__all__ = ["add_arguments", "demo_settings", "run_demo"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reps", type=int, default=12, help="sales reps to simulate (12)")
    parser.add_argument("--seed", type=int, default=7, help="simulator seed (7)")
    parser.add_argument(
        "--backfill-days",
        type=float,
        default=120.0,
        help="days of history written first, as fast as possible (120)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=7200.0,
        help="simulated seconds per real second after the history (7200: 2 hours a second)",
    )
    parser.add_argument(
        "--exit-after",
        type=int,
        default=0,
        metavar="N",
        help="stop by itself after N deal_stalled alerts have fired (0: run until Ctrl-C)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop by itself after this long (0: no limit)",
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def demo_settings(settings: Settings, run: str, web_port: int) -> Settings:
    prefix = f"demo-{run}."
    topics = TopicNames(**{k: prefix + v for k, v in settings.topics.model_dump().items()})
    return settings.model_copy(
        update={
            "topics": topics,
            "app_id": f"salespulse-demo-{run}",
            "clock": "event",
            "web_port": web_port,
            "tick_interval_seconds": 1.0,
            "stats_publish_interval_seconds": 1.0,
            "allowed_lateness_seconds": 0.0,
            "data_dir": Path(settings.data_dir) / "demo" / run,
        }
    )


def _worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "SALESPULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "SALESPULSE_APP_ID": settings.app_id,
            "SALESPULSE_CLOCK": settings.clock,
            "SALESPULSE_WEB_PORT": str(settings.web_port),
            "SALESPULSE_DATA_DIR": str(settings.data_dir),
            "SALESPULSE_TICK_INTERVAL_SECONDS": str(settings.tick_interval_seconds),
            "SALESPULSE_STATS_PUBLISH_INTERVAL_SECONDS": str(
                settings.stats_publish_interval_seconds
            ),
            "SALESPULSE_ALLOWED_LATENESS_SECONDS": str(settings.allowed_lateness_seconds),
        }
    )
    for role, name in settings.topics.model_dump().items():
        env[f"SALESPULSE_TOPICS__{role.upper()}"] = name
    return env


async def _run(
    settings: Settings, args: argparse.Namespace, worker: subprocess.Popen[bytes]
) -> int:
    from . import simulate

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    stalled = 0

    def on_alert(alert: Alert) -> None:
        nonlocal stalled
        if alert.rule == "deal_stalled" and alert.status == "firing":
            stalled += 1
            if args.exit_after and stalled >= args.exit_after:
                stop.set()

    start = datetime.now(UTC) - timedelta(days=args.backfill_days)
    config = simulate.SimConfig(
        seed=args.seed, start=start, days=args.backfill_days + 365.0, reps=args.reps
    )
    producer = asyncio.create_task(
        simulate.produce(
            settings, config, speed=args.speed, backfill_days=args.backfill_days, stop=stop
        )
    )
    follower = asyncio.create_task(
        follow_alerts(settings, stop=stop, on_alert=on_alert, out=sys.stdout)
    )

    async def watch_worker() -> None:
        while worker.poll() is None and not stop.is_set():
            await asyncio.sleep(0.5)
        if worker.poll() is not None and not stop.is_set():
            print(f"demo: the worker exited with code {worker.returncode}", file=sys.stderr)
            stop.set()

    watcher = asyncio.create_task(watch_worker())
    waiter = asyncio.create_task(stop.wait())
    timeout = args.timeout or None
    await asyncio.wait({waiter}, timeout=timeout)
    stop.set()
    for task in (producer, follower, watcher):
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(task, timeout=10)
    print(f"demo: {stalled} deal_stalled alerts fired", file=sys.stderr)
    return 0 if worker.returncode in (None, 0) else 1


def run_demo(settings: Settings, args: argparse.Namespace) -> int:
    from ..kafka_admin import ensure_topics
    from .devkafka import DevKafkaError, kafka_down, kafka_status, kafka_up

    own_kafka = "SALESPULSE_KAFKA_BOOTSTRAP" not in os.environ
    started_kafka = False
    if own_kafka:
        try:
            running, _ = kafka_status(settings)
            if not running:
                kafka_up(settings)
                started_kafka = True
        except DevKafkaError as error:
            print(f"salespulse demo: {error}", file=sys.stderr)
            return 2
    run = time.strftime("%Y%m%d-%H%M%S")
    demo = demo_settings(settings, run, _free_port())
    Path(demo.data_dir).mkdir(parents=True, exist_ok=True)
    asyncio.run(ensure_topics(demo))
    log_path = Path(demo.data_dir) / "worker.log"
    print(
        f"demo: run {run}; worker log {log_path}; metrics "
        f"http://127.0.0.1:{demo.web_port}/metrics; Ctrl-C stops everything",
        file=sys.stderr,
    )
    with open(log_path, "ab") as log:
        worker = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "worker"],
            env=_worker_env(demo),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        return asyncio.run(_run(demo, args, worker))
    finally:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        if started_kafka:
            kafka_down(settings)
        print("demo: stopped", file=sys.stderr)
