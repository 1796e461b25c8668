"""The processor (``streamer.core.processor``) through its two drivers.

* Replay (loopback): the alerts of a stream do not depend on how its partitions are
  interleaved, nor on the order of events within a partition as long as nothing is
  moved by the allowed lateness or more.
* Worker (not loopback): an in-test exchange plays Kafka (input partitions read at
  different speeds, forwards and bounds delivered in order per internal partition with
  random delays between partitions) and the alerts are replay's; every message handed in
  is acknowledged at most once, and all of them once time has passed them.
* Effects of single messages: dead letters, late events, forwards.

The events are the simulator's, spread over partitions as :class:`~streamer.replay.Replay`
spreads them (:func:`~streamer.core.routing.home_of` and
:func:`~streamer.core.routing.partition_for`), and compared as (alert_id, status).
"""

from __future__ import annotations

import functools
import json
import random
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import RepUpserted, parse_event
from streamer.core.deal_engine import DealEngine, SharedView
from streamer.core.event_time import NEVER
from streamer.core.processor import (
    BOUND_HEADER,
    ORIGIN_HEADER,
    DeadLetter,
    Forward,
    Processor,
    raw_sources,
)
from streamer.core.rep_engine import RepEngine
from streamer.core.routing import home_of, partition_for
from streamer.core.timeutil import from_epoch, to_epoch
from streamer.devtools.simulate import SimConfig, generate
from streamer.replay import Replay
from streamer.settings import RulesSettings, Settings, load_settings
from tests import factories as f

PARTITIONS = 3
ROLES = ("deals", "activities", "quotas")
#: 4 reps over 12 days from January 20 (a fifth of the quarter gone: quota pace is judged
#: from the start): ~1,200 events, alerts of five rules (deal_stalled, follow_up_gap,
#: quota_pace, activity_barometer, leads_uncontacted), small enough for property tests
SIM = SimConfig(
    seed=1, reps=4, days=12, cold_touches_per_day=8, start=datetime(2026, 1, 20, tzinfo=UTC)
)

Pair = tuple[str, str]  # (alert_id, status)


def make_settings(**overrides: Any) -> Settings:
    rules = RulesSettings().model_dump()  # every rule on, with its defaults...
    for rule in rules.values():  # ...but a for and keep_firing_for of an hour where they are
        if rule["for_seconds"]:  # set: the shuffles exercise them, and the 12 days still
            rule["for_seconds"] = 3600.0  # see every kind of rule fire
        if rule.get("keep_firing_for_seconds"):
            rule["keep_firing_for_seconds"] = 3600.0
    values: dict[str, Any] = {
        "rules": rules,
        "partitions": PARTITIONS,
        "clock": "event",
    }
    values.update(overrides)
    return load_settings(**values)


SETTINGS = make_settings()


# --- the stream ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Line:
    """One event as Replay reads it: its topic role and partition, key and bytes."""

    role: str
    partition: int
    key: bytes
    value: bytes
    at: float


def line_of(value: bytes) -> Line:
    event = parse_event(value)
    role, key = home_of(event)
    return Line(
        role, partition_for(key, PARTITIONS), key.encode(), value, to_epoch(event.occurred_at)
    )


@functools.cache
def simulated() -> tuple[Line, ...]:
    return tuple(
        line_of(json.dumps(e.value, separators=(",", ":")).encode()) for e in generate(SIM)
    )


def streams_of(lines: Iterable[Line]) -> dict[tuple[str, int], list[Line]]:
    """The partitions' streams, each in the order of ``lines``."""
    streams: dict[tuple[str, int], list[Line]] = {}
    for line in lines:
        streams.setdefault((line.role, line.partition), []).append(line)
    return streams


@dataclass
class Replayed:
    alerts: Counter[Pair]
    late: int


def replay(settings: Settings, lines: Iterable[Line], advance_each: bool = False) -> Replayed:
    alerts: Counter[Pair] = Counter()
    r = Replay(settings, emit=lambda alert: alerts.update([(alert.alert_id, alert.status)]))
    for line in lines:
        r.feed_line(line.value)
        if advance_each:  # as a worker does after every batch
            r.advance()
    r.finish()
    return Replayed(alerts, r.summary.late)


@functools.cache
def baseline(lateness: float) -> Replayed:
    """Replay of the stream in file order (non-decreasing ``occurred_at``)."""
    replayed = replay(make_settings(allowed_lateness_seconds=lateness), simulated())
    assert replayed.late == 0
    assert {rule_of(pair) for pair in replayed.alerts} >= {
        "deal_stalled",
        "follow_up_gap",
        "activity_barometer",
        "quota_pace",
        "leads_uncontacted",
    }, "the stream no longer exercises every kind of rule: choose another SIM"
    return replayed


