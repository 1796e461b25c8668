"""The rep state's table value: what a worker writes is what it reads back, old values too."""

from __future__ import annotations

import json

from streamer.state.rep import (
    DealSummary,
    LeadEntry,
    QuotaEntry,
    RepEpisode,
    RepState,
    apply_summary,
)


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
