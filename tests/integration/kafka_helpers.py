"""Helpers for tests against the real local Kafka: a worker process, producing, collecting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streamer.settings import RulesSettings, Settings, TopicNames, load_settings

BOOTSTRAP = os.environ.get("SALESPULSE_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


# what isolated_settings names topics (its own) and Faust names the app's internal ones
TEST_TOPIC_PREFIXES = ("t-", "salespulse-test-")

#: The run ids isolated_settings has handed out in this process, in order: a test owns
#: the topics of the runs it made (other test sessions share the broker and make topics
#: with the same prefixes at the same time).
RUNS: list[str] = []


def topics_of_runs(names: Iterable[str], runs: Iterable[str]) -> set[str]:
    """Of ``names``, the topics isolated_settings named for ``runs`` and the internal
    topics of their apps."""
    prefixes = tuple(p for run in runs for p in (f"t-{run}.", f"salespulse-test-{run}-"))
    return {name for name in names if prefixes and name.startswith(prefixes)}


async def test_topics() -> set[str]:
    """The topics on the broker that tests made (see TEST_TOPIC_PREFIXES)."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        return {t for t in await admin.list_topics() if t.startswith(TEST_TOPIC_PREFIXES)}
    finally:
        await admin.close()


async def delete_topics(names: Iterable[str]) -> None:
    """Delete ``names`` (a test's topics once it is over: a broker carrying every topic
    of a whole run recovers and elects ever slower, and its tests time out)."""
    from aiokafka.admin import AIOKafkaAdminClient

    names = sorted(names)
    if not names:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=BOOTSTRAP)
    await admin.start()
    try:
        await admin.delete_topics(names)
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolated_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings with topics, group and state of their own, so tests never mix."""
    run = uuid.uuid4().hex[:10]
    RUNS.append(run)
    topics = TopicNames(
        **{role: f"t-{run}.{name}" for role, name in TopicNames().model_dump().items()}
    )
    values: dict[str, Any] = {
        "kafka_bootstrap": BOOTSTRAP,
        "topics": topics,
        "app_id": f"salespulse-test-{run}",
        "partitions": 3,
        "data_dir": tmp_path / "state",
        "web_port": free_port(),
        "tick_interval_seconds": 0.5,
        # one rule at a time unless a test says otherwise: deal_stalled is the default
        "rules": {r: {"enabled": r == "deal_stalled"} for r in RulesSettings.model_fields},
        "stats_publish_interval_seconds": 0.5,
        "log_format": "json",
    }
    values.update(overrides)
    return load_settings(**values)


def worker_env(settings: Settings) -> dict[str, str]:
    """The settings as the environment of a worker process (nested ones as JSON)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SALESPULSE_")}
    dumped = settings.model_dump(mode="json")
    for name, value in dumped.items():
        if name == "notifications":
            continue
        if isinstance(value, dict | list):
            env[f"SALESPULSE_{name.upper()}"] = json.dumps(value)
        else:
            env[f"SALESPULSE_{name.upper()}"] = str(value)
    if settings.kpis_token is not None:  # a secret: dumped masked above
        env["SALESPULSE_KPIS_TOKEN"] = settings.kpis_token.get_secret_value()
    elif "SALESPULSE_KPIS_TOKEN" in env:
        del env["SALESPULSE_KPIS_TOKEN"]
    if settings.notifications.enabled:  # with its secrets: the child needs them
        env["SALESPULSE_NOTIFICATIONS"] = json.dumps(settings.notifications.revealed())
    return env


@dataclass
class WorkerProcess:
    """A real ``salespulse worker`` process; its log is kept for failures."""

    settings: Settings
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    starts: int = field(default=0)

    def start(self) -> None:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamer.cli", "worker"],
            env=worker_env(self.settings),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.settings.web_port}/ready"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                    if json.loads(response.read()).get("ready"):
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"worker not ready after {timeout}s:\n{self.tail()}")

    def metrics(self) -> str:
        url = f"http://127.0.0.1:{self.settings.web_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return response.read().decode()

    def progress(self) -> dict[str, Any]:
        """The worker's ``/progress`` page: what it has processed, read live."""
        url = f"http://127.0.0.1:{self.settings.web_port}/progress"
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310
            return json.loads(response.read())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


async def produce(
    settings: Settings, messages: Iterable[tuple[str, bytes | None, bytes]]
) -> list[Any]:
    """Send (topic, key, value) messages; return their record metadata once acknowledged."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        futures = [await producer.send(t, key=k, value=v) for t, k, v in messages]
        return list(await asyncio.gather(*futures))
    finally:
        await producer.stop()


def event_bytes(event: Any) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


class Collector:
    """Reads a topic from the beginning in the background; tests wait on conditions."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.settings = settings
        self.topic = topic
        self.records: list[Any] = []
        self._task: asyncio.Task[None] | None = None
        self._consumer: Any = None
        self._changed = asyncio.Event()

    async def __aenter__(self) -> Collector:
        consumer = AIOKafkaConsumer(
            self.topic,
            bootstrap_servers=self.settings.kafka_bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        self._consumer = consumer

        async def loop() -> None:
            try:
                while True:
                    batches = await consumer.getmany(timeout_ms=200)
                    for records in batches.values():
                        self.records.extend(records)
                    if batches:
                        self._changed.set()
            finally:
                await consumer.stop()

        self._task = asyncio.create_task(loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.records]

    async def read_to_end(self, timeout: float) -> None:
        """Wait until every record on the topic when called has been collected."""
        consumer = self._consumer
        ends = await consumer.end_offsets(list(consumer.assignment()))
        deadline = time.monotonic() + timeout
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.topic} not read to its end within {timeout}s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), 0.5)

    async def wait_for(
        self,
        predicate: Callable[[list[Any]], bool],
        timeout: float,
        what: str,
        diagnostics: Callable[[], str] = lambda: "",
    ) -> None:
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {what}; "
                    f"{len(self.records)} records on {self.topic}\n{diagnostics()}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(remaining, 1.0))
