"""The same events through a real worker and through replay give the same alerts and KPIs.

Events are fed to Kafka one simulated day at a time, each day once the worker has
caught up with the one before, as a live CRM feed arrives; the allowed lateness
covers the order in which the worker's two sides see a day's events.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.request
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from streamer.core.timeutil import DAY, iso
from streamer.devtools.simulate import SimConfig, generate
from streamer.kafka_admin import ensure_topics
from streamer.replay import Replay
from streamer.settings import RulesSettings

from .kafka_helpers import Collector, free_port, isolated_settings, produce

pytestmark = pytest.mark.kafka


def get_json(worker, path: str) -> dict:
    url = f"http://127.0.0.1:{worker.settings.web_port}{path}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        return json.loads(response.read())


TOKEN = "kpis-token-of-the-test"


async def end_offsets(consumer: AIOKafkaConsumer, topics: list[str]) -> dict[str, int]:
    tps = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
    ends = await consumer.end_offsets(tps)
    return {f"{tp.topic}:{tp.partition}": end for tp, end in ends.items() if end > 0}


async def wait_caught_up(workers, consumer: AIOKafkaConsumer, timeout: float = 90.0) -> None:
    """Until the workers have processed every message on their input and internal topics,
    as the brokers count them (forwarding adds messages, so check a few times in a row),
    and, with several workers, until each has read the others' newest snapshots."""
    s = workers[0].settings
    topics = [
        s.topics.deals,
        s.topics.activities,
        s.topics.quotas,
        s.topics.org,
        f"{s.app_id}-deal-events",
        f"{s.app_id}-rep-events",
    ]
    deadline = time.monotonic() + timeout
    in_a_row = 0
    while True:
        if time.monotonic() > deadline:
            raise AssertionError(f"workers did not catch up in {timeout}s\n{workers[0].tail()}")
        ends = await end_offsets(consumer, topics)
        progress = [get_json(w, "/progress") for w in workers]
        processed: dict[str, int] = {}
        for p in progress:
            processed.update(p["processed"])
        done = all(p["unsent"] == 0 for p in progress) and all(
            processed.get(tp, -1) + 1 >= end for tp, end in ends.items()
        )
        in_a_row = in_a_row + 1 if done else 0
        if in_a_row >= 5:  # forwarded messages may still be on their way for a moment
            break
        await asyncio.sleep(0.2)
    if len(workers) == 1:
        return
    rounds = [p["publish_rounds"] for p in progress]
    while any(
        get_json(w, "/progress")["publish_rounds"] < r + 2
        for w, r in zip(workers, rounds, strict=True)
    ):
        if time.monotonic() > deadline:
            raise AssertionError("workers did not publish their snapshots")
        await asyncio.sleep(0.2)
    stats = f"{s.app_id}-partition-stats"
    wanted = await end_offsets(consumer, [stats])
    while True:
        views = [get_json(w, "/progress")["shared_view"] for w in workers]
        if all(v.get(tp, 0) >= end for v in views for tp, end in wanted.items()):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"workers did not read each other's snapshots: {views}")
        await asyncio.sleep(0.2)


def approx_equal(a, b, path="") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        diffs = [
            f"{path}/{k}: only in {'live' if k in a else 'replay'}" for k in a.keys() ^ b.keys()
        ]
        for k in a.keys() & b.keys():
            diffs += approx_equal(a[k], b[k], f"{path}/{k}")
        return diffs
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or abs(a - b) > 1e-6 * max(1.0, abs(a), abs(b)):
            return [f"{path}: live {a} != replay {b}"]
        return []
    return [] if a == b else [f"{path}: live {a!r} != replay {b!r}"]


@pytest.mark.parametrize("n_workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_workers_and_replay_agree_on_alert_ids_and_kpis(make_worker, tmp_path, n_workers):
    """One worker and replay: the same alerts and KPIs. Two workers sharing the
    partitions: the same alerts again, and together the same per-rep KPIs."""
    settings = isolated_settings(
        tmp_path,
        clock="event",
        allowed_lateness_seconds=DAY,
        rules=RulesSettings().model_dump(),  # every rule on, with its defaults
        kpis_token=TOKEN,
    )
    start = datetime(2026, 3, 2, tzinfo=UTC)
    events = list(generate(SimConfig(seed=11, reps=6, days=45, start=start)))
    assert len(events) > 5_000

    # replay first: the alerts and the KPIs as of the last event
    replayed: list = []
    replay = Replay(settings, emit=replayed.append)
    for event in events:
        replay.feed_line(json.dumps(event.value))
    replay.finish()
    # the KPIs as of where event time stands once everything is read (the newest event
    # less the allowed lateness): what is newer waits for time to pass, in both
    as_of = replay.frontier()
    report = replay.report(as_of)
    expected = {(a.alert_id, a.status, a.severity) for a in replayed}
    rules_seen = {a.rule for a in replayed}
    assert len(expected) > 20 and len(rules_seen) >= 4, rules_seen

    await ensure_topics(settings)
    workers = []
    for i in range(n_workers):
        port = settings.web_port if i == 0 else free_port()
        workers.append(make_worker(settings.model_copy(update={"web_port": port})))
        workers[-1].start()
    for worker in workers:
        worker.wait_ready()
    worker = workers[0]
    topics = settings.topics
    offsets_reader = AIOKafkaConsumer(
        topics.deals,
        topics.activities,
        topics.quotas,
        topics.org,
        f"{settings.app_id}-deal-events",
        f"{settings.app_id}-rep-events",
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
    )
    await offsets_reader.start()  # reads nothing; knows the partitions, asks for end offsets
    offsets_reader.pause(*offsets_reader.assignment())
    async with Collector(settings, topics.alerts) as alerts:
        by_day = itertools.groupby(events, key=lambda e: e.value["occurred_at"][:10])
        for _, day_events in by_day:
            await produce(
                settings,
                [
                    (getattr(topics, e.topic), e.key.encode(), json.dumps(e.value).encode())
                    for e in day_events
                ],
            )
            await wait_caught_up(workers, offsets_reader)

        def live_set(records):
            return {
                (v["alert_id"], v["status"], v["severity"])
                for v in (json.loads(r.value) for r in records)
            }

        def difference() -> str:
            live = live_set(alerts.records)
            return (
                f"only live: {sorted(live - expected)[:15]}\n"
                f"only replay: {sorted(expected - live)[:15]}"
            )

        await alerts.wait_for(
            lambda rs: live_set(rs) >= expected,
            120,
            "the replay's alerts from the worker",
            difference,
        )
        await wait_caught_up(workers, offsets_reader)
        live = live_set(alerts.records)
    assert live == expected, {
        "only live": sorted(live - expected)[:10],
        "only replay": sorted(expected - live)[:10],
    }
    await offsets_reader.stop()
    reports = [get_json(w, f"/kpis?as_of={iso(as_of)}") for w in workers]
    if n_workers == 1:
        diffs = approx_equal(reports[0], report)
    else:
        # each worker reports the reps it owns; teams and stages mix in other
        # partitions' snapshots taken at their own last boundary, so compare the reps
        reps = {}
        for r in reports:
            assert not reps.keys() & r["reps"].keys(), "a rep is owned by one worker"
            reps.update(r["reps"])
        assert len(reports[0]["reps"]) and len(reports[1]["reps"]), "both workers own reps"
        diffs = approx_equal(reps, report["reps"])
    assert not diffs, diffs[:20]
