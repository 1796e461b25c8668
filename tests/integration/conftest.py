"""A real Apache Kafka for the whole session, started by the project's own command."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamer.settings import load_settings

from .kafka_helpers import (
    BOOTSTRAP,
    RUNS,
    WorkerProcess,
    delete_topics,
    isolated_settings,
    test_topics,
    topics_of_runs,
)


@pytest.fixture(scope="session")
def kafka_broker() -> str:
    """Make sure a broker answers at the test bootstrap address (``salespulse kafka up``)."""
    if "SALESPULSE_TEST_KAFKA_BOOTSTRAP" not in os.environ:
        from streamer.devtools.devkafka import kafka_up

        kafka_up(load_settings(kafka_bootstrap=BOOTSTRAP))
    return BOOTSTRAP


@pytest.fixture(autouse=True)
def own_topics(request: pytest.FixtureRequest) -> Iterator[None]:
    """A Kafka test's topics are deleted when it is over (its workers are stopped by
    then: this fixture is set up before, so torn down after, the ones it asks for).
    Only its own: those of the settings it made, never another session's running on the
    same broker."""
    if request.node.get_closest_marker("kafka") is None:
        yield
        return
    request.getfixturevalue("kafka_broker")
    runs_before = len(RUNS)
    yield
    mine = topics_of_runs(asyncio.run(test_topics()), RUNS[runs_before:])
    asyncio.run(delete_topics(mine))


@pytest.fixture
def make_worker(kafka_broker: str, tmp_path: Path) -> Iterator:
    """Factory of real worker processes; all are stopped at the end of the test."""
    workers: list[WorkerProcess] = []

    def make(settings=None, name: str = "worker") -> WorkerProcess:
        worker = WorkerProcess(
            settings or isolated_settings(tmp_path), tmp_path / f"{name}-{len(workers)}.log"
        )
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        if worker.proc is not None:
            worker.stop()
