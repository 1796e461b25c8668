"""What a CRM notification says, in the gateway's own terms, before any mapping.

Each vendor module (:mod:`.hubspot`, :mod:`.pipedrive`, :mod:`.salesforce`) turns
its payloads into :class:`Change` values; :mod:`.translate` turns a change plus
what the gateway already knows (:mod:`.knowledge`) into contract events. A
vendor module never decides a contract value: stage, owner and activity type
stay the CRM's own ids here.

Field names of a deal change: ``stage``, ``pipeline``, ``owner``, ``amount``
(float), ``currency``, ``status`` (``open``, ``won``, ``lost``), ``close_date``
(``YYYY-MM-DD``), ``lost_reason``. Of an activity change: ``type``, ``owner``,
``direction`` and ``outcome`` (the CRM's values), ``done`` (bool), ``deal``
(the CRM deal id), ``duration_s`` (float), ``time_ms`` (when it took place).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

__all__ = [
    "ACTIVITY_FIELDS",
    "DEAL_FIELDS",
    "Change",
    "Ignored",
    "Kind",
    "Malformed",
    "Unusable",
    "as_amount",
    "as_date",
    "as_ms",
    "coalesce",
]

Kind = Literal["deal", "activity"]

DEAL_FIELDS = frozenset(
    {"stage", "pipeline", "owner", "amount", "currency", "status", "close_date", "lost_reason"}
)
ACTIVITY_FIELDS = frozenset(
    {"type", "owner", "direction", "outcome", "done", "deal", "duration_s", "time_ms"}
)


@dataclass(frozen=True, slots=True)
class Change:
    """One notification about one CRM record.

    ``at_ms`` is when the change happened in the CRM (milliseconds since the epoch);
    ``fields`` holds only what the notification carries; ``previous`` holds what the
    CRM itself says the changed fields were before (Pipedrive's ``previous``), never a
    guess. ``original`` is the notification as received, for the dead-letter topic.
    ``whole`` marks a change whose ``fields`` are the whole object (Pipedrive): then only
    the fields named in ``previous`` changed.
    """

    source: str
    kind: Kind
    crm_id: str
    at_ms: int
    fields: Mapping[str, Any] = field(default_factory=dict)
    previous: Mapping[str, Any] = field(default_factory=dict)
    created: bool = False
    deleted: bool = False
    original: bytes = b""
    whole: bool = False  # fields hold the whole object, not only what changed


@dataclass(frozen=True, slots=True)
class Unusable:
    """A notification the gateway cannot map: it goes to the dead-letter topic."""

    reason: str
    original: bytes
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Ignored:
    """A well-formed notification the gateway has no use for (another object type, a
    property salespulse does not read): counted, not dead-lettered."""

    reason: str


class Malformed(ValueError):
    """A body that is not the vendor's documented shape at all: the request is refused."""


def as_ms(value: Any) -> int:
    """A CRM timestamp as epoch milliseconds: ms or s numbers, or ISO 8601 text."""
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        number = float(value.strip())
    elif isinstance(value, str) and value.strip():
        text = value.strip().replace("Z", "+00:00")
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        moment = datetime.fromisoformat(text)
        if moment.tzinfo is None:  # Pipedrive and Salesforce write UTC without an offset
            moment = moment.replace(tzinfo=UTC)
        return int(moment.timestamp() * 1000)
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a timestamp: {value!r}")
    # seconds until the year 5138; anything larger is milliseconds
    millis = number * 1000 if abs(number) < 1e11 else number
    if not 0 <= millis < 253402300800000:
        raise ValueError(f"timestamp out of range: {value!r}")
    return int(millis)


def as_amount(value: Any) -> float | None:
    """A deal amount: a number or numeric text, finite and >= 0; empty means unknown."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    number = float(value)
    if number != number or number in (float("inf"), float("-inf")) or number < 0:
        raise ValueError(f"not an amount >= 0: {value!r}")
    return number


def as_date(value: Any) -> str | None:
    """A close date as ``YYYY-MM-DD``: from a date, ISO text or epoch milliseconds."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return date.fromisoformat(value).isoformat()
    return datetime.fromtimestamp(as_ms(value) / 1000, UTC).date().isoformat()


def coalesce(
    results: list[Change | Unusable | Ignored],
) -> list[Change | Unusable | Ignored]:
    """Join the changes of one record at one instant into one change.

    HubSpot sends a creation as ``deal.creation`` plus one property change per
    property set, all with the same ``occurredAt``, in any order: joined, they
    are one complete creation instead of a creation and a trail of updates.
    Order is kept by each record's first notification.
    """
    out: list[Change | Unusable | Ignored] = []
    index: dict[tuple[str, str, str, int, bool], int] = {}
    for result in results:
        if not isinstance(result, Change):
            out.append(result)
            continue
        key = (result.source, result.kind, result.crm_id, result.at_ms, result.deleted)
        if key not in index:
            index[key] = len(out)
            out.append(result)
            continue
        first = out[index[key]]
        assert isinstance(first, Change)
        out[index[key]] = Change(
            source=first.source,
            kind=first.kind,
            crm_id=first.crm_id,
            at_ms=first.at_ms,
            fields={**first.fields, **result.fields},
            previous={**first.previous, **result.previous},
            created=first.created or result.created,
            deleted=first.deleted,
            original=_joined(first.original, result.original),
            whole=first.whole and result.whole,
        )
    return out


def _joined(a: bytes, b: bytes) -> bytes:
    if a == b:
        return a
    inner = a[1:-1] if a.startswith(b"[") and a.endswith(b"]") else a
    return b"[" + inner + b"," + b + b"]"
