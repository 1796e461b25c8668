"""The file and Kafka sinks, and the ``simulate`` command's options."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import socket
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import schemas
from streamer.devtools.simulate import (
    SimConfig,
    add_arguments,
    config_from_args,
    generate,
    produce,
    run,
    write_jsonl,
)
from streamer.settings import Settings, TopicNames, load_settings

SMALL = SimConfig(seed=1, days=14, reps=3)


def test_write_jsonl_roundtrip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.jsonl"
    count = write_jsonl(SMALL, path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert count == len(lines) > 1000
    assert [json.loads(line) for line in lines] == [e.value for e in generate(SMALL)]
    assert all(schemas.parse_event(line) for line in lines[::50])
    assert f"{count:,} events" in capsys.readouterr().err


def test_write_jsonl_stops_at_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    assert write_jsonl(SimConfig(days=None), path, limit=1234) == 1234
    assert len(path.read_text(encoding="utf-8").splitlines()) == 1234


def test_write_jsonl_refuses_an_endless_run_without_limit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="limit"):
        write_jsonl(SimConfig(days=None), tmp_path / "x.jsonl")


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(list(argv))


def test_options_to_a_file_default_to_the_fixed_start_and_90_days() -> None:
    config = config_from_args(_args("--out", "x.jsonl", "--seed", "5", "--reps", "7"))
    assert (config.seed, config.reps, config.days) == (5, 7, 90.0)
    assert config.start == SimConfig().start


def test_options_to_a_file_with_a_limit_run_until_the_limit() -> None:
    assert config_from_args(_args("--out", "x.jsonl", "--limit", "10")).days is None


def test_options_to_kafka_start_backfill_days_before_now() -> None:
    now = datetime(2026, 6, 1, 12, 30, 45, tzinfo=UTC)
    paced = config_from_args(_args("--backfill-days", "30", "--speed", "60"), now=now)
    assert paced.start == datetime(2026, 5, 2, 12, 30, tzinfo=UTC)
    assert paced.days is None
    history = config_from_args(_args("--backfill-days", "30"), now=now)
    assert history.days == 30
    explicit = config_from_args(_args("--start", "2026-02-01T00:00:00Z", "--days", "3"), now=now)
    assert (explicit.start, explicit.days) == (datetime(2026, 2, 1, tzinfo=UTC), 3.0)


def test_a_naive_start_option_is_refused() -> None:
    with pytest.raises(SystemExit):
        _args("--start", "2026-02-01T00:00:00")


def test_run_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "sim.jsonl"
    assert run(load_settings(), _args("--out", str(out), "--reps", "2", "--days", "3")) == 0
    assert out.read_text(encoding="utf-8").count("\n") > 100


def _broker_answers(host: str = "127.0.0.1", port: int = 9092) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture
async def broker_settings() -> AsyncIterator[Settings]:
    """Settings naming fresh uuid topics on the local broker; the topics are deleted after."""
    from aiokafka.admin import AIOKafkaAdminClient

    prefix = f"sim-{uuid.uuid4().hex[:12]}"
    topics = TopicNames(**{role: f"{prefix}.{role}" for role in TopicNames.model_fields})
    settings = load_settings(topics=topics, partitions=2)
    yield settings
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        await admin.delete_topics([n for n in topics.model_dump().values() if n in existing])
    finally:
        await admin.close()


@pytest.mark.kafka
@pytest.mark.skipif(not _broker_answers(), reason="no Kafka broker on 127.0.0.1:9092")
async def test_produce_writes_keyed_events_to_the_role_topics(broker_settings: Settings) -> None:
    from aiokafka import AIOKafkaConsumer

    settings, topics = broker_settings, broker_settings.topics
    prefix = topics.deals
    config = SimConfig(seed=2, days=2, reps=2)
    expected = list(itertools.islice(generate(config), 300))
    assert await produce(settings, config, speed=None, limit=300) == 300

    consumer = AIOKafkaConsumer(
        *(getattr(topics, role) for role in ("activities", "deals", "quotas", "org")),
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        group_id=f"{prefix}-check",
    )
    await consumer.start()
    got: dict[str, tuple[str, str]] = {}
    try:
        async with asyncio.timeout(30):
            while len(got) < 300:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        value = json.loads(record.value)
                        got[value["event_id"]] = (record.topic, record.key.decode())
    finally:
        await consumer.stop()
    for event in expected:
        assert got[event.value["event_id"]] == (getattr(topics, event.topic), event.key)


@pytest.mark.kafka
@pytest.mark.skipif(not _broker_answers(), reason="no Kafka broker on 127.0.0.1:9092")
async def test_produce_paces_live_events_and_stops_on_request(broker_settings: Settings) -> None:
    settings = broker_settings
    start = datetime.now(UTC) - timedelta(days=1)
    config = SimConfig(seed=2, start=start, days=None, reps=2)
    stop = asyncio.Event()
    task = asyncio.create_task(produce(settings, config, speed=1.0, backfill_days=1, stop=stop))
    await asyncio.sleep(3)
    stop.set()
    async with asyncio.timeout(15):
        count = await task
    history = sum(1 for e in itertools.takewhile(
        lambda e: e.value["occurred_at"] <= datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        generate(config),
    ))  # fmt: skip
    assert 0 < count <= history + 5
