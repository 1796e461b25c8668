"""The clock module (``streamer.core.event_time``) on its own: lateness per source, bounds on
the wire, the frontier over lanes and sources, the ordered buffer and rule boundaries.

Nothing here reads a clock: the wall time is a number a test hands in (:class:`FakeClock`).
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.event_time import (
    NEVER,
    Bound,
    Frontier,
    OrderedBuffer,
    RawMarks,
    boundaries_between,
    floor_to,
)

HOUR = 3600.0


class FakeClock:
    """A wall clock that only moves when the test moves it."""

    def __init__(self, now: float) -> None:
        self.now = now

    def tick(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def frontier(lanes: list[int], sources: list[str]) -> Frontier:
    f = Frontier()
    f.set_lanes(lanes)
    f.set_sources(sources)
    return f


# --- RawMarks ------------------------------------------------------------------------


def test_the_first_event_of_a_source_is_in_time_and_sets_its_watermark():
    marks = RawMarks(lateness=300)
    assert marks.mark("deals:0") == NEVER
    assert marks.accept("deals:0", 1_000.0)
    assert marks.mark("deals:0") == 1_000.0


def test_late_is_older_than_the_watermark_less_the_lateness_and_the_edge_counts():
    marks = RawMarks(lateness=300, marks={"deals:0": 1_000.0})
    assert not marks.accept("deals:0", 699.0)  # 301 s behind: late
    assert not marks.accept("deals:0", 699.999)
    assert marks.accept("deals:0", 700.0)  # exactly watermark - lateness: in time
    assert marks.accept("deals:0", 999.0)
    assert marks.mark("deals:0") == 1_000.0


def test_an_older_event_never_moves_the_watermark_back_and_a_late_one_not_at_all():
    marks = RawMarks(lateness=300)
    marks.accept("activities:1", 5_000.0)
    marks.accept("activities:1", 4_800.0)  # in time, older
    assert marks.mark("activities:1") == 5_000.0
    assert not marks.accept("activities:1", 1_000.0)  # late
    assert marks.mark("activities:1") == 5_000.0
    assert marks.accept("activities:1", 5_001.0)
    assert marks.mark("activities:1") == 5_001.0


# --- the guard on occurred_at -------------------------------------------------------------

DAY = 86_400.0


def guarded(**marks: float) -> RawMarks:
    return RawMarks(300, marks, max_jump=30 * DAY, earliest=0.0, latest=100_000 * DAY)


def test_an_event_too_far_ahead_of_its_source_is_refused_and_moves_nothing():
    marks = guarded(**{"deals:0": 1_000 * DAY})

    assert marks.refuse("deals:0", 1_031 * DAY)
    assert marks.mark("deals:0") == 1_000 * DAY
    # the next event in time with the watermark is taken as ever
    assert not marks.refuse("deals:0", 1_000.5 * DAY)
    assert marks.accept("deals:0", 1_000.5 * DAY)
    # exactly the jump is allowed
    assert not marks.refuse("deals:0", 1_030.5 * DAY)


def test_a_lone_far_future_event_costs_itself_only_however_often_it_comes_back():
    marks = guarded(**{"deals:0": 1_000 * DAY})
    for _ in range(3):  # wrong dates between good events: each refused
        assert marks.refuse("deals:0", 99_999 * DAY)
        assert not marks.refuse("deals:0", 1_000 * DAY)
    assert marks.mark("deals:0") == 1_000 * DAY


def test_two_events_in_a_row_that_agree_on_a_new_time_are_a_real_jump():
    # a quiet partition wakes up (or its watermark came from an event dated too early):
    # the first event past the jump is refused, the second one that agrees is taken
    marks = guarded(**{"quotas:0": 1_000 * DAY})

    assert marks.refuse("quotas:0", 1_100 * DAY)
    assert not marks.refuse("quotas:0", 1_100.5 * DAY)
    assert marks.accept("quotas:0", 1_100.5 * DAY)
    assert not marks.refuse("quotas:0", 1_101 * DAY)


def test_two_refused_events_that_disagree_are_both_refused():
    marks = guarded(**{"deals:0": 1_000 * DAY})

    assert marks.refuse("deals:0", 50_000 * DAY)
    assert marks.refuse("deals:0", 1_100 * DAY)  # 100 days ahead, far from the other
    assert not marks.refuse("deals:0", 1_100.1 * DAY)  # agrees with the one before


def test_the_first_event_of_a_source_is_bounded_by_the_absolute_range_alone():
    marks = guarded()

    assert marks.refuse("deals:0", 100_000 * DAY)  # the end of the range is excluded
    assert marks.refuse("deals:0", -1.0)
    assert not marks.refuse("deals:1", 99_999 * DAY)
    assert not marks.refuse("deals:2", 0.0)
    assert marks.out_of_range(100_000 * DAY) and not marks.out_of_range(0.0)


def test_the_guard_is_off_by_default_and_forget_starts_a_source_afresh():
    marks = RawMarks(300, {"deals:0": 0.0})
    assert not marks.refuse("deals:0", 1e12)

    strict = guarded(**{"deals:0": 1_000 * DAY})
    assert strict.refuse("deals:0", 5_000 * DAY)
    strict.forget("deals:0")
    assert strict.mark("deals:0") == NEVER
    assert not strict.refuse("deals:0", 5_000 * DAY)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=200 * DAY), min_size=1, max_size=60))
def test_the_guard_depends_on_the_source_alone_and_never_shuts_it_out(times: list[float]):
    """The same events of one source get the same verdicts whatever other sources do in
    between (a worker and a replay interleave sources differently); and of two events in
    a row within the jump of each other, the second one is never refused."""
    alone, mixed = guarded(), guarded()
    verdicts_alone, verdicts_mixed = [], []
    for i, moment in enumerate(times):
        refused = alone.refuse("deals:0", moment)
        if not refused:
            alone.place("deals:0", moment)
        verdicts_alone.append(refused)
        mixed.refuse("deals:1", 150 * DAY - moment)  # another source, read in between
        mixed.place("deals:1", 150 * DAY - moment)
        refused = mixed.refuse("deals:0", moment)
        if not refused:
            mixed.place("deals:0", moment)
        verdicts_mixed.append(refused)
        if i and verdicts_alone[-2] and abs(times[i - 1] - moment) <= 30 * DAY:
            assert not verdicts_alone[-1]
    assert verdicts_alone == verdicts_mixed


def test_sources_are_judged_independently():
    marks = RawMarks(lateness=300)
    marks.accept("deals:0", 100_000.0)
    # far behind deals:0, but activities:0 and deals:1 have their own watermarks
    assert marks.accept("activities:0", 10.0)
    assert marks.accept("deals:1", 10.0)
    assert not marks.accept("deals:0", 10.0)
    assert marks.marks == {"deals:0": 100_000.0, "activities:0": 10.0, "deals:1": 10.0}


def test_with_no_lateness_only_older_is_late_and_an_equal_time_is_in_time():
    marks = RawMarks(lateness=0)
    marks.accept("quotas:0", 50.0)
    assert marks.accept("quotas:0", 50.0)
    assert not marks.accept("quotas:0", 49.0)


def test_the_marks_given_are_copied():
    given_marks = {"deals:0": 1.0}
    marks = RawMarks(10, given_marks)
    marks.accept("deals:0", 99.0)
    assert given_marks == {"deals:0": 1.0}


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 2_000)), max_size=40),
    st.integers(0, 500),
)
def test_marks_are_the_running_maximum_of_what_was_accepted(events, lateness):
    marks = RawMarks(lateness)
    newest: dict[str, float] = {}
    for source, at in events:
        expected = at >= newest.get(source, NEVER) - lateness
        assert marks.accept(source, at) == expected
        if expected:
            newest[source] = max(newest.get(source, NEVER), at)
        assert marks.mark(source) == newest.get(source, NEVER)


# --- Bound -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bound",
    [Bound(1_767_225_600.5), Bound(0.0, True), Bound(NEVER), Bound(NEVER, True), Bound(-3.0)],
)
def test_a_bound_survives_the_wire(bound):
    wire = json.loads(json.dumps(bound.to_wire()))  # as it travels on an internal topic
    assert Bound.from_wire(wire) == bound


def test_the_start_of_time_travels_as_null_and_times_as_floats():
    assert Bound(NEVER).to_wire() == [None, False]
    assert Bound.from_wire([None, True]) == Bound(NEVER, True)
    back = Bound.from_wire([12, 0])
    assert back == Bound(12.0, False)
    assert isinstance(back.at, float)
    assert isinstance(back.idle, bool)


# --- Frontier --------------------------------------------------------------------------


def test_without_lanes_or_sources_the_frontier_is_the_start_of_time_or_the_wall_clock():
    clock = FakeClock(10_000.0)
    assert Frontier().advance() == NEVER
    assert frontier([0], []).advance() == NEVER
    assert frontier([], ["deals:0"]).advance() == NEVER
    assert Frontier().advance(clock.now, lateness=300) == 9_700.0
    assert frontier([0, 1], []).advance(clock.tick(100), lateness=300) == 9_800.0


def test_a_source_not_heard_on_one_lane_holds_the_frontier_at_the_start():
    f = frontier([0, 1], ["a", "b"])
    f.put(0, "a", Bound(100.0))
    f.put(0, "b", Bound(200.0))
    f.put(1, "a", Bound(150.0))
    assert f.bound_of("b") is None  # nothing about b on lane 1 yet
    assert f.advance() == NEVER
    assert f.lagging() == ["b"]  # a has promised more than the frontier: not a's doing
    f.put(1, "b", Bound(120.0))
    assert f.bound_of("a") == Bound(100.0)  # its lowest over the lanes
    assert f.bound_of("b") == Bound(120.0)
    assert f.advance() == 100.0


def test_the_frontier_is_the_lowest_bound_of_the_busy_sources():
    f = frontier([0], ["a", "b", "c"])
    for source, at in (("a", 300.0), ("b", 100.0), ("c", 200.0)):
        f.put(0, source, Bound(at))
    assert f.advance() == 100.0
    assert f.lagging() == ["b"]


def test_an_idle_source_does_not_hold_the_frontier_back():
    f = frontier([0], ["a", "b"])
    f.put(0, "a", Bound(300.0))
    f.put(0, "b", Bound(100.0, idle=True))
    assert f.advance() == 300.0
    assert f.lagging() == ["a"]


def test_idle_on_one_lane_only_is_busy():
    f = frontier([0, 1], ["a", "b"])
    f.put(0, "a", Bound(300.0))
    f.put(1, "a", Bound(300.0))
    f.put(0, "b", Bound(100.0, idle=True))
    f.put(1, "b", Bound(150.0, idle=False))
    assert f.bound_of("b") == Bound(100.0, idle=False)
    assert f.advance() == 100.0


def test_when_every_source_is_idle_the_frontier_is_the_highest_bound():
    f = frontier([0, 1], ["a", "b"])
    for lane in (0, 1):
        f.put(lane, "a", Bound(300.0, idle=True))
        f.put(lane, "b", Bound(100.0, idle=True))
    assert f.advance() == 300.0
    assert f.lagging() == []


def test_on_the_wall_clock_the_frontier_is_the_busy_minimum_capped_by_wall_less_lateness():
    clock = FakeClock(1_000.0)
    f = frontier([0], ["a", "b"])
    f.put(0, "a", Bound(500.0))
    f.put(0, "b", Bound(900.0, idle=True))
    assert f.advance(clock.now, lateness=300) == 500.0  # a holds it below 700
    f.put(0, "a", Bound(950.0))
    assert f.advance(clock.now, lateness=300) == 700.0  # the wall less the lateness
    assert f.advance(clock.tick(200), lateness=300) == 900.0
    f.put(0, "a", Bound(950.0, idle=True))
    # every source idle: the wall clock alone, beyond the highest bound
    assert f.advance(clock.tick(10_000), lateness=300) == 10_900.0


def test_on_the_wall_clock_an_unheard_source_still_holds_the_frontier():
    f = frontier([0], ["a", "b"])
    f.put(0, "a", Bound(500.0, idle=True))
    assert f.advance(FakeClock(1_000.0).now, lateness=0) == NEVER


def test_the_frontier_never_moves_back():
    clock = FakeClock(5_000.0)
    f = frontier([0], ["a"])
    f.put(0, "a", Bound(400.0))
    assert f.advance() == 400.0
    f.put(0, "a", Bound(100.0))  # a bound lower than before (a restarted source)
    assert f.advance() == 400.0
    assert f.advance(clock.tick(-4_900), lateness=0) == 400.0  # the wall clock went back
    assert f.value == 400.0
    f.set_lanes([0, 1])  # a new lane: nothing heard there yet
    assert f.advance() == 400.0


def test_bounds_for_a_lane_not_owned_are_ignored_and_lanes_given_away_are_forgotten():
    f = frontier([0, 1], ["a"])
    f.put(7, "a", Bound(1.0))
    assert 7 not in f.lanes
    f.put(0, "a", Bound(300.0))
    f.put(1, "a", Bound(100.0))
    assert f.bound_of("a") == Bound(100.0)
    f.set_lanes([0])
    assert f.bound_of("a") == Bound(300.0)
    assert f.advance() == 300.0


def test_lagging_names_the_sources_at_or_behind_the_frontier_that_are_not_idle():
    f = frontier([0], ["a", "b", "c", "d"])
    f.put(0, "a", Bound(100.0))
    f.put(0, "b", Bound(100.0))
    f.put(0, "c", Bound(50.0, idle=True))
    assert f.advance() == NEVER  # d unheard
    assert f.lagging() == ["d"]
    f.put(0, "d", Bound(400.0))
    assert f.advance() == 100.0
    assert f.lagging() == ["a", "b"]


def idle_of(bounds: dict[str, tuple[float, bool]], source: str) -> bool:
    return source in bounds and bounds[source][1]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from([0, 1]),
            st.sampled_from(["a", "b", "c"]),
            st.integers(-50, 1_000),
            st.booleans(),
        ),
        max_size=30,
    ),
    st.one_of(st.none(), st.integers(0, 2_000)),
)
def test_the_frontier_is_the_running_max_of_its_definition(puts, wall):
    f = frontier([0, 1], ["a", "b", "c"])
    known: dict[tuple[int, str], Bound] = {}
    value = NEVER
    for lane, source, at, idle in puts:
        f.put(lane, source, Bound(float(at), idle))
        known[(lane, source)] = Bound(float(at), idle)
        bounds = {}
        for s in "abc":
            per_lane = [known.get((lane_, s)) for lane_ in (0, 1)]
            if all(b is not None for b in per_lane):
                bounds[s] = (min(b.at for b in per_lane), all(b.idle for b in per_lane))
        busy = [bounds[s][0] if s in bounds else NEVER for s in "abc" if not idle_of(bounds, s)]
        idle_at = [bounds[s][0] for s in "abc" if idle_of(bounds, s)]
        if wall is not None:
            candidate = min([*busy, wall - 100.0])
        else:
            candidate = min(busy) if busy else max(idle_at)
        value = max(value, candidate)
        assert f.advance(None if wall is None else float(wall), lateness=100.0) == value


# --- OrderedBuffer ---------------------------------------------------------------------


def test_records_come_out_by_time_then_origin_then_arrival():
    buffer = OrderedBuffer()
    buffer.push(20.0, (0, 0, 5, 0), "d20")
    buffer.push(10.0, (1, 2, 0, 0), "activity10")
    buffer.push(10.0, (0, 1, 9, 0), "deal10")
    buffer.push(10.0, (0, 1, 9, 1), "deal10-sub1")
    buffer.push(10.0, (0, 1, 9, 0), "deal10-again")  # same time and origin: arrival order
    buffer.push(5.0, (2, 0, 0, 0), "quota5")
    assert len(buffer) == 6
    assert buffer.peek_at() == 5.0
    taken = [buffer.pop() for _ in range(len(buffer))]
    assert taken == ["quota5", "deal10", "deal10-again", "deal10-sub1", "activity10", "d20"]
    assert buffer.peek_at() == math.inf
    assert len(buffer) == 0


def test_records_that_do_not_compare_can_share_a_time_and_origin():
    buffer = OrderedBuffer()
    buffer.push(1.0, (0, 0, 0, 0), {"a": 1})
    buffer.push(1.0, (0, 0, 0, 0), {"b": 2})
    assert [buffer.pop(), buffer.pop()] == [{"a": 1}, {"b": 2}]


def test_drop_removes_and_returns_what_is_not_kept_and_the_rest_stays_in_order():
    buffer = OrderedBuffer()
    for i, at in enumerate([9.0, 3.0, 7.0, 1.0, 5.0, 3.0]):
        buffer.push(at, (0, i % 2, i, 0), (i % 2, at, i))
    dropped = buffer.drop(lambda record: record[0] == 0)  # partition 1 given away
    assert sorted(dropped) == [(1, 1.0, 3), (1, 3.0, 1), (1, 3.0, 5)]
    assert [buffer.pop() for _ in range(len(buffer))] == [(0, 5.0, 4), (0, 7.0, 2), (0, 9.0, 0)]
    assert buffer.drop(lambda record: True) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 3), st.integers(0, 3)), max_size=40))
def test_the_buffer_takes_records_in_sorted_order(pushes):
    buffer = OrderedBuffer()
    for i, (at, partition, offset) in enumerate(pushes):
        buffer.push(float(at), (0, partition, offset, 0), i)
    expected = sorted(range(len(pushes)), key=lambda i: (pushes[i][0], *pushes[i][1:], i))
    assert [buffer.pop() for _ in range(len(pushes))] == expected


# --- rule boundaries ------------------------------------------------------------------


def test_floor_to_is_the_last_whole_interval_at_or_before():
    assert floor_to(7_200.0, HOUR) == 7_200.0
    assert floor_to(7_199.9, HOUR) == 3_600.0
    assert floor_to(-1.0, HOUR) == -HOUR
    assert floor_to(0.0, HOUR) == 0.0


def test_boundaries_are_those_after_the_start_up_to_and_including_the_end():
    assert list(boundaries_between(0.0, 3 * HOUR, HOUR)) == [HOUR, 2 * HOUR, 3 * HOUR]
    assert list(boundaries_between(HOUR, 2 * HOUR, HOUR)) == [2 * HOUR]  # (after, upto]
    assert list(boundaries_between(HOUR - 1, HOUR, HOUR)) == [HOUR]
    assert list(boundaries_between(HOUR, 2 * HOUR - 1, HOUR)) == []
    assert list(boundaries_between(HOUR + 1, HOUR + 2, HOUR)) == []
    assert list(boundaries_between(HOUR, HOUR, HOUR)) == []


def test_no_boundaries_backwards_or_before_time_starts():
    assert list(boundaries_between(5 * HOUR, 2 * HOUR, HOUR)) == []
    assert list(boundaries_between(0.0, NEVER, HOUR)) == []
    assert list(boundaries_between(NEVER, NEVER, HOUR)) == []


def test_from_the_start_of_time_only_the_last_boundary_is_due():
    # nothing judged yet: not every hour since -inf, just the one at or before upto
    assert list(boundaries_between(NEVER, 5.5 * HOUR, HOUR)) == [5 * HOUR]
    assert list(boundaries_between(NEVER, 5 * HOUR, HOUR)) == [5 * HOUR]


@settings(max_examples=80, deadline=None)
@given(st.integers(-100, 100), st.integers(-100, 100), st.sampled_from([1, 24]))
def test_boundaries_between_matches_counting_them(after, upto, hours):
    interval = hours * HOUR
    a, u = after * 1_000.0, upto * 1_000.0
    expected = [k * interval for k in range(-100, 101) if a < k * interval <= u]
    assert list(boundaries_between(a, u, interval)) == expected
