"""A worker that catches up says exactly what replay of the same file says.

Each test writes a seeded simulation to a JSON-lines file, replays the file in-process
with the test's settings (the oracle), puts the same bytes on the input topics, lets
real worker processes drain them, and compares what they wrote to the alerts topic
with replay's alerts as sets of (alert_id, status). Every rule is on, time is the
event clock, the allowed lateness is the default. The harness is
``tests/integration/oracle.py``; a failure prints, per rule, replay's count, the
workers' count, the missing and the extra, with examples.

The 200,000-event variants are marked ``slow`` and run with ``make test-slow``.
"""

from __future__ import annotations

import itertools
import random
import signal
import time
from pathlib import Path

import pytest

from streamer.kafka_admin import ensure_topics

from . import oracle
from .kafka_helpers import free_port

pytestmark = pytest.mark.kafka

SEED = 7
REPS = 25
EVENTS = 20_000  # about 16 simulated days of 25 reps
LARGE_EVENTS = 200_000  # about 6 simulated months
KILLS = 3


@pytest.fixture(scope="module")
def backlog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[oracle.SimLine]]:
    path = tmp_path_factory.mktemp("backlog") / "events.jsonl"
    return path, oracle.simulate_file(path, events=EVENTS, seed=SEED, reps=REPS)


@pytest.fixture(scope="module")
def large_backlog(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[oracle.SimLine]]:
    path = tmp_path_factory.mktemp("large-backlog") / "events.jsonl"
    return path, oracle.simulate_file(path, events=LARGE_EVENTS, seed=SEED, reps=REPS)


def start_workers(make_worker, settings, count: int) -> list:
    """``count`` worker processes of one group, each with its own port and data directory."""
    workers = []
    for i in range(count):
        port = settings.web_port if i == 0 else free_port()
        workers.append(make_worker(settings.model_copy(update={"web_port": port}), f"w{i}"))
    for worker in workers:
        worker.start()
    return workers


async def drain_backlog(make_worker, tmp_path: Path, backlog, workers: int, timeout: float):
    """The backlog on the topics before any worker starts; ``workers`` drain it."""
    path, lines = backlog
    settings = oracle.oracle_settings(tmp_path)
    expected = oracle.replay_file(settings, path)
    await ensure_topics(settings)
    await oracle.produce_lines(settings, lines)
    started = time.monotonic()
    running = start_workers(make_worker, settings, workers)
    drained = await oracle.wait_drained(settings, running, timeout=timeout)
    print(
        f"\n{len(lines):,} events, {workers} worker(s), {time.monotonic() - started:.1f}s "
        f"from start; {drained}"
    )
    assert await oracle.group_members(settings) == workers, "every worker is in the group"
    written = await oracle.read_written(settings)
    oracle.assert_same_alerts(
        expected, written, f"backlog of {len(lines):,} events, {workers} worker(s)"
    )


@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_backlog_drained_says_what_replay_says(make_worker, tmp_path, backlog, workers):
    """20,000 events produced before the workers start: the same alerts as replay, with one
    worker and with two sharing the partitions."""
    await drain_backlog(make_worker, tmp_path, backlog, workers, timeout=240)


async def test_backlog_drained_through_sigkills_loses_nothing(make_worker, tmp_path, backlog):
    """The same backlog, the worker killed (SIGKILL) at three seeded moments of the drain
    and restarted on its data directory each time: nothing missing, nothing invented; a
    repeat only of an (alert_id, status) already written."""
    path, lines = backlog
    settings = oracle.oracle_settings(tmp_path)
    expected = oracle.replay_file(settings, path)
    await ensure_topics(settings)
    await oracle.produce_lines(settings, lines)
    rng = random.Random(SEED)
    # the moments: when the alerts topic holds these shares of replay's alert count, one
    # drawn in each of KILLS equal spans between 5% and 85%
    shares = [0.05 + 0.8 * (k + rng.random()) / KILLS for k in range(KILLS)]
    (worker,) = start_workers(make_worker, settings, 1)
    moments, written_before = [], 0
    for share in shares:
        # at least one alert more than at the restart: the restarted worker is at work
        at_least = max(int(share * len(expected.alerts)), written_before + 1)
        alerts, done, total = await oracle.wait_for_alerts(settings, [worker], at_least)
        worker.stop(signal.SIGKILL)
        moments.append(f"{alerts:,} alerts written, inputs committed {done:,}/{total:,}")
        written_before = alerts
        worker.start()
    drained = await oracle.wait_drained(settings, [worker], timeout=240)
    print(f"\nkilled at: {'; '.join(moments)}\nafter the last restart: {drained}")
    written = await oracle.read_written(settings)
    oracle.assert_same_alerts(
        expected, written, f"backlog of {len(lines):,} events, {KILLS} SIGKILLs while draining"
    )


async def test_traffic_flowing_while_the_worker_is_down_for_a_day(make_worker, tmp_path, backlog):
    """Events produced a simulated day at a time, each once the worker has consumed the
    one before; the worker is stopped (SIGTERM) halfway, a day more arrives while it is
    down, and it is restarted on its data directory: the same alerts as replay."""
    path, lines = backlog
    settings = oracle.oracle_settings(tmp_path)
    expected = oracle.replay_file(settings, path)
    await ensure_topics(settings)
    days = [list(day) for _, day in itertools.groupby(lines, key=lambda e: e.occurred_at[:10])]
    assert len(days) >= 10, len(days)
    down = len(days) // 2
    (worker,) = start_workers(make_worker, settings, 1)
    for i, day in enumerate(days):
        if i == down:
            code = worker.stop(signal.SIGTERM)
            assert code == 0, f"worker exited with {code} on SIGTERM\n{worker.tail()}"
        await oracle.produce_lines(settings, day)
        if i == down:
            worker.start()
        await oracle.wait_consumed(settings, [worker])
    drained = await oracle.wait_drained(settings, [worker], timeout=240)
    print(f"\ndown for day {down + 1} of {len(days)} ({len(days[down]):,} events); {drained}")
    written = await oracle.read_written(settings)
    oracle.assert_same_alerts(
        expected, written, f"{len(lines):,} events a day at a time, down for day {down + 1}"
    )


@pytest.mark.slow
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("workers", [1, 2], ids=["one-worker", "two-workers"])
async def test_large_backlog_drained_says_what_replay_says(
    make_worker, tmp_path, large_backlog, workers
):
    """200,000 events produced before the workers start: the same alerts as replay."""
    await drain_backlog(make_worker, tmp_path, large_backlog, workers, timeout=1200)
