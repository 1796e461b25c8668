"""Two workers share the partitions; one is killed with SIGKILL mid-stream and the other
takes over its partitions, with state recovered from the changelog, no alert lost or
repeated. Prints the measured takeover time (kill -> the survivor's first alert for a
partition of the dead worker)."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from aiokafka.partitioner import DefaultPartitioner

from streamer.kafka_admin import ensure_topics
from tests.factories import created, moved, won

from .kafka_helpers import Collector, event_bytes, free_port, isolated_settings, produce

pytestmark = pytest.mark.kafka

PARTITIONS = 4
SESSION_TIMEOUT = 10.0
DAY0 = "2026-11-01T09:00:00Z"
DAY31 = "2026-12-02T09:00:00Z"


def partition_of(key: str) -> int:
    parts = list(range(PARTITIONS))
    return int(DefaultPartitioner()(key.encode(), parts, parts))


def ids_by_partition(prefix: str, per_partition: int) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {p: [] for p in range(PARTITIONS)}
    n = 0
    while any(len(v) < per_partition for v in found.values()):
        key = f"{prefix}{n}"
        n += 1
        if len(found[partition_of(key)]) < per_partition:
            found[partition_of(key)].append(key)
    return found


def owned_deal_partitions(progress: dict, topic: str) -> set[int]:
    """Partitions of the deal topic this worker consumed from (its ``/progress``, which is
    read live, unlike the lag gauges exported on the stats timer)."""
    return {
        int(key.rsplit(":", 1)[1])
        for key in progress["processed"]
        if key.rsplit(":", 1)[0] == topic
    }


def deal_msgs(settings, *events):
    return [(settings.topics.deals, e.deal_id.encode(), event_bytes(e)) for e in events]


def episodes(collector: Collector) -> Counter:
    return Counter((v["alert_id"], v["status"]) for v in collector.values())


async def test_survivor_takes_over_a_killed_workers_partitions(make_worker, tmp_path) -> None:
    settings_a = isolated_settings(
        tmp_path,
        clock="event",
        allowed_lateness_seconds=0,
        store="rocksdb://",
        partitions=PARTITIONS,
        broker_session_timeout_seconds=SESSION_TIMEOUT,
        broker_heartbeat_interval_seconds=1.0,
    )
    settings_b = settings_a.model_copy(update={"web_port": free_port()})
    await ensure_topics(settings_a)
    a = make_worker(settings_a, "a")
    b = make_worker(settings_b, "b")
    a.start()
    a.wait_ready()
    b.start()
    b.wait_ready()
    a.wait_ready()  # the rebalance that gave b its share is over on both sides

    first = ids_by_partition("a", 3)
    later = ids_by_partition("n", 2)
    first_ids = [d for ids in first.values() for d in ids]
    later_ids = [d for ids in later.values() for d in ids]
    deals_topic = settings_a.topics.deals

    def diagnostics() -> str:
        return f"--- a ---\n{a.tail(25)}\n--- b ---\n{b.tail(25)}"

    async with Collector(settings_a, settings_a.topics.alerts) as alerts:
        await produce(
            settings_a,
            deal_msgs(
                settings_a, *[created(d, 0, "proposal") for d in first_ids], won("clock-1", 30)
            ),
        )
        await alerts.wait_for(
            lambda rs: len(rs) >= len(first_ids), 60, "the first firing alerts", diagnostics
        )
        owned_a = owned_deal_partitions(a.progress(), deals_topic)
        owned_b = owned_deal_partitions(b.progress(), deals_topic)
        assert owned_a and owned_b, f"both workers share the partitions: {owned_a} {owned_b}"
        assert owned_a | owned_b == set(range(PARTITIONS)) and not owned_a & owned_b

        # mid-stream: new deals (day 31) go out and b dies while they are being consumed
        await produce(
            settings_a, deal_msgs(settings_a, *[created(d, 31, "proposal") for d in later_ids])
        )
        killed_at = time.time()
        b.stop(signal.SIGKILL)

        movers = [d for p in sorted(owned_b) for d in first[p]][:2]
        clock_key = next(
            f"clock-2-{i}" for i in range(1000) if partition_of(f"clock-2-{i}") in owned_a
        )
        await produce(
            settings_a,
            deal_msgs(
                settings_a,
                *[moved(d, 31, "proposal", "negotiation") for d in movers],
                won(clock_key, 62),
            ),
        )
        expected = (
            {(f"deal_stalled:{d}:{DAY0}", "firing") for d in first_ids}
            | {(f"deal_stalled:{d}:{DAY0}", "resolved") for d in movers}
            | {(f"deal_stalled:{d}:{DAY31}", "firing") for d in [*later_ids, *movers]}
        )
        await alerts.wait_for(
            lambda rs: expected <= set(episodes(alerts)),
            120,
            "every alert after the kill",
            diagnostics,
        )

    seen = episodes(alerts)
    assert set(seen) == expected, "no alert lost and none invented"
    assert all(n == 1 for n in seen.values()), f"repeated: {[k for k, n in seen.items() if n > 1]}"

    # Alerts for the dead worker's partitions after the kill: only the survivor can send
    # them (the movers' resolutions need b's deal state, recovered from the changelog).
    orphaned = {
        (f"deal_stalled:{d}:{DAY31}", "firing") for d in later_ids if partition_of(d) in owned_b
    } | {(f"deal_stalled:{d}:{DAY0}", "resolved") for d in movers}
    assert orphaned
    takeover_ms = [
        r.timestamp
        for r, v in zip(alerts.records, alerts.values(), strict=True)
        if (v["alert_id"], v["status"]) in orphaned
    ]
    takeover = min(takeover_ms) / 1000.0 - killed_at
    print(
        f"\ntakeover after SIGKILL: {takeover:.1f}s (session timeout {SESSION_TIMEOUT:.0f}s; "
        f"dead worker owned partitions {sorted(owned_b)} of {PARTITIONS})"
    )
    assert SESSION_TIMEOUT * 0.5 < takeover < SESSION_TIMEOUT + 45
