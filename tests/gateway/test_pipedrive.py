"""Pipedrive webhooks v2 to contract events."""

from __future__ import annotations

import pytest

from streamer.gateway import pipedrive
from streamer.gateway.changes import Malformed
from streamer.gateway.config import PipedriveMapping

from .mapping_helpers import Run
from .payloads import pd_deal, pd_deal_data

MAPPING = PipedriveMapping.model_validate(
    {
        "stages": {
            "1": {"stage": "qualification", "pipeline": "sales"},
            "2": {"stage": "proposal", "pipeline": "sales"},
            "3": {"stage": "negotiation", "pipeline": "sales"},
        },
        "owners": {"18487521": "rep-17"},
    }
)


def feed(run: Run, *bodies: bytes) -> Run:
    for body in bodies:
        run.feed(MAPPING, [pipedrive.parse(body)])
    return run


def test_create_move_win() -> None:
    result = feed(
        Run(),
        pd_deal("create", 42, "2026-11-18T09:00:00.000Z", pd_deal_data(42)),
        pd_deal(
            "change",
            42,
            "2026-11-20T10:00:00.000Z",
            pd_deal_data(42, stage_id=2, update_time="2026-11-20T10:00:00Z"),
            {"stage_id": 1, "update_time": "2026-11-18T09:00:00Z"},
        ),
        pd_deal(
            "change",
            42,
            "2026-11-25T10:00:00.000Z",
            pd_deal_data(42, stage_id=2, status="won"),
            {"status": "open"},
        ),
    )
    assert result.types() == ["deal.created", "deal.stage_changed", "deal.won"]
    created, moved, won = result.events
    assert created["deal_id"] == "pd-42" and created["pipeline"] == "sales"
    assert created["amount"] == 12000 and created["currency"] == "EUR"
    assert created["expected_close"] == "2026-12-31"
    assert (moved["from_stage"], moved["stage"]) == ("qualification", "proposal")
    assert moved["occurred_at"] == "2026-11-20T10:00:00Z"
    assert won["event_id"].startswith("pipedrive:deal:42:status:won:")


def test_a_title_edit_sends_nothing_and_a_value_change_sends_deal_updated() -> None:
    result = feed(
        Run(),
        pd_deal("create", 42, "2026-11-18T09:00:00Z", pd_deal_data(42)),
        pd_deal("change", 42, "2026-11-19T09:00:00Z", pd_deal_data(42, title="x"), {"title": "y"}),
        pd_deal("change", 42, "2026-11-19T10:00:00Z", pd_deal_data(42, value=99), {"value": 12000}),
    )
    assert result.types() == ["deal.created", "deal.updated"]
    assert result.events[1]["amount"] == 99


def test_lost_with_reason_and_delete() -> None:
    result = feed(
        Run(),
        pd_deal("create", 7, "2026-11-18T09:00:00Z", pd_deal_data(7)),
        pd_deal(
            "change",
            7,
            "2026-11-19T09:00:00Z",
            pd_deal_data(7, status="lost", lost_reason="budget"),
            {"status": "open", "lost_reason": None},
        ),
        pd_deal("delete", 8, "2026-11-19T09:00:00Z", None, pd_deal_data(8)),
    )
    assert result.types() == ["deal.created", "deal.lost"]
    assert result.events[1]["reason"] == "budget"


def test_a_repeat_is_the_same_event() -> None:
    body = pd_deal("create", 42, "2026-11-18T09:00:00Z", pd_deal_data(42))
    result = feed(Run(), body, body)
    assert [e["event_id"] for e in result.events] == ["pipedrive:deal:42:created"] * 2


def test_unix_seconds_timestamps_are_read() -> None:
    result = feed(Run(), pd_deal("create", 1, 1727447128, pd_deal_data(1)))  # type: ignore[arg-type]
    assert result.events[0]["occurred_at"] == "2024-09-27T14:25:28Z"


def test_activities() -> None:
    activity = {
        "id": 501,
        "type": "call",
        "owner_id": 18487521,
        "deal_id": 42,
        "done": True,
        "subject": "Intro call",
        "due_date": "2026-11-18",
        "due_time": "09:30",
        "duration": "00:15",
        "marked_as_done_time": "2026-11-18T09:45:00Z",
        "add_time": "2026-11-18T08:00:00Z",
    }
    planned = {**activity, "done": False, "marked_as_done_time": None}
    result = feed(
        Run(),
        pd_deal("create", 501, "2026-11-18T08:00:00Z", planned, entity="activity"),
        pd_deal("change", 501, "2026-11-18T09:45:00Z", activity, {"done": False}, "activity"),
    )
    assert result.pending == 1
    [event] = result.events
    assert event["event_id"] == "pipedrive:activity:501"
    assert event["channel"] == "call" and event["outcome"] == "connected"
    assert event["deal_id"] == "pd-42" and event["duration_s"] == 900
    assert event["occurred_at"] == "2026-11-18T09:45:00Z"


def test_unmapped_owner_is_dead_lettered() -> None:
    result = feed(Run(), pd_deal("create", 1, "2026-11-18T09:00:00Z", pd_deal_data(1, owner_id=9)))
    assert result.events == [] and "owner '9'" in result.errors[0]


def test_other_entities_are_ignored_and_v1_is_refused() -> None:
    result = feed(Run(), pd_deal("create", 1, "2026-11-18T09:00:00Z", {"id": 1}, entity="person"))
    assert result.ignored == 1
    v1 = b'{"meta": {"version": "1.0", "action": "added", "entity": "deal"}}'
    assert "v2" in feed(Run(), v1).errors[0]


@pytest.mark.parametrize("body", [b"", b"[]", b"null", b'{"data": {}}', b"\x00"])
def test_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        pipedrive.parse(body)
