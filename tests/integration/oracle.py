"""Replay as the oracle of a real worker: the harness the catch-up tests share.

The same simulated events go to a JSON-lines file and to Kafka. ``replay`` of the
file, in-process and with the same settings, says which alerts those events must
give; real worker processes drain the topics, and what they wrote to the alerts
topic is read back from the beginning and compared as sets of (alert_id, status).
A mismatch is reported per rule (replay, worker, missing, extra) with a few
examples of each, so the figures can be quoted as they are.

Only the contract is relied on: input, alert and late topic names from the
settings, the worker's consumer group (``app_id``), its state and committed
offsets as the broker reports them, the worker process and its documented
``/ready`` page; of replay, ``Replay(settings, emit=...)``, ``feed_line`` and
``finish``. Nothing reads a worker's internal topics by name or its other pages,
so the processing core can change underneath (see :func:`wait_drained`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streamer.devtools.simulate import SimConfig, generate
from streamer.replay import Replay
from streamer.settings import RulesSettings, Settings

from .kafka_helpers import WorkerProcess, isolated_settings

__all__ = [
    "Comparison",
    "Drained",
    "SimLine",
    "Written",
    "assert_same_alerts",
    "compare",
    "group_members",
    "oracle_settings",
    "produce_lines",
    "read_topic",
    "read_written",
    "replay_file",
    "simulate_file",
    "wait_consumed",
    "wait_drained",
    "wait_for_alerts",
]

INPUT_ROLES = ("deals", "activities", "quotas", "org")
"""Topic roles the simulator writes to: the worker's inputs."""

Pair = tuple[str, str]  # (alert_id, status)


# --- events --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SimLine:
    """One simulated event: topic role, message key, and the exact bytes of its file line."""

    role: str
    key: bytes
    value: bytes
    occurred_at: str


