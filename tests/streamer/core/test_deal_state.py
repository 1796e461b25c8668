"""Deal state is a function of the set of events: order and repetition do not matter."""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import DealEvent
from streamer.core.state import DealState, Visit, apply_deal_event
from streamer.core.timeutil import to_epoch
from tests.factories import at, created, lost, moved, updated, won

STAGES = ["prospecting", "qualification", "proposal", "negotiation"]


def fold(events: list[DealEvent], partition: int = 0) -> DealState:
    state = None
    for event in events:
        state, _ = apply_deal_event(state, event, partition)
    assert state is not None
    return state


def test_new_deal_is_open_in_its_stage_from_creation():
    deal = fold([created("d1", 0, "qualification")])
    assert deal.stage == "qualification"
    assert deal.is_open
    assert deal.entered_at == to_epoch(at(0))
    assert deal.visits() == []


def test_stage_move_completes_a_visit_and_restarts_the_clock():
    deal = fold([created("d1", 0, "prospecting"), moved("d1", 3, "prospecting", "proposal")])
    assert deal.stage == "proposal"
    assert deal.entered_at == to_epoch(at(3))
    assert deal.visits() == [Visit("prospecting", to_epoch(at(0)), to_epoch(at(3)))]


def test_won_and_lost_close_the_deal_whatever_stage_they_carry():
    assert fold([created("d1", 0), won("d1", 5)]).stage == "won"
    closed = fold([created("d2", 0), lost("d2", 5, reason="budget")])
    assert closed.stage == "lost"
    assert not closed.is_open
    assert closed.attribute("reason") == "budget"


def test_update_changes_attributes_not_the_stage_clock():
    deal = fold([created("d1", 0, "proposal"), updated("d1", 2, "proposal", amount=5000.0)])
    assert deal.entered_at == to_epoch(at(0))
    assert deal.attribute("amount") == 5000.0


def test_repeated_event_changes_nothing():
    event = moved("d1", 3, "prospecting", "proposal", event_id="e-move")
    deal = fold([created("d1", 0), event])
    again, changed = apply_deal_event(deal, event, 0)
    assert not changed
    assert again is deal


def test_a_late_event_lands_in_its_place():
    # the move to proposal arrives after the move out of it
    deal = fold(
        [
            created("d1", 0, "prospecting"),
            moved("d1", 9, "proposal", "negotiation"),
            moved("d1", 4, "prospecting", "proposal"),
        ]
    )
    assert [v.stage for v in deal.visits()] == ["prospecting", "proposal"]
    assert deal.visits()[1].seconds == 5 * 86400


def test_older_attribute_write_loses_to_newer():
    deal = fold(
        [
            created("d1", 0, amount=100.0),
            updated("d1", 5, "prospecting", amount=300.0),
            updated("d1", 2, "prospecting", amount=200.0),
        ]
    )
    assert deal.attribute("amount") == 300.0


def test_codec_round_trip():
    deal = fold(
        [created("d1", 0, expected_close=at(30).date()), moved("d1", 2, "prospecting", "proposal")]
    )
    assert DealState.from_dict(deal.to_dict()) == deal


# --- property: any order, any duplication == batch over the set -----------------------


def batch_expectation(events: list[DealEvent]) -> tuple[str, float, list[tuple[str, float]]]:
    """Plain batch computation: sort by (time, id), read the stage path off the list."""
    moves = sorted(
        (
            to_epoch(e.occurred_at),
            e.event_id,
            {"deal.won": "won", "deal.lost": "lost"}.get(e.event_type, e.stage),
        )
        for e in events
        if e.event_type != "deal.updated"
    )
    path: list[tuple[str, float]] = []  # (stage, entered)
    for moment, _, stage in moves:
        if not path or path[-1][0] != stage:
            path.append((stage, moment))
    visits = [
        (stage, path[i + 1][1] - entered)
        for i, (stage, entered) in enumerate(path[:-1])
        if stage not in ("won", "lost")
    ]
    return path[-1][0], path[-1][1], visits


@st.composite
def deal_histories(draw: st.DrawFn) -> list[DealEvent]:
    n = draw(st.integers(min_value=1, max_value=8))
    days = sorted(draw(st.lists(st.integers(0, 60), min_size=n, max_size=n)))
    events: list[DealEvent] = [created("d", days[0], draw(st.sampled_from(STAGES)))]
    for i, day in enumerate(days[1:], start=1):
        kind = draw(st.sampled_from(["move", "move", "update", "won", "lost"]))
        stage = draw(st.sampled_from(STAGES))
        if kind == "move":
            events.append(moved("d", day, "x", stage, event_id=f"e{i}"))
        elif kind == "update":
            events.append(updated("d", day, stage, event_id=f"e{i}", amount=float(i)))
        elif kind == "won":
            events.append(won("d", day, event_id=f"e{i}"))
        else:
            events.append(lost("d", day, event_id=f"e{i}"))
    return events


@settings(max_examples=300, deadline=None)
@given(deal_histories(), st.randoms(use_true_random=False), st.integers(0, 5))
def test_any_order_and_duplication_gives_the_batch_result(events, rnd: random.Random, dups):
    delivered = events + [rnd.choice(events) for _ in range(dups)]
    rnd.shuffle(delivered)
    deal = fold(delivered)
    stage, entered, visits = batch_expectation(events)
    assert deal.stage == stage
    assert deal.entered_at == entered
    assert [(v.stage, v.seconds) for v in deal.visits()] == visits
    in_order = fold(sorted(events, key=lambda e: (e.occurred_at, e.event_id)))
    # the revision counts changes, which depends on order; everything else must not
    assert replace(deal, revision=0) == replace(in_order, revision=0)