def rule_of(pair: Pair) -> str:
    return pair[0].split(":", 1)[0]


def difference(got: Counter[Pair], want: Counter[Pair]) -> str:
    extra, missing = sorted(set(got) - set(want)), sorted(set(want) - set(got))
    return f"{len(extra)} extra, e.g. {extra[:4]}; {len(missing)} missing, e.g. {missing[:4]}"


def interleave(
    streams: dict[tuple[str, int], list[Line]],
    rng: random.Random,
    speeds: Sequence[int],
    started: bool = True,
) -> list[Line]:
    """One reading of the partitions: each partition's own order kept, the next line taken
    from a partition chosen by its speed. ``started``: the first line of every partition
    comes first, in file order, as a consumer that has every partition assigned reads a
    first batch of each before it gets far into any."""
    keys = sorted(streams)
    taken = dict.fromkeys(keys, 0)
    out: list[Line] = []
    if started:
        for key in sorted(keys, key=lambda k: streams[k][0].at):
            out.append(streams[key][0])
            taken[key] = 1
    while True:
        left = [
            (k, speeds[i % len(speeds)]) for i, k in enumerate(keys) if taken[k] < len(streams[k])
        ]
        if not left:
            return out
        (key,) = rng.choices([k for k, _ in left], weights=[w for _, w in left])
        out.append(streams[key][taken[key]])
        taken[key] += 1


def shuffle_within(stream: list[Line], rng: random.Random, lateness: float) -> list[Line]:
    """The stream with events moved past each other only when their ``occurred_at`` differ
    by less than ``lateness``: ordered by ``at + u * lateness``, u in [0, 1), so an event
    follows one at most ``lateness`` newer (never late against its partition's watermark)."""
    keyed = sorted((line.at + rng.random() * lateness, i) for i, line in enumerate(stream))
    return [stream[i] for _, i in keyed]


# --- (a) replay: interleavings ---------------------------------------------------------

speeds_st = st.lists(st.integers(1, 60), min_size=1, max_size=12)


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), speeds=speeds_st, advance_each=st.booleans())
def test_replay_of_any_interleaving_of_the_partitions_gives_the_file_order_alerts(
    seed, speeds, advance_each
):
    """Partitions read at different speeds (each in its own order), the processor run
    every 64 lines or after every line. Every partition's first line comes first: fed
    line by line, a loopback knows only the partitions it has read, so it cannot wait
    for one it has not (``Replay.replay`` declares them all before it starts)."""
    want = baseline(SETTINGS.allowed_lateness_seconds)
    lines = interleave(streams_of(simulated()), random.Random(seed), speeds)
    assert sorted(lines, key=lambda x: x.value) == sorted(simulated(), key=lambda x: x.value)
    got = replay(SETTINGS, lines, advance_each)
    assert got.late == 0
    assert set(got.alerts) == set(want.alerts), difference(got.alerts, want.alerts)
    assert got.alerts == want.alerts  # nothing said twice that file order says once


@pytest.mark.parametrize("lateness", [300.0, 6 * 3600.0])
@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), speeds=speeds_st, share=st.floats(0.2, 1.0))
def test_replay_of_partitions_shuffled_within_the_lateness_gives_the_same_alerts(
    lateness, seed, speeds, share
):
    settings_ = make_settings(allowed_lateness_seconds=lateness)
    want = baseline(lateness)
    rng = random.Random(seed)
    streams = {
        key: shuffle_within(stream, rng, share * lateness)
        for key, stream in streams_of(simulated()).items()
    }
    moved = sum(
        a != b
        for key, stream in streams_of(simulated()).items()
        for a, b in zip(stream, streams[key], strict=True)
    )
    assert moved > 0
    got = replay(settings_, interleave(streams, rng, speeds))
    assert got.late == 0
    assert set(got.alerts) == set(want.alerts), difference(got.alerts, want.alerts)


