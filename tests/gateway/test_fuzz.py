"""Fuzzing the parsers: whatever arrives, each gives a result or Malformed, never a crash,
and whatever they produce maps to valid contract events or a readable reason."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streamer.gateway import hubspot, pipedrive, salesforce, slack
from streamer.gateway.changes import Malformed
from streamer.gateway.config import HubSpotMapping, PipedriveMapping, SalesforceMapping

from .mapping_helpers import Run

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)
anything = st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode()))

STAGES = {
    "stages": {"1": {"stage": "a"}, "x": {"stage": "b", "closed": "won"}},
    "owners": {"1": "r"},
}


def hs_items() -> st.SearchStrategy[Any]:
    return st.fixed_dictionaries(
        {
            "subscriptionType": st.sampled_from(
                [
                    "deal.creation",
                    "deal.propertyChange",
                    "deal.deletion",
                    "object.creation",
                    "object.propertyChange",
                    "contact.creation",
                    "deal.merge",
                ]
            ),
            "objectId": st.one_of(st.integers(0, 5), st.text(max_size=3), st.none()),
            "occurredAt": st.one_of(st.integers(-5, 2**45), st.text(max_size=5), st.none()),
            "objectTypeId": st.sampled_from(["0-3", "0-48", "0-47", "0-49", "9-9"]),
            "propertyName": st.sampled_from(
                [
                    "dealstage",
                    "hubspot_owner_id",
                    "amount",
                    "closedate",
                    "hs_call_status",
                    "hs_call_direction",
                    "hs_call_duration",
                    "hs_timestamp",
                    "other",
                ]
            ),
            "propertyValue": st.one_of(
                st.sampled_from(["1", "x", "COMPLETED", "OUTBOUND", "-1", "", "1e400"]),
                st.integers(),
                st.none(),
            ),
        }
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(anything)
def test_every_parser_survives_any_body(body: bytes) -> None:
    for parse in (hubspot.parse, pipedrive.parse, salesforce.parse):
        with contextlib.suppress(Malformed):
            parse(body)
    for parse_slack in (slack.parse_interaction, lambda b: slack.parse_command(b, "/salespulse")):
        with contextlib.suppress(Malformed, slack.Usage):
            parse_slack(body)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hs_items(), max_size=8))
def test_hubspot_shaped_noise_maps_or_explains(items: list[dict[str, Any]]) -> None:
    run = Run().feed(
        HubSpotMapping.model_validate(STAGES), hubspot.parse(json.dumps(items).encode())
    )
    assert all(isinstance(e, str) and e for e in run.errors)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["create", "change", "delete", "added"]),
    st.sampled_from(["deal", "activity", "person"]),
    st.dictionaries(
        st.sampled_from(
            [
                "stage_id",
                "owner_id",
                "value",
                "status",
                "expected_close_date",
                "type",
                "done",
                "duration",
                "due_date",
                "deal_id",
            ]
        ),
        json_values,
        max_size=6,
    ),
    st.one_of(st.integers(-5, 2**40), st.text(max_size=25)),
)
def test_pipedrive_shaped_noise_maps_or_explains(action, entity, data, timestamp) -> None:
    body = json.dumps(
        {
            "meta": {
                "action": action,
                "entity": entity,
                "version": "2.0",
                "entity_id": "1",
                "timestamp": timestamp,
            },
            "data": data,
            "previous": data,
        }
    ).encode()
    try:
        result = pipedrive.parse(body)
    except Malformed:
        return
    Run().feed(PipedriveMapping.model_validate(STAGES), [result])


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["Opportunity", "Task", "Event", "Lead"]),
    st.sampled_from(["CREATE", "UPDATE", "DELETE", "GAP_CREATE", "X"]),
    st.lists(st.text(min_size=1, max_size=4), max_size=3),
    st.dictionaries(
        st.sampled_from(
            [
                "StageName",
                "OwnerId",
                "Amount",
                "CloseDate",
                "TaskSubtype",
                "Status",
                "CallType",
                "StartDateTime",
                "DurationInMinutes",
                "WhatId",
            ]
        ),
        json_values,
        max_size=6,
    ),
    st.one_of(st.integers(-5, 2**45), st.text(max_size=5)),
)
def test_salesforce_shaped_noise_maps_or_explains(entity, change, ids, fields, commit) -> None:
    header = {
        "entityName": entity,
        "changeType": change,
        "recordIds": ids,
        "commitTimestamp": commit,
        "changedFields": list(fields),
    }
    body = json.dumps({"ChangeEventHeader": header, **fields}).encode()
    Run().feed(SalesforceMapping.model_validate(STAGES), salesforce.parse(body))
