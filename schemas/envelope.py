"""The base of every wire model and the envelope every input event carries."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.fields import EventId, Text, UtcDatetime

__all__ = ["SCHEMA_VERSION", "EventEnvelope", "WireModel"]

SCHEMA_VERSION = 1
"""The version of the wire contract these models describe."""


class WireModel(BaseModel):
    """A frozen message of the contract.

    Unknown fields are dropped, not rejected: the contract grows by adding
    optional fields, so an older reader must accept a newer writer's messages.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    def to_json_bytes(self) -> bytes:
        """Compact UTF-8 JSON, fields in declaration order, timestamps in UTC with ``Z``."""
        return self.__pydantic_serializer__.to_json(self)


_EVENT_TYPE_DESCRIPTION = "What happened; selects the rest of the fields. Required on the wire."


def _event_type_required(schema: dict[str, Any]) -> None:
    # Subclasses default event_type so Python callers need not repeat it, but
    # on the wire it is what selects the model: a message without it is rejected.
    schema["properties"]["event_type"]["description"] = _EVENT_TYPE_DESCRIPTION
    required = schema.setdefault("required", [])
    if "event_type" not in required:
        required.insert(0, "event_type")


class EventEnvelope(WireModel):
    """Fields every input event carries (contract section 2).

    Each event model narrows ``event_type`` to its own literal, which is how
    :func:`schemas.parse_event` picks the model.
    """

    model_config = ConfigDict(json_schema_extra=_event_type_required)

    event_id: EventId = Field(
        description="Unique per event, 1-200 characters; a repeat is a duplicate and changes "
        "nothing."
    )
    event_type: str = Field(description=_EVENT_TYPE_DESCRIPTION)
    occurred_at: UtcDatetime = Field(
        description="When it happened in the CRM (event time), RFC 3339 with an offset; "
        "normalised to UTC. All windows and durations use it."
    )
    source: Text = Field(
        description="Free text naming the producer: salesforce, hubspot, pipedrive, simulator, ..."
    )
    schema_version: int = Field(
        default=SCHEMA_VERSION,
        strict=True,
        ge=1,
        le=SCHEMA_VERSION,
        description="Version of the wire contract. A newer version than this reader knows is "
        "rejected (to the dead-letter topic, to be read again after an upgrade): a new "
        "version is by definition one an older reader cannot read correctly.",
    )
