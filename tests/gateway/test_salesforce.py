"""Salesforce change events (Opportunity, Task, Event) to contract events."""

from __future__ import annotations

import json

import pytest

from streamer.gateway import salesforce
from streamer.gateway.changes import Malformed
from streamer.gateway.config import SalesforceMapping

from .mapping_helpers import Run
from .payloads import T_MS, sf_event

DAY = 86_400_000
OPP = "006RM000002a1bQYAQ"
OPP2 = "006RM000002a1bRYAQ"
OWNER = "005RM000001vI54YAE"

MAPPING = SalesforceMapping.model_validate(
    {
        "stages": {
            "Prospecting": {"stage": "prospecting"},
            "Proposal/Price Quote": {"stage": "proposal"},
            "Closed Won": {"stage": "won", "closed": "won"},
            "Closed Lost": {"stage": "lost", "closed": "lost"},
        },
        "owners": {OWNER: "rep-17"},
    }
)


def feed(run: Run, *events: dict) -> Run:
    for event in events:
        run.feed(MAPPING, salesforce.parse(json.dumps(event).encode()))
    return run


def created(ids: list[str]) -> dict:
    return sf_event(
        "Opportunity",
        "CREATE",
        ids,
        T_MS,
        Name="Acme platform",
        StageName="Prospecting",
        Amount=12000.0,
        CurrencyIsoCode="EUR",
        CloseDate="2026-12-31",
        OwnerId=OWNER,
        CreatedDate="2026-11-18T11:06:40.000Z",
    )


def test_create_then_partial_updates_completed_from_knowledge() -> None:
    update = sf_event(
        "Opportunity",
        "UPDATE",
        [OPP],
        T_MS + DAY,
        ["StageName", "LastModifiedDate"],
        StageName="Proposal/Price Quote",
        LastModifiedDate="2026-11-19T11:06:40.000Z",
    )
    amount = sf_event("Opportunity", "UPDATE", [OPP], T_MS + 2 * DAY, ["Amount"], Amount=15000.0)
    won = sf_event(
        "Opportunity", "UPDATE", [OPP], T_MS + 3 * DAY, ["StageName"], StageName="Closed Won"
    )
    result = feed(Run(), created([OPP]), update, amount, won)
    assert result.types() == ["deal.created", "deal.stage_changed", "deal.updated", "deal.won"]
    moved = result.events[1]
    # the UPDATE named only the stage: owner and amount come from the CREATE
    assert moved["rep_id"] == "rep-17" and moved["amount"] == 12000
    assert moved["from_stage"] == "prospecting" and moved["stage"] == "proposal"
    assert result.events[2]["amount"] == 15000 and result.events[2]["stage"] == "proposal"
    assert result.events[3]["amount"] == 15000
    assert result.keys == ["sf-" + OPP] * 4


def test_one_event_for_several_record_ids() -> None:
    result = feed(Run(), created([OPP, OPP2]))
    assert [e["deal_id"] for e in result.events] == ["sf-" + OPP, "sf-" + OPP2]


def test_an_update_of_an_unknown_opportunity_is_dead_lettered() -> None:
    update = sf_event("Opportunity", "UPDATE", [OPP], T_MS, ["Amount"], Amount=1.0, OwnerId=None)
    result = feed(Run(), update)
    assert "knows no stage or owner" in result.errors[0]


def test_gap_events_are_dead_lettered_with_the_reason() -> None:
    result = feed(Run(), sf_event("Opportunity", "GAP_UPDATE", [OPP], T_MS))
    assert "GAP_UPDATE" in result.errors[0]


def test_tasks_and_events_are_activities() -> None:
    call = sf_event(
        "Task",
        "CREATE",
        ["00TRM000004d7h1YAA"],
        T_MS,
        Subject="Call",
        TaskSubtype="Call",
        CallType="Outbound",
        CallDurationInSeconds=312,
        Status="Completed",
        OwnerId=OWNER,
        WhatId=OPP,
        WhoId="003RM000001x2yZYAQ",
    )
    todo = sf_event(
        "Task",
        "CREATE",
        ["00TRM000004d7h2YAA"],
        T_MS,
        TaskSubtype="Task",
        Status="Not Started",
        OwnerId=OWNER,
    )
    meeting = sf_event(
        "Event",
        "CREATE",
        ["00URM000001a2b3YAA"],
        T_MS,
        Subject="Demo",
        StartDateTime="2026-11-20T15:00:00.000Z",
        DurationInMinutes=45,
        OwnerId=OWNER,
        WhatId="001RM000003abcdYAA",  # an account, not a deal
    )
    result = feed(Run(), call, todo, meeting)
    assert result.types() == ["activity.logged", "activity.logged"]
    logged, held = result.events
    assert logged["channel"] == "call" and logged["direction"] == "outbound"
    assert logged["deal_id"] == "sf-" + OPP and logged["duration_s"] == 312
    assert held["channel"] == "meeting" and held["outcome"] == "held"
    assert held["occurred_at"] == "2026-11-20T15:00:00Z" and "deal_id" not in held
    assert held["duration_s"] == 2700
    assert result.pending == 1  # the open to-do


@pytest.mark.parametrize(
    "wrapper",
    [lambda e: e, lambda e: {"payload": e}, lambda e: {"data": {"payload": e, "event": {}}}],
)
def test_connector_envelopes(wrapper) -> None:
    result = feed(Run(), wrapper(created([OPP])))
    assert result.types() == ["deal.created"]


def test_other_entities_are_ignored() -> None:
    result = feed(Run(), sf_event("Account", "CREATE", ["001x"], T_MS, Name="Acme"))
    assert result.ignored == 1


@pytest.mark.parametrize("body", [b"", b"[]", b'{"a": 1}', b'{"ChangeEventHeader": 3}'])
def test_malformed(body: bytes) -> None:
    with pytest.raises(Malformed):
        salesforce.parse(body)
