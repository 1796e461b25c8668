"""HubSpot webhooks: a JSON array of notifications, out of order and possibly repeated.

Each notification carries ``subscriptionType``, ``objectId``, ``occurredAt`` (ms)
and, for property changes, ``propertyName`` and ``propertyValue``. Deals come as
``deal.creation`` / ``deal.propertyChange`` / ``deal.deletion`` (or the generic
``object.*`` with ``objectTypeId`` ``0-3``); the engagement objects used for
activities (calls ``0-48``, meetings ``0-47``, emails ``0-49``) as ``object.*``
with their ``objectTypeId``. A creation notification carries no properties: HubSpot
sends the properties set at creation as property changes, which
:mod:`.knowledge` joins.

:func:`parse` is pure: bytes in, one result per notification out.
"""

from __future__ import annotations

import json
from typing import Any

from .changes import Change, Ignored, Kind, Malformed, Unusable, as_amount, as_date, as_ms

__all__ = ["DEAL_PROPERTIES", "OBJECT_TYPES", "parse"]

SOURCE = "hubspot"

OBJECT_TYPES: dict[str, tuple[Kind, str | None]] = {
    "0-3": ("deal", None),
    "0-48": ("activity", "calls"),
    "0-47": ("activity", "meetings"),
    "0-49": ("activity", "emails"),
}
"""HubSpot objectTypeId -> what it is to salespulse (and the activity type key)."""

DEAL_PROPERTIES = {
    "dealstage": "stage",
    "pipeline": "pipeline",
    "hubspot_owner_id": "owner",
    "amount": "amount",
    "deal_currency_code": "currency",
    "closedate": "close_date",
    "closed_lost_reason": "lost_reason",
}
"""HubSpot deal property -> change field; other properties are ignored."""

ACTIVITY_PROPERTIES = {
    "hubspot_owner_id": "owner",
    "hs_call_direction": "direction",
    "hs_email_direction": "direction",
    "hs_call_status": "outcome",
    "hs_meeting_outcome": "outcome",
    "hs_email_status": "outcome",
    "hs_call_duration": "duration_s",
    "hs_timestamp": "time_ms",
    "hs_meeting_start_time": "time_ms",
}


def _value(field: str, raw: Any) -> Any:
    if field == "amount":
        return as_amount(raw)
    if field == "close_date":
        return as_date(raw)
    if field == "time_ms":
        return as_ms(raw) if raw not in (None, "") else None
    if field == "duration_s":  # HubSpot gives call durations in milliseconds
        return as_amount(raw) / 1000 if raw not in (None, "") else None  # type: ignore[operator]
    return None if raw in (None, "") else str(raw)


def _one(item: Any) -> Change | Unusable | Ignored:
    original = json.dumps(item, separators=(",", ":")).encode()
    if not isinstance(item, dict):
        return Unusable("a notification must be a JSON object", original)
    kind_text = str(item.get("subscriptionType", ""))
    obj, _, action = kind_text.partition(".")
    object_id = item.get("objectId")
    if object_id in (None, "") or not action:
        return Unusable("notification without subscriptionType or objectId", original)
    crm_id = str(object_id)
    if obj == "object":
        known = OBJECT_TYPES.get(str(item.get("objectTypeId", "")))
        if known is None:
            return Ignored(f"objectTypeId {item.get('objectTypeId')!r}")
        kind, activity_type = known
    elif obj == "deal":
        kind, activity_type = "deal", None
    else:
        return Ignored(f"subscriptionType {kind_text!r}")
    try:
        at_ms = as_ms(item.get("occurredAt"))
    except (TypeError, ValueError):
        return Unusable("occurredAt is not a timestamp in milliseconds", original, crm_id)
    fields: dict[str, Any] = {}
    if activity_type is not None:
        fields["type"] = activity_type
    if action == "creation":
        return Change(SOURCE, kind, crm_id, at_ms, fields, created=True, original=original)
    if action == "deletion":
        return Change(SOURCE, kind, crm_id, at_ms, fields, deleted=True, original=original)
    if action != "propertyChange":
        return Ignored(f"subscriptionType {kind_text!r}")
    names = DEAL_PROPERTIES if kind == "deal" else ACTIVITY_PROPERTIES
    field = names.get(str(item.get("propertyName", "")))
    if field is None:
        return Ignored(f"property {item.get('propertyName')!r}")
    try:
        fields[field] = _value(field, item.get("propertyValue"))
    except (TypeError, ValueError) as error:
        return Unusable(f"{item.get('propertyName')}: {error}", original, crm_id)
    return Change(SOURCE, kind, crm_id, at_ms, fields, original=original)


def parse(body: bytes) -> list[Change | Unusable | Ignored]:
    """One result per notification; :class:`Malformed` when the body is no JSON array."""
    try:
        items = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(items, list):
        raise Malformed("HubSpot sends a JSON array of notifications")
    return [_one(item) for item in items]