@settings(max_examples=3, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), share=st.floats(0.05, 1.0))
def test_replay_of_neighbours_swapped_within_the_lateness_gives_the_same_alerts(seed, share):
    """The plainest form: in every partition, swap neighbours whose times differ by less
    than the lateness (equal times too), each event at most once."""
    rng = random.Random(seed)
    lateness = SETTINGS.allowed_lateness_seconds
    streams = {}
    swapped = 0
    for key, stream in streams_of(simulated()).items():
        stream = list(stream)
        i = 0
        while i < len(stream) - 1:
            if stream[i + 1].at - stream[i].at < lateness and rng.random() < share:
                stream[i], stream[i + 1] = stream[i + 1], stream[i]
                swapped += stream[i].at != stream[i + 1].at
                i += 2
            else:
                i += 1
        streams[key] = stream
    assert swapped > 10
    got = replay(SETTINGS, interleave(streams, rng, [1]))
    assert got.late == 0
    want = baseline(lateness)
    assert set(got.alerts) == set(want.alerts), difference(got.alerts, want.alerts)


def test_replay_does_not_depend_on_when_a_partition_is_first_read():
    """A deal, its touch three days later on the activity topic, and a second deal on
    the same deal partition at day 10. In file order the touch breaks the deal's first
    quiet spell (3 days, below the 7): no follow_up_gap. With the deal partition read
    ahead (a file written topic by topic), the activity partition has not been read when
    time moves to day 10, so the deal side judges the spell without the touch, fires, and
    resolves when the touch arrives (in time: the first line of its partition)."""
    deal_x = f.created("deal-x", 0)
    touch = f.activity(3, deal_id="deal-x")
    deal_z = f.created("deal-z", 10)
    assert partition_for("deal-x", PARTITIONS) == partition_for("deal-z", PARTITIONS)

    def alerts(order: list[Any]) -> set[Pair]:
        got: set[Pair] = set()
        r = Replay(
            SETTINGS,
            emit=lambda alert: got.add((alert.alert_id, alert.status)),
            advance_every=1,  # time moves after every line
        )
        r.replay(lambda: [wire(event) for event in order])
        assert r.summary.late == 0
        return got

    in_order = alerts([deal_x, touch, deal_z])
    assert not {pair for pair in in_order if rule_of(pair) == "follow_up_gap"}
    deals_ahead = alerts([deal_x, deal_z, touch])
    assert deals_ahead == in_order, sorted(deals_ahead ^ in_order)


# --- (b) the worker's mode, through an in-test exchange ------------------------------


def worker_processor(settings: Settings) -> Processor:
    view = SharedView()
    counts = dict.fromkeys(ROLES, settings.partitions)
    processor = Processor(
        settings,
        DealEngine(settings, {}, view),
        RepEngine(settings, {}, {}, {}, view),
        view,
        counts,
        loopback=False,
    )
    parts = range(settings.partitions)
    processor.assign(parts, parts)
    return processor


