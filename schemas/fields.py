"""Field types shared by the wire models.

They encode the contract's field rules once: ids are non-empty, numbers are
JSON numbers (never numeric strings, never NaN or infinity), timestamps are
RFC 3339 strings with an offset and are normalised to UTC, currencies are
ISO 4217 codes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "CurrencyCode",
    "EventId",
    "Id",
    "IsoDate",
    "NonNegativeNumber",
    "PositiveNumber",
    "UtcDatetime",
]

_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


def _text_not_number(expected: str) -> BeforeValidator:
    # Lax pydantic reads a JSON number as a Unix timestamp; the contract wants
    # RFC 3339 text, and a number here is almost always a producer bug (ms vs s).
    def check(value: Any) -> Any:
        if isinstance(value, bool | int | float):
            raise ValueError(f"must be {expected}")
        return value

    return BeforeValidator(check)


def _iso_4217(value: str) -> str:
    if not _CURRENCY_PATTERN.fullmatch(value):
        raise ValueError("must be an ISO 4217 code of three upper-case letters")
    return value


def _to_utc(value: datetime) -> datetime:
    # Faust and the rules compare timestamps across events: one zone for all.
    return value.astimezone(UTC)


Id = Annotated[str, StringConstraints(min_length=1)]
"""A non-empty identifier (rep, deal, lead, team, manager, alert key...)."""

EventId = Annotated[str, StringConstraints(min_length=1, max_length=200)]
"""The envelope's ``event_id``: 1 to 200 characters."""

UtcDatetime = Annotated[
    AwareDatetime,
    _text_not_number("an RFC 3339 timestamp with an offset"),
    AfterValidator(_to_utc),
]
"""A timestamp with an offset (a naive one is rejected), normalised to UTC."""

IsoDate = Annotated[date, _text_not_number("a date written YYYY-MM-DD")]
"""A calendar date, ``YYYY-MM-DD``."""

NonNegativeNumber = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
"""A finite JSON number >= 0 (an integer is accepted; a string is not)."""

PositiveNumber = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
"""A finite JSON number > 0 (an integer is accepted; a string is not)."""

CurrencyCode = Annotated[
    str,
    AfterValidator(_iso_4217),
    WithJsonSchema({"type": "string", "pattern": _CURRENCY_PATTERN.pattern}),
]
"""An ISO 4217 code: three upper-case letters, e.g. ``EUR``."""
