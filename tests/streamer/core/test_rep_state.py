"""The rep state's table value: what a worker writes is what it reads back, old values too."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from streamer.core.state.deal import apply_deal_event, apply_touch
from streamer.core.state.rep import (
    DealSummary,
    LeadEntry,
    QuotaEntry,
    RepEpisode,
    RepState,
    apply_summary,
    summarize,
)
from tests.factories import activity, created, lost, moved, updated, won


def summary(deal_id: str, revision: int = 1, **changes: object) -> DealSummary:
    values: dict[str, object] = {
        "deal_id": deal_id,
        "rep_id": "rep-1",
        "team_id": "emea",
        "pipeline": "default",
        "stage": "won",
        "is_open": False,
        "amount": 1200.5,
        "currency": "EUR",
        "source_channel": "referral",
        "product": None,
        "created_at": 1_000.0,
        "closed_at": 9_000.0,
        "exits": (("proposal", 5_000.0, True), ("negotiation", 9_000.0, True)),
        "follow_ups": 3,
        "revision": revision,
        "opened_at": 1_000.0,
    }
    values.update(changes)
    return DealSummary(**values)  # type: ignore[arg-type]


def state() -> RepState:
    rep, _ = apply_summary(None, "rep-1", summary("d1"), 3)
    rep, _ = apply_summary(rep, "rep-1", summary("d2", stage="proposal", is_open=True), 3)
    return RepState(
        rep_id=rep.rep_id,
        partition=rep.partition,
        team_id=rep.team_id,
        deals=rep.deals,
        quotas={"2026-10-01": QuotaEntry(1.0, 2.0, 5e4, "revenue", None, 0.5, "q1")},
        leads={"l1": LeadEntry("l1", 10.0, None, 12.0)},
        bucket_days=(0.0, 86_400.0),
        first_seen=1_000.0,
        episodes={"quota_pace": RepEpisode("quota_pace:rep-1:x", 5.0, "warning")},
    )


def test_rep_state_survives_its_changelog_round_trip():
    rep = state()
    again = RepState.from_dict(json.loads(json.dumps(rep.to_dict())))
    assert again == rep
    assert again.deals["d1"].exits == (("proposal", 5_000.0, True), ("negotiation", 9_000.0, True))
    assert json.loads(json.dumps(again.to_dict())) == json.loads(json.dumps(rep.to_dict()))


def test_a_rep_state_written_with_deals_as_objects_still_reads():
    rep = state()
    old = rep.to_dict()
    old["d"] = {k: v.to_dict() for k, v in rep.deals.items()}  # how deals used to be stored
    assert RepState.from_dict(json.loads(json.dumps(old))) == rep


def test_a_summary_reads_back_the_same_however_it_was_stored():
    s = summary("d1", product="widgets")
    assert DealSummary.from_row(json.loads(json.dumps(s.to_row()))) == s
    assert DealSummary.from_dict(json.loads(json.dumps(s.to_dict()))) == s


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 6),  # day (ties included)
            st.sampled_from(["created", "moved", "won", "lost", "updated", "touch"]),
            st.sampled_from(["prospecting", "proposal", "negotiation"]),
            st.booleans(),
        ),
        max_size=12,
    )
)
def test_a_summary_says_what_its_deal_says(steps):
    deal = None
    for i, (day, kind, stage, flag) in enumerate(steps):
        if kind == "touch":
            deal, _ = apply_touch(deal, activity(day, deal_id="d1", follow_up=flag), 0)
            continue
        make = {"created": created, "updated": updated}.get(kind)
        extra = {"amount": 10.0 * i} if flag else {}
        if make is not None:
            event = make("d1", day, stage, event_id=f"e{i}", **extra)
        elif kind == "moved":
            event = moved("d1", day, "prospecting", stage, event_id=f"e{i}", **extra)
        else:
            event = (won if kind == "won" else lost)("d1", day, event_id=f"e{i}", **extra)
        deal, _ = apply_deal_event(deal, event, 0)
    if deal is None:
        return
    s = summarize(deal)
    assert (s.deal_id, s.rep_id, s.team_id, s.pipeline) == (
        deal.deal_id,
        deal.rep_id,
        deal.team_id,
        deal.pipeline,
    )
    assert (s.stage, s.is_open, s.closed_at, s.created_at) == (
        deal.stage,
        deal.is_open,
        deal.closed_at,
        deal.created_at,
    )
    assert s.exits == tuple(deal.exits())
    assert s.follow_ups == deal.follow_ups
    assert s.amount == deal.attribute("amount") and s.revision == deal.revision
    assert s.opened_at == (deal.marks[0].at if deal.marks else None)