@dataclass
class Exchange:
    """Kafka for one worker-style processor that owns every partition.

    Input partitions are queues of (offset, line); each internal partition (deal side,
    rep side) is a FIFO queue of (key, value, headers, handle). A step takes a batch
    from one queue, chosen by the queues' speeds, hands it to the processor, runs it
    (``advance``) and carries out the effects: forwards are appended to their internal
    partition, alerts and acknowledged handles are collected. After a step, with some
    chance (always once everything is read), the processor's bounds go to every internal
    partition, behind what was forwarded before them, when they changed: a source is
    idle when its input partition has nothing left.
    """

    processor: Processor
    rng: random.Random
    speeds: Sequence[int]
    batch: int = 8
    bound_chance: float = 1.0
    wall: Any = None  # () -> the wall time handed to advance (a fake clock)
    inputs: dict[tuple[str, int], deque[tuple[int, Line]]] = field(default_factory=dict)
    internal: dict[tuple[str, int], deque[tuple[Any, ...]]] = field(default_factory=dict)
    alerts: Counter[Pair] = field(default_factory=Counter)
    handed: Counter[Any] = field(default_factory=Counter)
    done: Counter[Any] = field(default_factory=Counter)
    dead: list[DeadLetter] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    _sent: Any = None
    _seq: int = 0
    newest: float = NEVER

    def __post_init__(self) -> None:
        n = self.processor.settings.partitions
        self.sources = raw_sources(dict.fromkeys(ROLES, n))
        for side in ("deal", "rep"):
            for p in range(n):
                self.internal[(side, p)] = deque()

    def load(self, lines: Iterable[Line]) -> None:
        for key, stream in streams_of(lines).items():
            self.inputs[key] = deque(enumerate(stream))

    def _rank(self, queue: tuple[str, tuple[str, int]]) -> int:
        """A queue's place in a fixed order (its speed is ``speeds[rank % len(speeds)]``)."""
        kind, key = queue
        keys = sorted(self.inputs) if kind == "in" else sorted(self.internal)
        return keys.index(key) + (0 if kind == "in" else len(self.inputs))

    def _handle(self, *what: Any) -> Any:
        self._seq += 1
        handle = (*what, self._seq)
        self.handed[handle] += 1
        return handle

    def step(self) -> bool:
        """One batch of one queue; False when every queue is empty."""
        queues = [("in", k) for k, q in self.inputs.items() if q]
        queues += [("internal", k) for k, q in self.internal.items() if q]
        if not queues:
            return False
        weights = [self.speeds[self._rank(q) % len(self.speeds)] for q in queues]
        kind, key = self.rng.choices(queues, weights=weights)[0]
        count = self.rng.randint(1, self.batch)
        processor = self.processor
        if kind == "in":
            role, partition = key
            queue = self.inputs[key]
            for _ in range(min(count, len(queue))):
                offset, line = queue.popleft()
                self.newest = max(self.newest, line.at)
                handle = self._handle("in", role, partition, offset)
                processor.read(role, role, partition, offset, line.key, line.value, handle)
        else:
            side, partition = key
            queue = self.internal[key]
            for _ in range(min(count, len(queue))):
                k, value, headers, handle = queue.popleft()
                processor.receive(side, partition, k, value, headers, handle)
        self.run()
        if self.rng.random() < self.bound_chance:
            self.send_bounds()
        return True

    def run(self, wall: float | None = None) -> None:
        if wall is None and self.wall is not None:
            wall = self.wall()
        self.processor.advance(wall)
        out = self.processor.take()
        self.alerts.update((a.alert_id, a.status) for a in out.alerts)
        self.done.update(out.done)
        self.dead.extend(out.dead)
        for forward in out.forwards:
            handle = self._handle("forward", forward.side, forward.partition)
            self.internal[(forward.side, forward.partition)].append(
                (forward.key, forward.value, dict(forward.headers), handle)
            )

    def send_bounds(self) -> bool:
        idle = {}
        for source in self.sources:
            role, partition = source.split(":")
            idle[source] = not self.inputs.get((role, int(partition)))
        wire = self.processor.bounds(idle)
        if wire == self._sent:
            return False
        self._sent = wire
        value = json.dumps(wire).encode()
        for key, queue in self.internal.items():
            queue.append((None, value, {BOUND_HEADER: b"1"}, self._handle("bound", *key)))
        return True

    def drain(self) -> None:
        """Until everything is read and delivered and the bounds say nothing new."""
        while self.step() or self.send_bounds():
            pass

    def unacknowledged(self) -> Counter[Any]:
        return self.handed - self.done

    def buffered(self) -> list[Any]:
        """The records still waiting in the processor's buffers (taken out of them)."""
        buffers = (self.processor.deal_buffer, self.processor.rep_buffer)
        return [record for buffer in buffers for record in buffer.drop(lambda _: False)]


exchange_st = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 2**32 - 1),
        "speeds": st.lists(st.integers(1, 50), min_size=1, max_size=16),
        "batch": st.integers(1, 40),
        "bound_chance": st.sampled_from([1.0, 0.5, 0.1]),
    }
)


@settings(max_examples=5, deadline=None)
@given(how=exchange_st, share=st.sampled_from([0.0, 0.5, 1.0]))
def test_a_worker_reading_partitions_at_any_speed_says_what_replay_says(how, share):
    """Partitions read at their own speeds, batches of any size, forwards and bounds late
    by any amount on some internal partitions (and bounds sent now and then), events of a
    partition moved past each other within the lateness (``share`` of it)."""
    rng = random.Random(how["seed"])
    lateness = SETTINGS.allowed_lateness_seconds
    lines = [
        line
        for stream in streams_of(simulated()).values()
        for line in shuffle_within(stream, rng, share * lateness)
    ]
    exchange = Exchange(
        worker_processor(SETTINGS), rng, how["speeds"], how["batch"], how["bound_chance"]
    )
    exchange.load(lines)
    exchange.drain()

    want = baseline(lateness)
    assert exchange.dead == []
    assert set(exchange.alerts) == set(want.alerts), difference(exchange.alerts, want.alerts)
    assert exchange.alerts == want.alerts

    # nothing acknowledged twice, nothing acknowledged that was not handed in
    assert max(exchange.done.values()) == 1
    assert set(exchange.done) <= set(exchange.handed)
    # what is not acknowledged is exactly what still waits for time to pass it: records
    # newer than the frontier (the newest event less the allowed lateness)
    left = exchange.buffered()
    assert set(exchange.unacknowledged()) == {r.ticket.handle for r in left if r.ticket}
    frontier = exchange.processor.rep_frontier.value
    assert frontier == max(x.at for x in simulated()) - lateness
    assert all(r.at > frontier for r in left)


