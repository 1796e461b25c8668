"""Pipedrive webhooks v2: one JSON object per notification.

``meta`` says what happened (``action`` ``create`` / ``change`` / ``delete``,
``entity`` ``deal`` / ``activity``, ``entity_id``, ``timestamp``); ``data`` is
the object after the change (the whole deal: ``stage_id``, ``pipeline_id``,
``status`` ``open``/``won``/``lost``, ``owner_id``, ``value``, ``currency``,
``expected_close_date``, ``lost_reason``), ``previous`` the changed fields' former
values (``null`` on create). Since ``data`` is whole, Pipedrive needs no
completion; ``previous`` is what tells a stage move or a status change apart.

:func:`parse` is pure: bytes in, one result out.
"""

from __future__ import annotations

import json
from typing import Any

from .changes import Change, Ignored, Malformed, Unusable, as_amount, as_date, as_ms

__all__ = ["parse"]

SOURCE = "pipedrive"

_DEAL = {
    "stage_id": "stage",
    "pipeline_id": "pipeline",
    "owner_id": "owner",
    "user_id": "owner",  # older payloads name the owner user_id
    "value": "amount",
    "currency": "currency",
    "status": "status",
    "expected_close_date": "close_date",
    "lost_reason": "lost_reason",
}
_ACTIVITY = {
    "type": "type",
    "owner_id": "owner",
    "user_id": "owner",
    "deal_id": "deal",
    "done": "done",
}


def _deal_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, name in _DEAL.items():
        if key not in data or name in fields:
            continue
        raw = data[key]
        if name == "amount":
            fields[name] = as_amount(raw)
        elif name == "close_date":
            fields[name] = as_date(raw)
        elif name == "owner" and isinstance(raw, dict):  # {"id": ..., "name": ...} in some
            fields[name] = None if raw.get("id") is None else str(raw["id"])
        else:
            fields[name] = None if raw in (None, "") else str(raw)
    return fields


def _duration_s(raw: Any) -> float | None:
    # "HH:MM" or "HH:MM:SS" text, or seconds
    if raw in (None, ""):
        return None
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    parts = [int(p) for p in str(raw).split(":")]
    while len(parts) < 3:
        parts.append(0)
    return float(parts[0] * 3600 + parts[1] * 60 + parts[2])


def _activity_fields(data: dict[str, Any]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for key, name in _ACTIVITY.items():
        if key not in data or name in fields:
            continue
        raw = data[key]
        if name == "done":
            fields[name] = bool(raw) if raw is not None else None
        else:
            fields[name] = None if raw in (None, "") else str(raw)
    duration = _duration_s(data.get("duration"))
    if duration is not None:
        fields["duration_s"] = duration
    when = data.get("marked_as_done_time") or data.get("due_date")
    if when:
        text = str(when)
        if len(text) == 10 and data.get("due_time") and not data.get("marked_as_done_time"):
            text = f"{text}T{data['due_time']}"
        fields["time_ms"] = as_ms(text)
    return fields


def parse(body: bytes) -> Change | Unusable | Ignored:
    """The change one Pipedrive v2 notification describes; :class:`Malformed` when the body
    is not a JSON object with ``meta``."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise Malformed("the body is not JSON") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise Malformed("Pipedrive webhooks v2 send a JSON object with meta")
    meta = payload["meta"]
    entity = str(meta.get("entity", ""))
    action = str(meta.get("action", ""))
    if str(meta.get("version", "2.0")).split(".")[0] != "2":
        return Unusable("only Pipedrive webhooks v2 are read (meta.version 2.0)", body)
    if entity not in ("deal", "activity"):
        return Ignored(f"entity {entity!r}")
    if action not in ("create", "change", "delete"):
        return Unusable(f"meta.action {action!r} is not create, change or delete", body)
    data = payload.get("data") if isinstance(payload.get("data"), dict) else {}
    previous = payload.get("previous") if isinstance(payload.get("previous"), dict) else {}
    assert isinstance(data, dict) and isinstance(previous, dict)
    crm_id = meta.get("entity_id", data.get("id"))
    if crm_id in (None, ""):
        return Unusable("no meta.entity_id", body)
    crm_id = str(crm_id)
    try:
        at_ms = as_ms(meta.get("timestamp") or data.get("update_time"))
    except (TypeError, ValueError):
        return Unusable("meta.timestamp is not a timestamp", body, crm_id)
    try:
        if entity == "deal":
            fields = _deal_fields(data)
            before = _deal_fields(previous)
            kind = "deal"
        else:
            fields = _activity_fields(data)
            before = {}
            kind = "activity"
    except (TypeError, ValueError) as error:
        return Unusable(f"data: {error}", body, crm_id)
    return Change(
        SOURCE,
        kind,  # type: ignore[arg-type]
        crm_id,
        at_ms,
        fields if action != "delete" else {},
        previous=before,
        created=action == "create",
        deleted=action == "delete",
        original=body,
        whole=True,
    )
