"""Reading input events from the wire: bytes in, one validated model or a readable reason out."""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from pydantic import Field, TypeAdapter, ValidationError
from pydantic_core import ErrorDetails

from schemas.events import (
    EVENT_MODELS,
    ActivityLogged,
    AlertAck,
    AlertSnooze,
    AlertUnsnooze,
    DealCreated,
    DealLost,
    DealStageChanged,
    DealUpdated,
    DealWon,
    LeadConverted,
    LeadCreated,
    QuotaSet,
    RepUpserted,
)

__all__ = ["DealEvent", "EventRejected", "InputEvent", "parse_event"]

DealEvent = DealCreated | DealStageChanged | DealUpdated | DealWon | DealLost
"""The five ``deal.*`` events; all carry the same deal fields."""

InputEvent = Annotated[
    ActivityLogged
    | DealCreated
    | DealStageChanged
    | DealUpdated
    | DealWon
    | DealLost
    | LeadCreated
    | LeadConverted
    | QuotaSet
    | RepUpserted
    | AlertAck
    | AlertSnooze
    | AlertUnsnooze,
    Field(discriminator="event_type"),
]
"""Any input event; ``event_type`` selects the model."""

_INPUT_EVENT: Final[TypeAdapter[InputEvent]] = TypeAdapter(InputEvent)
_EVENT_TYPES: Final = frozenset(EVENT_MODELS)
_MAX_SHOWN_ERRORS: Final = 3
_MAX_SHOWN_INPUT: Final = 60


class EventRejected(ValueError):
    """An input message is not a valid event of the contract.

    ``reason`` is one readable line naming the field and what is wrong, e.g.
    ``occurred_at: timestamp needs a UTC offset``; it is what goes into the
    dead-letter ``error`` header. ``str(exc) == exc.reason``.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_event(raw: bytes | str) -> InputEvent:
    """Validate one message (UTF-8 JSON object) into its event model.

    Raises :class:`EventRejected` when the message is not UTF-8, not JSON, not
    an object, has a missing or unknown ``event_type``, or a missing or
    malformed field. Unknown extra fields are dropped, not rejected.
    """
    if isinstance(raw, bytes) and raw.isascii():
        pass  # ASCII is UTF-8: the validator reads the bytes without a decoded copy
    elif isinstance(raw, bytes | bytearray | memoryview):
        try:
            raw = bytes(raw).decode("utf-8")
        except UnicodeDecodeError as error:
            raise EventRejected(
                f"message is not UTF-8 (invalid byte at position {error.start})"
            ) from None
    try:
        return _INPUT_EVENT.validate_json(raw)
    except ValidationError as error:
        raise EventRejected(describe_errors(error.errors())) from None


def describe_errors(errors: list[ErrorDetails]) -> str:
    """One line naming each failing field and what is wrong with it."""
    missing = [_where(error) for error in errors if error["type"] == "missing"]
    parts = [f"{', '.join(missing)}: field required"] if missing else []
    parts += [_describe(error) for error in errors if error["type"] != "missing"]
    if len(parts) > _MAX_SHOWN_ERRORS:
        hidden = len(parts) - _MAX_SHOWN_ERRORS
        parts = [*parts[:_MAX_SHOWN_ERRORS], f"and {hidden} more"]
    return "; ".join(parts)


_PLAIN_MESSAGES: Final[dict[str, str]] = {
    "string_too_short": "must not be empty",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "finite_number": "must be a finite number",
    "dict_type": "must be an object",
    "model_type": "must be an object",
}


def _describe(error: ErrorDetails) -> str:
    kind = error["type"]
    where = _where(error)
    given = error.get("input")
    ctx: dict[str, Any] = dict(error.get("ctx") or {})

    if kind == "json_invalid":
        return f"message is not valid JSON ({ctx.get('error', error['msg'])})"
    if kind in {"dict_type", "model_type", "model_attributes_type"} and not where:
        return f"message must be a JSON object, got {_json_kind(given)}"
    if kind == "union_tag_not_found":
        return "event_type: field required"
    if kind == "union_tag_invalid":
        return f"event_type: unknown event type {_show(ctx.get('tag'))}"

    if kind == "value_error":
        what = str(ctx.get("error", error["msg"]))
    elif kind == "string_too_long":
        what = f"must be at most {ctx.get('max_length')} characters"
    elif kind == "literal_error":
        what = f"must be one of {ctx.get('expected')}"
    elif kind == "greater_than_equal":
        what = f"must be >= {_number(ctx.get('ge'))}"
    elif kind == "greater_than":
        what = f"must be > {_number(ctx.get('gt'))}"
    elif kind == "less_than_equal" and where == "schema_version":
        what = f"a newer version than this reader knows (up to {_number(ctx.get('le'))})"
    elif kind == "less_than_equal":
        what = f"must be <= {_number(ctx.get('le'))}"
    elif kind in _PLAIN_MESSAGES:
        what = _PLAIN_MESSAGES[kind]
    else:
        message = error["msg"]
        what = message[:1].lower() + message[1:]
    if kind not in {"string_too_short", "string_too_long"}:
        what = f"{what}, got {_show(given)}"
    return f"{where or 'message'}: {what}"


def _where(error: ErrorDetails) -> str:
    loc = error["loc"]
    if loc and loc[0] in _EVENT_TYPES:  # the discriminated union prefixes the tag
        loc = loc[1:]
    return ".".join(str(part) for part in loc)


def _show(value: Any) -> str:
    # Shown as JSON, the way the producer wrote it, and cut short for a header.
    try:
        shown = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        shown = repr(value)
    if len(shown) > _MAX_SHOWN_INPUT:
        shown = shown[: _MAX_SHOWN_INPUT - 3] + "..."
    return shown


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if value is None:
        return "null"
    return type(value).__name__