class FakeClock:
    def __init__(self, now: float = NEVER) -> None:
        self.now = now


@settings(max_examples=2, deadline=None)
@given(how=exchange_st)
def test_on_the_wall_clock_a_drained_worker_acknowledges_every_message_exactly_once(how):
    """The wall clock follows the newest event read (live pace); once it has passed the
    newest event by more than the lateness, every message handed in is acknowledged,
    once, and replay's alerts are among what was said."""
    lateness = SETTINGS.allowed_lateness_seconds
    clock = FakeClock()
    exchange = Exchange(
        worker_processor(make_settings(clock="wall")),
        random.Random(how["seed"]),
        how["speeds"],
        how["batch"],
        how["bound_chance"],
        wall=lambda: clock.now,
    )
    exchange.load(simulated())
    while exchange.step() or exchange.send_bounds():
        clock.now = exchange.newest
    assert exchange.unacknowledged()  # the newest events wait for time to pass them

    clock.now = exchange.newest + lateness + SETTINGS.rep_rules_interval_seconds
    exchange.run()
    exchange.drain()

    assert exchange.dead == []
    assert exchange.done == exchange.handed
    assert set(exchange.handed.values()) == {1}
    assert exchange.buffered() == []
    want = baseline(lateness)
    assert set(want.alerts) <= set(exchange.alerts), difference(exchange.alerts, want.alerts)


# --- (c) effects of single messages ----------------------------------------------------


def wire(event: Any) -> bytes:
    return event.model_dump_json(exclude_none=True).encode()


def at_of(event: Any) -> float:
    return to_epoch(event.occurred_at)


def shifted(event: Any, seconds: float) -> Any:
    return event.model_copy(update={"occurred_at": event.occurred_at + timedelta(seconds=seconds)})


def done(processor: Processor) -> list[Any]:
    """The handles acknowledged since the last look (bound messages here have none)."""
    return sorted(h for h in processor.take().done if h is not None)


def all_idle(processor: Processor) -> None:
    """Every source caught up: the processor's own bounds, delivered to every lane."""
    value = json.dumps(processor.bounds(dict.fromkeys(raw_sources(processor.counts), True)))
    for side in ("deal", "rep"):
        for lane in range(processor.settings.partitions):
            processor.receive(side, lane, None, value.encode(), {BOUND_HEADER: b"1"}, None)


@pytest.mark.parametrize(
    "value",
    [
        b"{not json",
        None,
        b"",
        b'{"event_type": "deal.created", "deal_id": "deal-x"}',
        wire(f.created("deal-x", 0)).replace(b'"2026-11-01T09:00:00Z"', b'"2026-11-01 09:00"'),
    ],
    ids=["not-json", "tombstone", "empty", "missing-fields", "bad-timestamp"],
)
def test_a_malformed_message_is_a_dead_letter_and_done(value):
    processor = worker_processor(SETTINGS)
    processor.read("deals", "sp-deals", 1, 17, b"deal-x", value, "handle")
    out = processor.take()
    assert len(out.dead) == 1
    dead = out.dead[0]
    assert (dead.key, dead.value, dead.topic, dead.partition, dead.offset, dead.late) == (
        b"deal-x",
        value,
        "sp-deals",
        1,
        17,
        False,
    )
    assert dead.error
    assert out.done == ["handle"]
    assert out.counts == Counter({("rejected", "sp-deals"): 1})
    assert not (out.alerts or out.forwards)
    assert len(processor.deal_buffer) == len(processor.rep_buffer) == 0


