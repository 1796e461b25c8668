"""Table value codecs: what a worker writes it reads back as the same state, and values
written before the compact encoding (JSON objects) still read as what they held."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.state.activity import ActivityDay, add_activity, decode_day, encode_day
from streamer.core.state.deal import (
    DEAL_CODEC_V1,
    DealState,
    GapEpisode,
    StageMark,
    StalledEpisode,
    Touch,
    apply_deal_event,
    apply_touch,
    decode_deal,
    encode_deal,
)
from streamer.core.state.rep import RepState, apply_summary, decode_rep, encode_rep, summarize
from tests.factories import activity, created, lost, moved, updated


def _old_bytes(value: DealState | RepState | ActivityDay) -> bytes:
    """A value as the worker wrote it before: the object through Faust's JSON serializer."""
    return json.dumps(value.to_dict()).encode()


def _deal(*events) -> DealState:
    state = None
    for event in events:
        if event.event_type == "activity.logged":
            state, _ = apply_touch(state, event, 3)
        else:
            state, _ = apply_deal_event(state, event, 3)
    assert state is not None
    return state


def _rich_deal() -> DealState:
    deal = _deal(
        created("d1", 0, "proposal", expected_close="2027-01-31"),
        activity(1, deal_id="d1", follow_up=True),
        moved("d1", 2, "proposal", "negotiation", amount=2500.5, rep_id="rep-2"),
        activity(3, deal_id="d1", follow_up=False),
        updated("d1", 4, "negotiation", product="addon"),
        lost("d1", 5, reason="price"),
    )
    return replace(
        deal,
        stalled=StalledEpisode("deal_stalled:d1:x", "negotiation", 2.0 * 86400, 40.0 * 86400),
        gap=GapEpisode("follow_up_gap:d1:y", 3.0 * 86400, 12.0 * 86400),
        gap_checked=3.0 * 86400,
    )


def test_a_deal_reads_back_as_written():
    for deal in (_deal(created("d0", 0)), _rich_deal(), DealState("empty", 0)):
        raw = encode_deal(deal)
        assert raw[0] == DEAL_CODEC_V1
        assert decode_deal(raw) == deal


def test_a_deal_written_as_a_json_object_still_reads():
    deal = _rich_deal()
    assert decode_deal(_old_bytes(deal)) == deal
    assert decode_deal(deal.to_dict()) == deal  # parsed already, as Faust's JSON tables gave it


def test_the_encoding_is_much_smaller_than_the_json_object():
    deal = _deal(created("deal-0000001", 0, "proposal"))
    assert len(encode_deal(deal)) < len(_old_bytes(deal)) / 2


def test_repeated_labels_are_one_string_each():
    a, b = (decode_deal(encode_deal(_deal(created(d, 0, "proposal")))) for d in ("x1", "x2"))
    assert a.stage is b.stage
    assert a.rep_id is b.rep_id and a.team_id is b.team_id


def test_an_attribute_outside_the_register_list_survives():
    deal = replace(_deal(created("d0", 0)), attributes={"legacy": ("v", 1.0, "e-1")})
    assert decode_deal(encode_deal(deal)) == deal


stamps = st.tuples(
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.text(min_size=1, max_size=8)
)


@settings(max_examples=200, deadline=None)
@given(
    marks=st.lists(st.tuples(stamps, st.sampled_from(["a", "b", "won"])), max_size=4),
    attributes=st.dictionaries(
        st.sampled_from(["rep_id", "team_id", "amount", "reason", "other"]),
        st.tuples(
            st.one_of(st.none(), st.text(max_size=5), st.integers(), st.floats(allow_nan=False)),
            stamps,
        ),
        max_size=5,
    ),
    touches=st.lists(st.tuples(stamps, st.booleans()), max_size=4),
    revision=st.integers(min_value=0, max_value=2**40),
)
def test_any_deal_reads_back_as_written(marks, attributes, touches, revision):
    deal = DealState(
        "d",
        1,
        tuple(sorted(StageMark(at, eid, stage) for (at, eid), stage in marks)),
        {name: (value, at, eid) for name, (value, (at, eid)) in attributes.items()},
        None,
        None,
        tuple(sorted(Touch(at, eid, f) for (at, eid), f in touches)),
        None,
        None,
        revision,
    )
    assert decode_deal(encode_deal(deal)) == deal


def test_rep_states_and_day_buckets_read_back_and_read_their_old_json():
    deal = _rich_deal()
    rep, _ = apply_summary(None, "rep-2", summarize(deal), 1)
    assert decode_rep(encode_rep(rep)) == rep
    assert decode_rep(_old_bytes(rep)) == rep
    day, _ = add_activity(None, activity(1, deal_id="d1", follow_up=True))
    for raw in (encode_day(day), _old_bytes(day)):
        back = decode_day(raw)
        assert (back.rep_id, back.day, set(back.ids), back.hours, back.totals) == (
            day.rep_id,
            day.day,
            set(day.ids),
            day.hours,
            day.totals,
        )