def oracle_settings(tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a worker compared with replay: topics, group and state of its own, every
    rule on with its defaults, the event clock, the default allowed lateness, RocksDB state
    (so a restart recovers from the data directory) and a short session timeout (so a
    killed worker's partitions move on within seconds, not a minute)."""
    values: dict[str, Any] = {
        "clock": "event",
        "rules": RulesSettings().model_dump(),
        "store": "rocksdb://",
        "partitions": 3,
        "broker_session_timeout_seconds": 10.0,
        "broker_heartbeat_interval_seconds": 1.0,
    }
    values.update(overrides)
    return isolated_settings(tmp_path, **values)


def simulate_file(path: Path, *, events: int, seed: int, reps: int) -> list[SimLine]:
    """Write the first ``events`` events of a seeded simulation to ``path`` (JSON lines) and
    return them, in file order (non-decreasing ``occurred_at``), with the same bytes."""
    config = SimConfig(seed=seed, reps=reps, days=None)
    lines = [
        SimLine(
            role=e.topic,
            key=e.key.encode(),
            value=json.dumps(e.value, separators=(",", ":")).encode(),
            occurred_at=e.value["occurred_at"],
        )
        for e in itertools.islice(generate(config), events)
    ]
    assert len(lines) == events, f"the simulation ended after {len(lines)} events"
    with path.open("wb") as out:
        for line in lines:
            out.write(line.value + b"\n")
    return lines


# --- replay, the oracle ------------------------------------------------------------


@dataclass
class Replayed:
    """What replay of a file said: its alert messages and, if it tells, how many events
    it counted as late."""

    alerts: list[dict[str, Any]]
    late: int | None


def replay_file(settings: Settings, path: Path) -> Replayed:
    """``salespulse replay FILE`` in-process, with ``settings``."""
    alerts: list[dict[str, Any]] = []
    replay = Replay(settings, emit=lambda alert: alerts.append(json.loads(alert.to_json_bytes())))
    with path.open("rb") as handle:
        for line in handle:
            if line.strip():
                replay.feed_line(line)
    replay.finish()
    late = getattr(getattr(replay, "summary", None), "late", None)  # a figure, not the API
    return Replayed(alerts=alerts, late=late)


# --- Kafka -----------------------------------------------------------------------


async def produce_lines(settings: Settings, lines: Iterable[SimLine]) -> int:
    """Send the lines to their input topics in order (per partition order is kept: the
    producer has one request in flight per partition); return once all are acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=20
    )
    await producer.start()
    sent, pending = 0, []
    try:
        for line in lines:
            topic = getattr(settings.topics, line.role)
            pending.append(await producer.send(topic, key=line.key, value=line.value))
            sent += 1
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


class _Broker:
    """The few broker questions the harness asks: partitions, end offsets, the worker
    group's committed offsets and members."""

    def __init__(self, settings: Settings) -> None:
        self.group_id = settings.app_id
        self.admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False
        )

    async def __aenter__(self) -> _Broker:
        await self.admin.start()
        await self.consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()
        await self.admin.close()

    async def partitions(self, topics: Iterable[str]) -> list[TopicPartition]:
        """Every partition of ``topics``; a topic that does not exist is an error."""
        wanted = sorted(set(topics))
        if not wanted:
            return []
        found = []
        for topic in await self.admin.describe_topics(wanted):
            assert topic["error_code"] == 0 and topic["partitions"], f"no topic: {topic}"
            found += [TopicPartition(topic["topic"], p["partition"]) for p in topic["partitions"]]
        return sorted(found)

    async def ends(self, topics: Iterable[str]) -> dict[TopicPartition, int]:
        tps = await self.partitions(topics)
        return dict(await self.consumer.end_offsets(tps)) if tps else {}

    async def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offsets (the next offset to read), every topic it commits."""
        offsets = await self.admin.list_consumer_group_offsets(self.group_id)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}

    async def group(self) -> tuple[str, int]:
        """The worker group's state (``Stable``, ``PreparingRebalance``, ...) and members."""
        (response,) = await self.admin.describe_consumer_groups([self.group_id])
        (group,) = response.groups
        # (error_code, group_id, state, protocol_type, protocol, members)
        return str(group[2]), len(group[5])


async def read_topic(settings: Settings, topic: str, timeout: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its end offsets as of the call."""
    async with _Broker(settings) as broker:
        wanted = {tp: end for tp, end in (await broker.ends([topic])).items() if end > 0}
        if not wanted:
            return []
        consumer = broker.consumer
        consumer.assign(list(wanted))
        await consumer.seek_to_beginning(*wanted)
        records: list[Any] = []
        deadline = time.monotonic() + timeout
        while any([await consumer.position(tp) < end for tp, end in wanted.items()]):
            if time.monotonic() > deadline:
                raise AssertionError(f"could not read {topic} to its end in {timeout}s")
            batches = await consumer.getmany(*wanted, timeout_ms=500)
            for tp, batch in batches.items():
                records.extend(r for r in batch if r.offset < wanted[tp])
        return records


@dataclass
class Written:
    """What the workers wrote: alert messages in topic order, and the late events."""

    alerts: list[dict[str, Any]]
    late: Counter[str] = field(default_factory=Counter)  # event_type -> messages


async def read_written(settings: Settings) -> Written:
    """The alerts topic and the late-events topic, read from the beginning to their ends."""
    alerts = [json.loads(r.value) for r in await read_topic(settings, settings.topics.alerts)]
    late: Counter[str] = Counter()
    for record in await read_topic(settings, settings.topics.late):
        try:
            late[json.loads(record.value).get("event_type", "?")] += 1
        except ValueError:
            late["(not JSON)"] += 1
    return Written(alerts=alerts, late=late)


def input_topics(settings: Settings) -> list[str]:
    return [getattr(settings.topics, role) for role in INPUT_ROLES]


async def group_members(settings: Settings) -> int:
    """Members of the worker group right now."""
    async with _Broker(settings) as broker:
        return (await broker.group())[1]


def _check_alive(workers: Sequence[WorkerProcess]) -> None:
    for worker in workers:
        assert worker.proc is not None, "worker never started"
        if worker.proc.poll() is not None:
            raise AssertionError(
                f"worker exited with {worker.proc.returncode} while draining:\n{worker.tail()}"
            )


def _ready(workers: Sequence[WorkerProcess]) -> bool:
    """Every worker answers ``/ready`` with 200 (a worker without the page counts as ready)."""
    for worker in workers:
        url = f"http://127.0.0.1:{worker.settings.web_port}/ready"
        try:
            with urllib.request.urlopen(url, timeout=5):  # noqa: S310
                pass
        except urllib.error.HTTPError as error:
            if error.code != 404:
                return False
        except OSError:
            return False
    return True


async def _settled(broker: _Broker, workers: Sequence[WorkerProcess]) -> tuple[bool, str]:
    """Whether the worker group is Stable with one member per worker process and every
    worker answers ``/ready``; and the group's state and members, to report."""
    state, members = await broker.group()
    settled = (
        state == "Stable" and members == len(workers) and await asyncio.to_thread(_ready, workers)
    )
    return settled, f"group {state} with {members} members"


def _behind(ends: dict[TopicPartition, int], committed: dict[TopicPartition, int]) -> int:
    return sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())


async def _input_ends(broker: _Broker, settings: Settings) -> dict[TopicPartition, int]:
    ends = await broker.ends(input_topics(settings))
    assert sum(ends.values()) > 0, "nothing on the input topics: nothing to wait for"
    return ends


@dataclass(frozen=True)
class Drained:
    """How a drain ended: its seconds, and the input messages the group never committed
    (0 unless the committed offsets stalled short of the end; see :func:`wait_drained`)."""

    seconds: float
    uncommitted: int

    def __str__(self) -> str:
        return (
            f"drained in {self.seconds:.1f}s, input messages left uncommitted by the "
            f"worker group: {self.uncommitted:,}"
        )


def _progress_of(worker: WorkerProcess) -> str:
    """A worker's ``/progress`` page, for a failure's message (what it waits for)."""
    try:
        return json.dumps(worker.progress(), sort_keys=True)
    except (OSError, ValueError) as error:
        return f"unreadable: {error!r}"


def _progress(workers: Sequence[WorkerProcess]) -> tuple[bool, tuple[Any, ...]]:
    """Whether every worker has read every message of its partitions (``/progress`` lag
    0, nothing unsent), and where each one's event time stands."""
    read_all, frontiers = True, []
    for worker in workers:
        try:
            progress = worker.progress()
        except (OSError, ValueError):
            return False, ()
        read_all = read_all and progress.get("lag") == 0 and progress.get("unsent") == 0
        frontiers.append(json.dumps(progress.get("frontier"), sort_keys=True))
    return read_all, tuple(frontiers)


async def wait_drained(
    settings: Settings,
    workers: Sequence[WorkerProcess],
    *,
    timeout: float = 240.0,
    quiet_seconds: float = 6.0,
    stall_seconds: float = 12.0,
) -> Drained:
    """Wait until the workers have finished with everything produced so far. The one place
    that decides "drained": adapt it here if the worker changes.

    It asks the broker, and the workers' documented ``/ready`` and ``/progress`` pages
    (docs/operations.md), nothing else: no internal topic by name. Drained means, all at
    once (with every worker having read every message it owns, ``/progress`` lag 0, and
    its event-time frontier not moving):

    1. the worker group (``settings.app_id``) is Stable with one member per worker
       process, and every worker answers ``/ready`` (no rebalance or recovery under way);
    2. the group has committed every partition of the input topics to its end offset (a
       worker commits a record once it has processed it and handed its effects over);
    3. every other partition the group commits (whatever internal topics the worker
       uses) is committed at least to the end offset it had when (2) first held, so
       what the inputs caused internally has been processed too;
    4. the alerts topic has not grown for ``quiet_seconds`` while (1)-(3) held.

    If the group's committed input offsets stop short of the end, while (1) holds and
    neither they nor the alerts topic move for ``stall_seconds``, the workers are taken
    as drained all the same, and :attr:`Drained.uncommitted` says how many input
    messages were left uncommitted (a worker that orders records by event time may hold
    the newest of each partition, unprocessed and unacked, until newer ones arrive).
    """
    started = time.monotonic()
    deadline = started + timeout
    inputs = input_topics(settings)
    snapshot: dict[TopicPartition, int] | None = None  # other topics' ends when (2) held
    # (alerts end, inputs committed, (3) holds, the workers' frontiers)
    last: tuple[int, int, bool, tuple[Any, ...]] | None = None
    since = started  # since when ``last`` and (1) have held
    async with _Broker(settings) as broker:
        while True:
            _check_alive(workers)
            now = time.monotonic()
            ends = await _input_ends(broker, settings)
            committed = await broker.committed()
            alerts = sum((await broker.ends([settings.topics.alerts])).values())
            settled, group = await _settled(broker, workers)
            behind = _behind(ends, committed)
            if behind == 0 and snapshot is None:
                snapshot = await broker.ends({tp.topic for tp in committed} - set(inputs))
            elif behind > 0:
                snapshot = None
            others_done = snapshot is not None and _behind(snapshot, committed) == 0
            read_all, frontiers = _progress(workers)
            current = (alerts, sum(ends.values()) - behind, others_done, frontiers)
            if current != last or not settled or not read_all:
                last, since = current, now
            elif others_done:
                if now - since >= quiet_seconds:
                    return Drained(now - started, 0)
            elif behind > 0 and now - since >= stall_seconds:
                return Drained(now - started, behind)
            if now > deadline:
                raise AssertionError(
                    f"workers not drained after {timeout}s: {group}, inputs uncommitted "
                    f"{behind}, other topics behind "
                    f"{_behind(snapshot or {}, committed)}, {alerts} alerts so far\n"
                    + "\n".join(
                        f"--- {w.log_path.name} ---\n{w.tail(30)}\n/progress: {_progress_of(w)}"
                        for w in workers
                    )
                )
            await asyncio.sleep(0.5)


async def wait_consumed(
    settings: Settings,
    workers: Sequence[WorkerProcess],
    *,
    timeout: float = 120.0,
    stall_seconds: float = 3.5,
) -> None:
    """Until the worker group has committed every input topic to its end, or its committed
    input offsets have not moved for ``stall_seconds`` with the group settled (a worker
    may keep the newest records of a partition uncommitted while it waits for time to
    pass them). Paces a live feed; unlike :func:`wait_drained`, it does not wait for
    the alerts that may follow."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    async with _Broker(settings) as broker:
        while True:
            _check_alive(workers)
            now = time.monotonic()
            ends = await _input_ends(broker, settings)
            behind = _behind(ends, await broker.committed())
            settled, _ = await _settled(broker, workers)
            if behind == 0:
                return
            if behind != last or not settled:
                last, since = behind, now
            elif now - since >= stall_seconds:
                return
            if now > deadline:
                raise AssertionError(
                    f"inputs not consumed after {timeout}s: {behind} messages behind\n"
                    f"{workers[0].tail()}"
                )
            await asyncio.sleep(0.3)


async def wait_for_alerts(
    settings: Settings,
    workers: Sequence[WorkerProcess],
    at_least: int,
    *,
    timeout: float = 180.0,
    idle_seconds: float = 10.0,
) -> tuple[int, int, int]:
    """Until the alerts topic holds ``at_least`` messages, or it and the group's committed
    input offsets have not moved for ``idle_seconds`` with the group settled (the workers
    are done without reaching it); return (alert messages, input messages committed,
    input messages)."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int] | None = None
    since = time.monotonic()
    async with _Broker(settings) as broker:
        while True:
            _check_alive(workers)
            now = time.monotonic()
            alerts = sum((await broker.ends([settings.topics.alerts])).values())
            ends = await _input_ends(broker, settings)
            total = sum(ends.values())
            done = total - _behind(ends, await broker.committed())
            if alerts >= at_least:
                return alerts, done, total
            if (alerts, done) != last or not (await _settled(broker, workers))[0]:
                last, since = (alerts, done), now
            elif now - since >= idle_seconds:
                return alerts, done, total
            if now > deadline:
                raise AssertionError(
                    f"no {at_least} alerts after {timeout}s ({alerts} so far)\n{workers[0].tail()}"
                )
            await asyncio.sleep(0.1)


# --- comparison ---------------------------------------------------------------------


def _pairs(alerts: Iterable[dict[str, Any]]) -> set[Pair]:
    return {(a["alert_id"], a["status"]) for a in alerts}


@dataclass
class Comparison:
    """Replay's alerts against the workers', as sets of (alert_id, status)."""

    replay: set[Pair]
    worker: set[Pair]
    rule_of: dict[str, str]
    summary_of: dict[Pair, str]
    written_messages: int
    replay_late: int | None
    worker_late: Counter[str]
    foreign_status: dict[str, set[str]]  # alert_id -> statuses replay never gave it

    @property
    def missing(self) -> set[Pair]:
        return self.replay - self.worker

    @property
    def extra(self) -> set[Pair]:
        return self.worker - self.replay

    @property
    def same(self) -> bool:
        return self.replay == self.worker

    def per_rule(self) -> dict[str, tuple[int, int, int, int]]:
        """rule -> (replay, worker, missing, extra), counted as distinct (alert_id, status)."""
        counts: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
        for column, pairs in enumerate((self.replay, self.worker, self.missing, self.extra)):
            for alert_id, _ in pairs:
                counts[self.rule_of[alert_id]][column] += 1
        return {rule: (a, b, c, d) for rule, (a, b, c, d) in sorted(counts.items())}

    def table(self) -> str:
        rows = [f"{'rule':<22}{'replay':>8}{'worker':>8}{'missing':>9}{'extra':>8}"]
        for rule, (r, w, m, e) in self.per_rule().items():
            rows.append(f"{rule:<22}{r:>8,}{w:>8,}{m:>9,}{e:>8,}")
        total = (len(self.replay), len(self.worker), len(self.missing), len(self.extra))
        rows.append(f"{'all':<22}{total[0]:>8,}{total[1]:>8,}{total[2]:>9,}{total[3]:>8,}")
        return "\n".join(rows)

    def report(self, examples: int = 4) -> str:
        late = ", ".join(f"{kind} {n:,}" for kind, n in self.worker_late.most_common()) or "none"
        lines = [
            "worker vs replay, distinct (alert_id, status):",
            self.table(),
            f"alert messages written by the workers: {self.written_messages:,} "
            f"(repeats of a pair: {self.written_messages - len(self.worker):,})",
            f"late events: replay {'?' if self.replay_late is None else f'{self.replay_late:,}'}"
            f"; workers wrote to the late topic: {late}",
        ]
        if self.foreign_status:
            replay_ids = {alert_id for alert_id, _ in self.replay}
            known = sorted(a for a in self.foreign_status if a in replay_ids)
            lines.append(
                f"alert_ids with a status replay never gave them: {len(self.foreign_status):,} "
                f"({len(self.foreign_status) - len(known):,} ids replay never gave at all; "
                f"{len(known):,} it gave with other statuses, e.g. "
                f"{[(a, sorted(self.foreign_status[a])) for a in known[:examples]]})"
            )
        for title, pairs in (("missing (in replay only)", self.missing), ("extra", self.extra)):
            by_rule: dict[str, list[Pair]] = defaultdict(list)
            for pair in sorted(pairs):
                by_rule[self.rule_of[pair[0]]].append(pair)
            if by_rule:
                lines.append(f"{title}, e.g.:")
            for _, found in sorted(by_rule.items()):
                for pair in found[:examples]:
                    lines.append(f"  {pair[0]} {pair[1]}: {self.summary_of.get(pair, '')[:160]}")
        return "\n".join(lines)


def compare(replayed: Replayed, written: Written) -> Comparison:
    replay, worker = _pairs(replayed.alerts), _pairs(written.alerts)
    rule_of: dict[str, str] = {}
    summary_of: dict[Pair, str] = {}
    for alert in [*replayed.alerts, *written.alerts]:
        rule_of[alert["alert_id"]] = alert["rule"]
        summary_of.setdefault((alert["alert_id"], alert["status"]), alert.get("summary", ""))
    statuses: dict[str, set[str]] = defaultdict(set)
    for alert_id, status in replay:
        statuses[alert_id].add(status)
    foreign: dict[str, set[str]] = defaultdict(set)
    for alert_id, status in worker:
        if status not in statuses.get(alert_id, set()):
            foreign[alert_id].add(status)
    return Comparison(
        replay=replay,
        worker=worker,
        rule_of=rule_of,
        summary_of=summary_of,
        written_messages=len(written.alerts),
        replay_late=replayed.late,
        worker_late=written.late,
        foreign_status=dict(foreign),
    )


def assert_same_alerts(replayed: Replayed, written: Written, what: str) -> Comparison:
    """Assert the workers wrote exactly replay's (alert_id, status) pairs; repeats of a
    pair are allowed (at-least-once). Prints the per-rule table either way."""
    assert replayed.alerts, "replay gave no alerts: the comparison would prove nothing"
    result = compare(replayed, written)
    print(f"\n{what}\n{result.report()}")
    # equal sets also mean no alert_id has a status replay never gave it (reported apart)
    assert result.same, f"{what}: the workers' alerts differ from replay's\n{result.report()}"
    return result
