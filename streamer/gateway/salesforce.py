"""Salesforce Change Data Capture for Opportunity, Task and Event, as JSON.

A change event holds ``ChangeEventHeader`` (``entityName``, ``recordIds`` with one
or more ids the same change applies to, ``changeType`` ``CREATE`` / ``UPDATE`` /
``DELETE`` / ``UNDELETE`` / ``GAP_*``, ``changedFields``, ``nulledFields``,
``commitTimestamp`` in ms) and the record's fields. A CREATE carries every
field that has a value; an UPDATE only the changed ones (the rest are absent or
null, which is why only ``changedFields`` and ``nulledFields`` are read from an
UPDATE); :mod:`.knowledge` completes them. ``GAP_*`` events carry no field values
(Salesforce could not produce them) and are dead-lettered with that reason.

Connectors wrap the event differently: the bare event, ``{"payload": event}``
(Kafka Connect) and ``{"data": {"payload": event}}`` (Pub/Sub API bridges) are
read alike. :func:`parse` is pure.
"""

from __future__ import annotations

import json
from typing import Any

from .changes import Change, Ignored, Kind, Malformed, Unusable, as_amount, as_date, as_ms

__all__ = ["parse", "unwrap"]

SOURCE = "salesforce"

_OPPORTUNITY = {
    "StageName": "stage",
    "OwnerId": "owner",
    "Amount": "amount",
    "CurrencyIsoCode": "currency",
    "CloseDate": "close_date",
}
_TASK = {
    "TaskSubtype": "type",
    "OwnerId": "owner",
    "CallType": "direction",
    "CallDisposition": "outcome",
    "Status": "done",
    "WhatId": "deal",
    "CallDurationInSeconds": "duration_s",
    "CompletedDateTime": "time_ms",
}
_EVENT = {
    "OwnerId": "owner",
    "WhatId": "deal",
    "DurationInMinutes": "duration_s",
    "StartDateTime": "time_ms",
}
_ENTITIES: dict[str, tuple[Kind, dict[str, str]]] = {
    "Opportunity": ("deal", _OPPORTUNITY),
    "Task": ("activity", _TASK),
    "Event": ("activity", _EVENT),
}
_OPPORTUNITY_PREFIX = "006"  # the key prefix of Opportunity ids


def unwrap(payload: Any) -> dict[str, Any]:
    """The change event inside a connector's envelope."""
    for _ in range(3):
        if isinstance(payload, dict) and "ChangeEventHeader" in payload:
            return payload
        if isinstance(payload, dict) and isinstance(payload.get("data"), dict):
            payload = payload["data"]
        elif isinstance(payload, dict) and isinstance(payload.get("payload"), dict):
            payload = payload["payload"]
        else:
            break
    if isinstance(payload, dict) and "ChangeEventHeader" in payload:
        return payload
    raise Malformed("no ChangeEventHeader: not a Salesforce change event")


def _convert(name: str, raw: Any) -> Any:
    if raw is None or raw == "":
        return None
    if name == "amount":
        return as_amount(raw)
    if name == "close_date":
        return as_date(raw)
    if name == "done":
        return str(raw) == "Completed"
    if name == "duration_s":
        return as_amount(raw)
    if name == "time_ms":
        return as_ms(raw)
    return str(raw)


def parse(body: bytes) -> list[Change | Unusable | Ignored]:
    """One change per record id; :class:`Malformed` when the body is no change event."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the body is not JSON") from None
    event = unwrap(payload)
    header = event["ChangeEventHeader"]
    if not isinstance(header, dict):
        raise Malformed("ChangeEventHeader is not an object")
    entity = str(header.get("entityName", ""))
    change_type = str(header.get("changeType", ""))
    ids = header.get("recordIds")
    if entity not in _ENTITIES:
        return [Ignored(f"entityName {entity!r}")]
    if not isinstance(ids, list) or not ids:
        return [Unusable("ChangeEventHeader.recordIds is empty", body)]
    if change_type.startswith("GAP_"):
        return [
            Unusable(
                f"{change_type}: Salesforce sent no field values; read the record from Salesforce "
                "and replay it",
                body,
                str(i),
            )
            for i in ids
        ]
    if change_type not in ("CREATE", "UPDATE", "DELETE", "UNDELETE"):
        return [Unusable(f"changeType {change_type!r}", body)]
    try:
        at_ms = as_ms(header.get("commitTimestamp"))
    except (TypeError, ValueError):
        return [Unusable("commitTimestamp is not a timestamp", body)]
    kind, names = _ENTITIES[entity]
    if change_type == "UPDATE":
        listed = {str(f) for f in header.get("changedFields") or []}
        listed |= {str(f) for f in header.get("nulledFields") or []}
        present = [k for k in names if k in listed]
    elif change_type == "DELETE":
        present = []
    else:
        present = [k for k in names if event.get(k) is not None]
    fields: dict[str, Any] = {}
    try:
        for key in present:
            value = _convert(names[key], event.get(key))
            if names[key] == "duration_s" and key == "DurationInMinutes" and value is not None:
                value *= 60
            fields[names[key]] = value
    except (TypeError, ValueError) as error:
        return [Unusable(f"{entity}: {error}", body, str(i)) for i in ids]
    if kind == "activity":
        if entity == "Event":
            fields["type"] = "Event"
            fields.setdefault("done", True)
        elif change_type in ("CREATE", "UNDELETE") and "type" not in fields:
            fields["type"] = "Task"  # a plain to-do; unmapped unless configured
        deal = fields.get("deal")
        if deal is not None and not str(deal).startswith(_OPPORTUNITY_PREFIX):
            fields["deal"] = None  # related to an account or a case, not a deal
    return [
        Change(
            SOURCE,
            kind,
            str(record_id),
            at_ms,
            fields,
            created=change_type in ("CREATE", "UNDELETE"),
            deleted=change_type == "DELETE",
            original=body,
        )
        for record_id in ids
    ]
