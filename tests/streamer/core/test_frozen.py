"""States built by their fast constructors behave as the dataclasses they are."""

from __future__ import annotations

import dataclasses

import pytest

from streamer.core.state.activity import ActivityDay
from streamer.core.state.deal import DealState
from streamer.core.state.rep import RepState


def test_a_state_stays_immutable_and_gets_defaults_of_its_own():
    a, b = DealState("d1", 0), DealState("d1", 0)
    assert a == b and a.attributes == {} and a.attributes is not b.attributes
    assert (a.marks, a.created_at, a.revision) == ((), None, 0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.revision = 3  # type: ignore[misc]
    later = dataclasses.replace(a, revision=2, created_at=5.0)
    assert (later.deal_id, later.revision, later.created_at, a.revision) == ("d1", 2, 5.0, 0)


def test_keyword_and_positional_construction_agree():
    rep = RepState(rep_id="r1", partition=2, first_seen=3.0)
    assert rep == RepState("r1", 2, None, {}, {}, {}, (), 3.0, {})
    assert RepState("r1", 2).deals is not RepState("r1", 2).deals
    day = ActivityDay(rep_id="r1", day=0.0)
    assert day == ActivityDay("r1", 0.0, frozenset(), {}, {})
    with pytest.raises(TypeError):
        RepState("r1")  # type: ignore[call-arg]