def test_a_late_event_is_processed_where_its_source_stands_and_copied_for_the_record():
    processor = worker_processor(SETTINGS)
    lateness = SETTINGS.allowed_lateness_seconds
    newest = f.created("deal-x", 5)
    assert partition_for("deal-x", PARTITIONS) == 0
    processor.read("deals", "sp-deals", 0, 0, b"deal-x", wire(newest), "h0")

    too_old = shifted(f.updated("deal-x", 5, "prospecting"), -lateness - 1)
    processor.read("deals", "sp-deals", 0, 1, b"deal-x", wire(too_old), "h1")
    out = processor.take()
    assert [(d.offset, d.late, d.value) for d in out.dead] == [(1, True, wire(too_old))]
    assert "late" in out.dead[0].error
    assert out.done == []  # not dropped: it waits for its turn like any record
    assert out.counts[("late", "deal.updated")] == 1

    # exactly the watermark less the lateness is in time
    edge = shifted(f.updated("deal-x", 5, "prospecting"), -lateness)
    processor.read("deals", "sp-deals", 0, 2, b"deal-x", wire(edge), "h2")
    # another partition has a watermark of its own
    elsewhere = f.created("deal-z", 0)
    processor.read("deals", "sp-deals", 0, 3, b"deal-z", wire(elsewhere), "h3")
    other = f.created("deal-y", 0)
    processor.read("deals", "sp-deals", 1, 0, b"deal-y", wire(other), "h4")
    out = processor.take()
    assert [d.offset for d in out.dead] == [3]  # deal-z: 5 days behind deals:0
    assert out.done == []
    assert len(processor.deal_buffer) == 5

    all_idle(processor)
    processor.advance()
    # up to the frontier (deals:0's watermark less the lateness): the late two where
    # their source stood (at the edge), the edge, and deal-y
    assert done(processor) == ["h1", "h2", "h3", "h4"]  # h0 is newer: it waits
    deal_z = processor.deals.deals["deal-z"]
    assert deal_z.created_at == at_of(elsewhere)  # the state has the event's own time


def test_an_event_dated_far_ahead_of_its_partition_is_a_dead_letter_and_moves_no_time():
    processor = worker_processor(SETTINGS)
    processor.read("deals", "sp-deals", 0, 0, b"deal-x", wire(f.created("deal-x", 5)), "h0")
    jump = SETTINGS.max_event_time_jump_seconds
    ahead = shifted(f.updated("deal-x", 5, "prospecting"), jump + 1)
    processor.read("deals", "sp-deals", 0, 1, b"deal-x", wire(ahead), "h1")

    out = processor.take()
    assert [(d.offset, d.late, d.value) for d in out.dead] == [(1, False, wire(ahead))]
    assert out.dead[0].error.startswith(
        "occurred_at: more than max_event_time_jump_seconds (34,560,000 s) ahead of the "
        "newest event read from its partition; not processed"
    )
    assert out.dead[0].error.endswith("400.0 days after 2026-11-06T09:00:00Z")
    assert out.done == ["h1"]
    assert out.counts == Counter({("accepted", "deal.created"): 1, ("rejected", "sp-deals"): 1})
    assert processor.marks.mark("deals:0") == at_of(f.created("deal-x", 5))
    assert len(processor.deal_buffer) == 1


@pytest.mark.parametrize(
    "event",
    [
        f.created("deal-x", 0).model_copy(
            update={"occurred_at": datetime(9999, 12, 31, tzinfo=UTC)}
        ),
        f.created("deal-x", 0).model_copy(
            update={"occurred_at": datetime(1970, 1, 1, tzinfo=UTC)}  # a null read as 0
        ),
        RepUpserted(
            event_id="r",
            occurred_at=datetime(2100, 1, 1, tzinfo=UTC),
            source="t",
            rep_id="rep-1",
            name="n",
            team_id="t",
            manager_id="m",
        ),
    ],
    ids=["year-9999", "epoch-zero", "org-entry-in-2100"],
)
def test_an_event_outside_the_years_taken_is_a_dead_letter_even_as_a_partitions_first(event):
    processor = worker_processor(SETTINGS)
    processor.read("deals", "sp-deals", 2, 9, b"k", wire(event), "h")

    out = processor.take()
    assert [(d.offset, d.late) for d in out.dead] == [(9, False)]
    assert out.dead[0].error.startswith(
        "occurred_at: outside the years 2000 to 2099 this service takes (earliest_event_year, "
        "latest_event_year); not processed, got "
    )
    assert out.done == ["h"]
    assert out.counts == Counter({("rejected", "sp-deals"): 1})
    assert processor.marks.mark("deals:2") == NEVER


