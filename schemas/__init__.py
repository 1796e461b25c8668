"""The salespulse wire contract in code: input events, the alert message, their JSON Schemas.

These models are the single source of truth for the contract; the JSON
Schemas in ``schemas/json/`` are exported from them with
``salespulse schemas export schemas/json``.
"""

from schemas.alert import (
    Alert,
    AlertStatus,
    AlertSubject,
    Severity,
    SubjectKind,
    alert_key_for,
)
from schemas.envelope import SCHEMA_VERSION, EventEnvelope, WireModel
from schemas.events import (
    EVENT_MODELS,
    OUTBOUND_ATTEMPT_CHANNELS,
    ActivityLogged,
    AlertAck,
    AlertSnooze,
    AlertUnsnooze,
    Channel,
    DealCreated,
    DealLost,
    DealStageChanged,
    DealUpdated,
    DealWon,
    Direction,
    LeadConverted,
    LeadCreated,
    Outcome,
    QuotaMetric,
    QuotaSet,
    RepUpserted,
)
from schemas.export import export_json_schemas, json_schemas
from schemas.parse import DealEvent, EventRejected, InputEvent, parse_event

__all__ = [
    "EVENT_MODELS",
    "OUTBOUND_ATTEMPT_CHANNELS",
    "SCHEMA_VERSION",
    "ActivityLogged",
    "Alert",
    "AlertAck",
    "AlertSnooze",
    "AlertStatus",
    "AlertSubject",
    "AlertUnsnooze",
    "Channel",
    "DealCreated",
    "DealEvent",
    "DealLost",
    "DealStageChanged",
    "DealUpdated",
    "DealWon",
    "Direction",
    "EventEnvelope",
    "EventRejected",
    "InputEvent",
    "LeadConverted",
    "LeadCreated",
    "Outcome",
    "QuotaMetric",
    "QuotaSet",
    "RepUpserted",
    "Severity",
    "SubjectKind",
    "WireModel",
    "alert_key_for",
    "export_json_schemas",
    "json_schemas",
    "parse_event",
]
