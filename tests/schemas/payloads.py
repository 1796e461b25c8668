"""Valid wire payloads, one per event type, and the contract's own examples."""

from __future__ import annotations

import json
from typing import Any

# Verbatim from the contract (section 2 and section 4), line breaks included.
CONTRACT_ACTIVITY_EXAMPLE = b"""{"event_id":"act-000917","event_type":"activity.logged","occurred_at":"2026-11-20T14:03:00Z",
 "source":"salesforce","rep_id":"rep-17","team_id":"emea","channel":"call","direction":"outbound",
 "outcome":"connected","deal_id":"deal-9","follow_up":true,"duration_s":312}"""  # noqa: E501

CONTRACT_DEAL_EXAMPLE = b"""{"event_id":"d-5512","event_type":"deal.stage_changed","occurred_at":"2026-11-18T09:00:00Z",
 "source":"hubspot","deal_id":"deal-9","rep_id":"rep-17","pipeline":"default",
 "from_stage":"qualification","stage":"proposal","amount":12000,"currency":"EUR",
 "source_channel":"referral","product":"platform-annual"}"""  # noqa: E501

CONTRACT_ALERT_EXAMPLE = b"""{"schema_version":1,"alert_id":"deal_stalled:deal-9:2026-11-18T09:00:00Z","alert_key":"deal_stalled:deal:deal-9",
 "rule":"deal_stalled","status":"firing","severity":"warning",
 "subject":{"kind":"deal","id":"deal-9"},"rep_id":"rep-17","team_id":"emea","manager_id":"mgr-3",
 "title":"Deal deal-9 stalled in proposal",
 "summary":"In proposal for 31.0 days; deals usually leave proposal after 12.4 days (threshold 24.8 days).",
 "metrics":{"days_in_stage":31.0,"stage_avg_days":12.4,"threshold_days":24.8,"samples":57},
 "started_at":"2026-12-13T04:12:00Z","resolved_at":null,"emitted_at":"2026-12-19T09:00:02Z"}"""  # noqa: E501

_ENVELOPE = {"event_id": "e-1", "occurred_at": "2026-11-20T14:03:00Z", "source": "test"}
_DEAL = {"deal_id": "deal-9", "rep_id": "rep-17", "stage": "proposal"}
_COMMAND = {"alert_key": "deal_stalled:deal:deal-9", "by": "mgr-3"}

# The required fields of each event type, nothing more.
MINIMAL: dict[str, dict[str, Any]] = {
    "activity.logged": {
        "rep_id": "rep-17",
        "channel": "call",
        "direction": "outbound",
        "outcome": "connected",
    },
    "deal.created": _DEAL,
    "deal.stage_changed": {**_DEAL, "from_stage": "qualification"},
    "deal.updated": _DEAL,
    "deal.won": {**_DEAL, "stage": "won"},
    "deal.lost": {**_DEAL, "stage": "lost"},
    "lead.created": {"lead_id": "lead-1", "rep_id": "rep-17"},
    "lead.converted": {"lead_id": "lead-1", "rep_id": "rep-17", "deal_id": "deal-9"},
    "quota.set": {
        "rep_id": "rep-17",
        "period_start": "2026-10-01",
        "period_end": "2027-01-01",
        "target": 250000,
        "metric": "revenue",
    },
    "rep.upserted": {
        "rep_id": "rep-17",
        "name": "Ada Rep",
        "team_id": "emea",
        "manager_id": "mgr-3",
    },
    "alert.ack": _COMMAND,
    "alert.snooze": _COMMAND,
    "alert.unsnooze": _COMMAND,
}


def payload(event_type: str, /, **changes: Any) -> dict[str, Any]:
    """A minimal valid payload of ``event_type``; a change to ``...`` removes the field."""
    fields: dict[str, Any] = {**_ENVELOPE, "event_type": event_type, **MINIMAL[event_type]}
    for name, value in changes.items():
        if value is ...:
            fields.pop(name, None)
        else:
            fields[name] = value
    return fields


def wire(event_type: str, /, **changes: Any) -> bytes:
    """:func:`payload` as the bytes a producer would write."""
    return json.dumps(payload(event_type, **changes)).encode()