def test_replay_with_far_future_events_says_what_replay_without_them_says():
    """On every partition, an event dated year 9999 (outside the years taken) and later
    one dated 500 days after the partition's newest (too far ahead; org entries are not
    a source of event time, so only the first applies to them): each refused, the good
    events' alerts unchanged, and time (the report's as-of) is the good events'."""
    good = list(simulated())
    head, tail = good[:200], good[200:]
    bad_far: list[Line] = []
    bad_ahead: list[Line] = []
    for (role, partition), stream in streams_of(good).items():
        for lines, at in (
            (bad_far, datetime(9999, 1, 1, tzinfo=UTC)),
            (bad_ahead, from_epoch(max(line.at for line in stream) + 500 * 86_400)),
        ):
            event = parse_event(stream[0].value).model_copy(
                update={"event_id": f"bad-{len(lines)}-{role}-{partition}", "occurred_at": at}
            )
            if lines is bad_far or role in ROLES:
                lines.append(line_of(wire(event)))
    mixed = head + bad_far + tail + bad_ahead

    alerts: Counter[Pair] = Counter()
    r = Replay(SETTINGS, emit=lambda alert: alerts.update([(alert.alert_id, alert.status)]))
    for line in mixed:
        r.feed_line(line.value)
    r.finish()

    want = baseline(SETTINGS.allowed_lateness_seconds)
    assert set(alerts) == set(want.alerts), difference(alerts, want.alerts)
    assert sum(r.summary.rejected.values()) == len(bad_far) + len(bad_ahead) > 0
    assert r.newest == max(line.at for line in good)


def test_an_event_read_on_the_wrong_partition_is_forwarded_not_processed():
    processor = worker_processor(SETTINGS)
    event = f.created("deal-y", 1)
    assert partition_for("deal-y", PARTITIONS) == 1
    processor.read("deals", "sp-deals", 0, 5, b"wrong-key", wire(event), "h")
    out = processor.take()
    origin = f"{at_of(event)!r};0:0:5:0".encode()
    assert out.forwards == [
        Forward("deal", 1, b"deal-y", wire(event), ((ORIGIN_HEADER, origin),)),
    ]
    assert out.done == ["h"]  # the forward carries it on
    assert not out.dead
    assert len(processor.deal_buffer) == len(processor.rep_buffer) == 0
    assert "deal-y" not in processor.deals.deals

    # delivered on the deal side's internal partition 1, it is processed there in turn
    forward = out.forwards[0]
    processor.receive("deal", 1, forward.key, forward.value, dict(forward.headers), "fw")
    later = f.created("deal-x", 3)
    processor.read("deals", "sp-deals", 0, 6, b"deal-x", wire(later), "h2")
    assert done(processor) == []
    all_idle(processor)
    processor.advance()
    assert done(processor) == ["fw"]
    assert "deal-y" in processor.deals.deals


def test_an_activity_on_a_deal_is_counted_on_its_rep_and_forwarded_to_the_deal_as_a_touch():
    processor = worker_processor(SETTINGS)
    touch = f.activity(1, rep_id="rep-1", deal_id="deal-x")
    assert (partition_for("rep-1", PARTITIONS), partition_for("deal-x", PARTITIONS)) == (2, 0)
    processor.read("activities", "sp-activities", 2, 9, b"rep-1", wire(touch), "h")
    out = processor.take()
    origin = f"{at_of(touch)!r};1:2:9:1".encode()  # rank 1 (activities), sub-record 1
    assert out.forwards == [Forward("deal", 0, b"deal-x", wire(touch), ((ORIGIN_HEADER, origin),))]
    assert out.done == []  # its rep-side record is still to be processed
    assert len(processor.rep_buffer) == 1
    assert len(processor.deal_buffer) == 0


def test_a_lead_on_the_deal_topic_is_forwarded_to_its_reps_partition():
    processor = worker_processor(SETTINGS)
    lead = f.lead(1, "lead-2", rep_id="rep-1")
    processor.read("deals", "sp-deals", 0, 0, b"lead-2", wire(lead), "h")
    out = processor.take()
    assert [(x.side, x.partition, x.key) for x in out.forwards] == [("rep", 2, b"rep-1")]
    assert out.counts[("forwarded", "lead.created")] == 1
    assert out.done == ["h"]


def test_a_late_quota_is_placed_like_any_event():
    processor = worker_processor(SETTINGS)
    processor.read("quotas", "sp-quotas", 0, 0, b"rep-1", wire(f.quota(30, 120, 1e5)), "h0")
    processor.read("quotas", "sp-quotas", 0, 1, b"rep-1", wire(f.quota(0, 90, 9e4)), "h1")
    out = processor.take()
    assert [d.offset for d in out.dead if d.late] == [1]  # a copy for the record
    assert [x.partition for x in out.forwards] == [2, 2]  # both go on to the rep side
    assert processor.marks.mark("quotas:0") == at_of(f.quota(30, 120, 1e5))


