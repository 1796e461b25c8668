"""Activity day buckets: hourly slots, dedupe by event id, window sums against a batch count."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import ActivityLogged
from streamer.core.deal_engine import SharedView
from streamer.core.event_time import RawMarks
from streamer.core.figures import rep_figures
from streamer.core.rep_engine import RepEngine
from streamer.core.state.activity import HOUR, ActivityDay, add_activity, touches_between
from streamer.core.timeutil import DAY, from_epoch, to_epoch
from streamer.settings import load_settings

MIDNIGHT = to_epoch(datetime(2026, 11, 16, tzinfo=UTC))
SETTINGS = load_settings()

CHANNELS = ["call", "email", "meeting", "social", "sms"]
DIRECTIONS = ["outbound", "inbound"]
OUTCOMES = [
    "connected",
    "no_answer",
    "voicemail",
    "busy",
    "sent",
    "bounced",
    "opened",
    "replied",
    "held",
    "no_show",
    "cancelled",
]
REPS = ["rep-a", "rep-b", "rep-c"]


def touch(
    t: float,
    event_id: str,
    rep_id: str = "rep-a",
    channel: str = "call",
    direction: str = "outbound",
    outcome: str = "no_answer",
) -> ActivityLogged:
    return ActivityLogged(
        event_id=event_id,
        occurred_at=from_epoch(t),
        source="test",
        rep_id=rep_id,
        team_id="emea",
        channel=channel,
        direction=direction,
        outcome=outcome,
    )


def engine() -> RepEngine:
    return RepEngine(SETTINGS, {}, {}, {}, SharedView())


# --- the contract's definitions, written out independently of the code -----------------


def is_outbound_attempt(e: ActivityLogged) -> bool:
    return e.direction == "outbound" and e.channel in ("call", "email", "social")


def is_conversation(e: ActivityLogged) -> bool:
    return (
        (e.channel == "call" and e.outcome == "connected")
        or (e.channel == "email" and e.outcome == "replied")
        or (e.channel == "meeting" and e.outcome == "held")
    )


def is_email_sent(e: ActivityLogged) -> bool:
    return e.channel == "email" and e.direction == "outbound"


def is_email_opened(e: ActivityLogged) -> bool:
    return is_email_sent(e) and e.outcome in ("opened", "replied")


def batch(events: list[ActivityLogged], rep_id: str, start: float, end: float) -> dict[str, int]:
    inside = [e for e in events if e.rep_id == rep_id and start <= to_epoch(e.occurred_at) < end]
    return {
        "outbound_attempts": sum(map(is_outbound_attempt, inside)),
        "conversations": sum(map(is_conversation, inside)),
        "emails_sent": sum(map(is_email_sent, inside)),
        "emails_opened": sum(map(is_email_opened, inside)),
    }


def sums(t) -> dict[str, int]:
    return {
        "outbound_attempts": t.outbound_attempts,
        "conversations": t.conversations,
        "emails_sent": t.emails_sent,
        "emails_opened": t.emails_opened,
    }


# --- unit ------------------------------------------------------------------------------


def test_a_touch_lands_in_its_utc_day_and_hour_slot():
    bucket, changed = add_activity(None, touch(MIDNIGHT + 13 * HOUR + 59 * 60, "a1"))
    assert changed
    assert bucket.day == MIDNIGHT and bucket.rep_id == "rep-a"
    assert bucket.hours == {13: {"call|outbound|no_answer": 1}}
    assert bucket.totals == {"call|outbound|no_answer": 1}
    late_evening, _ = add_activity(None, touch(MIDNIGHT - 1, "a2"))
    assert late_evening.day == MIDNIGHT - DAY and set(late_evening.hours) == {23}


def test_a_repeated_event_id_changes_nothing():
    event = touch(MIDNIGHT + 5 * HOUR, "dup", outcome="connected")
    once, _ = add_activity(None, event)
    twice, changed = add_activity(once, event)
    assert not changed and twice is once
    assert touches_between([twice], MIDNIGHT, MIDNIGHT + DAY).conversations == 1


def test_window_bounds_are_half_open_on_whole_hours():
    day, _ = add_activity(None, touch(MIDNIGHT + 9 * HOUR, "on-the-hour"))
    day, _ = add_activity(day, touch(MIDNIGHT + 9 * HOUR + 3599, "end-of-hour"))
    day, _ = add_activity(day, touch(MIDNIGHT + 10 * HOUR, "next-hour"))
    assert touches_between([day], MIDNIGHT + 9 * HOUR, MIDNIGHT + 10 * HOUR).outbound_attempts == 2
    assert touches_between([day], MIDNIGHT + 10 * HOUR, MIDNIGHT + 11 * HOUR).outbound_attempts == 1
    assert touches_between([day], MIDNIGHT, MIDNIGHT + 9 * HOUR).outbound_attempts == 0
    # a whole day inside the window is read from its totals: same answer
    assert touches_between([day], MIDNIGHT - DAY, MIDNIGHT + 2 * DAY).outbound_attempts == 3


def test_contract_sums_count_only_what_the_contract_says():
    day = None
    kinds = [
        ("call", "outbound", "connected"),  # attempt + conversation
        ("call", "inbound", "connected"),  # conversation, not an attempt
        ("email", "outbound", "replied"),  # attempt + conversation + sent + opened
        ("email", "outbound", "opened"),  # attempt + sent + opened
        ("email", "inbound", "replied"),  # conversation only
        ("social", "outbound", "sent"),  # attempt
        ("sms", "outbound", "sent"),  # nothing
        ("meeting", "outbound", "held"),  # conversation, not an attempt
        ("meeting", "outbound", "no_show"),  # nothing
    ]
    for i, (channel, direction, outcome) in enumerate(kinds):
        day, _ = add_activity(
            day, touch(MIDNIGHT + i * HOUR, f"k{i}", "rep-a", channel, direction, outcome)
        )
    got = touches_between([day], MIDNIGHT, MIDNIGHT + DAY)
    assert sums(got) == {
        "outbound_attempts": 4,
        "conversations": 5,
        "emails_sent": 2,
        "emails_opened": 2,
    }


def test_bucket_survives_its_changelog_round_trip():
    day = None
    for i in range(30):
        day, _ = add_activity(day, touch(MIDNIGHT + i * 1800, f"r{i}", outcome="connected"))
    assert day is not None
    again = ActivityDay.from_dict(day.to_dict())
    assert again == day
    _, changed = add_activity(again, touch(MIDNIGHT, "r0", outcome="connected"))
    assert not changed  # the ids came back too


def test_counting_into_an_older_version_of_a_bucket_leaves_the_newer_one_alone():
    base, _ = add_activity(None, touch(MIDNIGHT, "r0"))
    newer, _ = add_activity(base, touch(MIDNIGHT + 60, "r1"))
    other, changed = add_activity(base, touch(MIDNIGHT + 120, "r2"))
    assert changed
    assert sorted(base.ids) == ["r0"]
    assert sorted(newer.ids) == ["r0", "r1"] and "r2" not in newer.ids
    assert sorted(other.ids) == ["r0", "r2"] and "r1" not in other.ids
    assert add_activity(newer, touch(MIDNIGHT + 120, "r2"))[1]  # still new to ``newer``
    assert sum(newer.totals.values()) == 2 and sum(other.totals.values()) == 2


# --- property: streaming window sums == batch over the distinct events -----------------

hour_aligned = st.integers(0, 4 * 24 - 1).map(lambda h: h * 3600)
any_second = st.integers(0, 4 * 86_400 - 1)
touch_spec = st.tuples(
    st.sampled_from(REPS),
    st.sampled_from(CHANNELS),
    st.sampled_from(DIRECTIONS),
    st.sampled_from(OUTCOMES),
    st.one_of(hour_aligned, any_second),
)
window_hours = st.tuples(st.integers(-30, 5 * 24), st.integers(0, 5 * 24))


@settings(max_examples=150, deadline=None)
@given(
    specs=st.lists(touch_spec, max_size=80),
    windows=st.lists(window_hours, min_size=1, max_size=5),
    rnd=st.randoms(use_true_random=False),
)
def test_window_sums_match_a_batch_count_whatever_the_order_and_repeats(specs, windows, rnd):
    events = [
        touch(MIDNIGHT + offset, f"act-{i}", rep, channel, direction, outcome)
        for i, (rep, channel, direction, outcome, offset) in enumerate(specs)
    ]
    delivered = events + [rnd.choice(events) for _ in range(len(events) // 3)] if events else []
    rnd.shuffle(delivered)
    e = engine()
    for event in delivered:
        e.on_activity(event, 0)

    for start_h, length_h in windows:
        start = MIDNIGHT + start_h * HOUR
        end = start + length_h * HOUR
        for rep in REPS:
            state = e.rep(rep)
            days = e.days_of(state, start, end) if state is not None else []
            got = touches_between(days, start, end)
            assert sums(got) == batch(events, rep, start, end), (rep, start_h, length_h)

    # the figures the rules and KPIs read: 7- and 30-day windows ending at a boundary
    for as_of in (MIDNIGHT + 2 * DAY + 7 * HOUR, MIDNIGHT + 4 * DAY, MIDNIGHT + 9 * DAY):
        for rep in REPS:
            state = e.rep(rep)
            if state is None:
                assert not any(ev.rep_id == rep for ev in events)
                continue
            figures = rep_figures(e.windows(state, as_of), as_of)
            assert sums(figures.touches7) == batch(events, rep, as_of - 7 * DAY, as_of)
            assert sums(figures.touches30) == batch(events, rep, as_of - 30 * DAY, as_of)


@settings(max_examples=50, deadline=None)
@given(specs=st.lists(touch_spec, max_size=40), rnd=st.randoms(use_true_random=False))
def test_bucket_contents_do_not_depend_on_delivery_order(specs, rnd):
    events = [
        touch(MIDNIGHT + offset, f"act-{i}", rep, channel, direction, outcome)
        for i, (rep, channel, direction, outcome, offset) in enumerate(specs)
    ]
    first, second = engine(), engine()
    for event in events:
        first.on_activity(event, 0)
    shuffled = events + events[: len(events) // 2]
    rnd.shuffle(shuffled)
    for event in shuffled:
        second.on_activity(event, 0)
    assert first.buckets == second.buckets
    assert {k: v.first_seen for k, v in first.reps.items()} == {
        k: v.first_seen for k, v in second.reps.items()
    }


# --- lateness ----------------------------------------------------------------------------


def feed(e: RepEngine, marks: RawMarks, event: ActivityLogged, partition: int) -> str:
    """What the processor does with an activity: drop it when late against its source,
    else count it."""
    if not marks.accept(f"activities:{partition}", to_epoch(event.occurred_at)):
        return "late"
    return "counted" if e.on_activity(event, partition) else "duplicate"


def test_a_slightly_late_touch_corrects_the_figures_a_too_late_one_does_not():
    e = engine()
    marks = RawMarks(SETTINGS.allowed_lateness_seconds)
    as_of = MIDNIGHT + 10 * HOUR
    assert feed(e, marks, touch(MIDNIGHT + 9 * HOUR, "t1", outcome="connected"), 0) == "counted"
    assert feed(e, marks, touch(as_of + 200, "t2"), 0) == "counted"  # watermark as_of + 200 s
    state = e.rep("rep-a")
    assert state is not None
    assert sums(rep_figures(e.windows(state, as_of), as_of).touches7)["outbound_attempts"] == 1

    # 250 s before the watermark, and before the boundary already judged: still counted
    assert feed(e, marks, touch(as_of - 50, "t3", outcome="connected"), 0) == "counted"
    # 301 s before the watermark: late, dropped
    assert feed(e, marks, touch(as_of - 101, "t4", outcome="connected"), 0) == "late"
    assert feed(e, marks, touch(as_of - 50, "t3", outcome="connected"), 0) == "duplicate"
    state = e.rep("rep-a")
    assert state is not None
    figures = rep_figures(e.windows(state, as_of), as_of)
    assert sums(figures.touches7) == {
        "outbound_attempts": 2,
        "conversations": 2,
        "emails_sent": 0,
        "emails_opened": 0,
    }