def test_a_bound_message_is_done_at_once_and_tells_its_lane_only():
    processor = worker_processor(SETTINGS)
    value = json.dumps({"deals:0": [1000.0, False], "activities:1": [None, True]}).encode()
    processor.receive("rep", 2, None, value, {BOUND_HEADER: b"1"}, "b")
    assert processor.take().done == ["b"]
    assert processor.rep_frontier.lanes[2]["deals:0"].at == 1000.0
    assert processor.rep_frontier.lanes[2]["activities:1"].idle
    assert "deals:0" not in processor.rep_frontier.lanes[0]
    assert processor.deal_frontier.bound_of("deals:0") is None


def test_org_entries_and_alert_commands_are_done_when_read():
    processor = worker_processor(SETTINGS)
    org = next(e for e in generate(SIM) if e.value["event_type"] == "rep.upserted")
    processor.read("org", "sp-org", 0, 0, org.key.encode(), json.dumps(org.value).encode(), "o")
    out = processor.take()
    assert out.done == ["o"]
    assert org.value["rep_id"] in processor.view.reps
    assert not (out.forwards or out.dead)


def test_on_the_wall_clock_time_is_the_fake_clock_less_the_lateness():
    """Loopback on the wall clock: with every source idle, a deal stalls when the clock
    handed in passes its threshold plus the lateness, not before; the clock going back
    changes nothing."""
    settings_ = make_settings(clock="wall")
    view = SharedView()
    processor = Processor(
        settings_,
        DealEngine(settings_, {}, view),
        RepEngine(settings_, {}, {}, {}, view),
        view,
        dict.fromkeys(ROLES, PARTITIONS),
        loopback=True,
    )
    deal = f.created("deal-x", 0)
    processor.read("deals", "deals", 0, 0, b"deal-x", wire(deal), "h")
    processor.finish_sources()
    lateness = settings_.allowed_lateness_seconds
    threshold = 2 * 14 * 86_400.0  # factor x the default stage days, nothing learned yet
    clock = FakeClock(at_of(deal) + threshold + lateness)

    def stalled() -> list[str]:
        processor.advance(clock.now)
        alerts = processor.take().alerts
        return [a.status for a in alerts if a.rule == "deal_stalled"]

    assert stalled() == []  # exactly at the threshold: not over it
    assert processor.deal_frontier.value == clock.now - lateness
    clock.now += 1
    assert stalled() == ["firing"]
    clock.now -= 3_600
    assert stalled() == []
    assert processor.deal_frontier.value == at_of(deal) + threshold + 1


def test_on_the_event_clock_the_wall_time_is_ignored():
    replay_ = Replay(SETTINGS)
    replay_.feed(f.created("deal-x", 0))
    replay_.finish()
    processor = replay_.processor
    before = processor.deal_frontier.value
    processor.advance(wall=at_of(f.created("deal-x", 100)))
    assert processor.deal_frontier.value == before
    assert processor.take().alerts == []


def duplicates(counts: Counter[tuple[str, str]]) -> Counter[str]:
    return Counter({label: n for (metric, label), n in counts.items() if metric == "duplicate"})


def test_a_duplicate_activity_on_a_deal_is_counted_once_in_a_worker_as_in_replay():
    deal = f.created("deal-x", 0)
    touch = f.activity(1, rep_id="rep-1", deal_id="deal-x")
    later = f.activity(2, rep_id="rep-1")

    r = Replay(SETTINGS)
    for event in (deal, touch, touch, later):
        r.feed(event)
    r.finish()
    assert r.summary.duplicates == 1

    processor = worker_processor(SETTINGS)
    counts: Counter[tuple[str, str]] = Counter()
    processor.read("deals", "sp-deals", 0, 0, b"deal-x", wire(deal), None)
    for offset, event in enumerate((touch, touch, later)):
        processor.read("activities", "sp-activities", 2, offset, b"rep-1", wire(event), None)
    out = processor.take()
    counts.update(out.counts)
    for forward in out.forwards:
        processor.receive(
            forward.side, forward.partition, forward.key, forward.value, dict(forward.headers)
        )
    for _ in range(2):  # the deal side, then the rep side behind the deal side's bound
        all_idle(processor)
        processor.advance()
        counts.update(processor.take().counts)
    assert (len(processor.deal_buffer), len(processor.rep_buffer)) == (0, 1)  # `later` waits
    assert duplicates(counts) == Counter({"activity.logged": 1})
