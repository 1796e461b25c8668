"""Field types shared by the wire models.

They encode the contract's field rules once: ids are 1-200 characters with no
whitespace around them and no control characters, free text is at most 1,000
characters, numbers are JSON numbers (never numeric strings, never NaN or
infinity, at most 10^15 so that sums of them stay finite), timestamps are RFC
3339 strings with an offset and are normalised to UTC, dates are
``YYYY-MM-DD`` strings, currencies are ISO 4217 codes.

Nothing is trimmed or coerced into shape: ``" rep-1 "`` is not ``"rep-1"``, and a
reader that quietly made it so would file the same rep under two keys in any
system that did not, so a value in a lenient form is rejected with the reason.

Timestamps and dates are parsed here rather than by pydantic's own datetime
and date types, which also take Unix times (``"1767225600"``), a space for the
``T``, offsets without a colon, hours without seconds and, for dates, whole
timestamps: all of them producer bugs the contract rejects.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StringConstraints,
    WithJsonSchema,
)

__all__ = [
    "ID_MAX_LENGTH",
    "ISO_DATE_PATTERN",
    "KEY_MAX_LENGTH",
    "MAX_NUMBER",
    "RFC3339_PATTERN",
    "TEXT_MAX_LENGTH",
    "AlertKey",
    "CurrencyCode",
    "EventId",
    "Id",
    "IsoDate",
    "NonNegativeNumber",
    "OutputId",
    "PositiveNumber",
    "Text",
    "UtcDatetime",
    "parse_rfc3339",
    "strict_date",
    "strict_timestamp",
]

_CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")


def _iso_4217(value: str) -> str:
    if not _CURRENCY_PATTERN.fullmatch(value):
        raise ValueError("must be an ISO 4217 code of three upper-case letters")
    return value


# --- identifiers and text -------------------------------------------------------

ID_MAX_LENGTH: Final = 200
"""The longest id (``event_id``, ``rep_id``, ``deal_id``, ``stage``...): ids become Kafka
keys, table keys and parts of alert ids, so an unbounded one could make a message the
service writes larger than the topic takes."""

KEY_MAX_LENGTH: Final = 500
"""The longest ``alert_key`` an alert command may name (a rule, a kind and an id)."""

TEXT_MAX_LENGTH: Final = 1000
"""The longest free-text field (``source``, ``product``, ``reason``, ``name``...)."""

MAX_NUMBER: Final = 1e15
"""The largest amount, target or duration: a million deals of it still sum to a finite
figure (a KPI of ``Infinity`` is not JSON)."""

# C0 and C1 control characters (NUL, newline, escape...): never part of an id.
_CONTROL = "\\x00-\\x1f\\x7f-\\x9f"
_CONTROL_CHARACTER = re.compile(f"[{_CONTROL}]")
_ID_PATTERN: Final = f"^[^\\s{_CONTROL}]([^{_CONTROL}]*[^\\s{_CONTROL}])?$"


def _clean_id(value: str) -> str:
    if value.strip() != value:
        raise ValueError(
            "must not be blank" if not value.strip() else "must not have whitespace around it"
        )
    if _CONTROL_CHARACTER.search(value):
        raise ValueError("must not contain control characters")
    return value


def _id_schema(max_length: int) -> WithJsonSchema:
    return WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": max_length, "pattern": _ID_PATTERN}
    )


# --- timestamps and dates -----------------------------------------------------

RFC3339_PATTERN: Final = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
"""RFC 3339 ``date-time`` (section 5.6), the offset required; also in the JSON Schemas.

Written with ``[0-9]`` rather than ``\\d`` so that Python (where ``\\d`` takes any
Unicode digit) and JSON Schema validators read it alike.
"""

ISO_DATE_PATTERN: Final = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
"""An ISO 8601 calendar date, ``YYYY-MM-DD`` and nothing else; also in the JSON Schemas."""

TIMESTAMP_EXPECTED: Final = (
    "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-20T14:03:00Z"
)
_DATE_EXPECTED: Final = "must be a date written YYYY-MM-DD"

_RFC3339 = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})[Tt]"
    r"(?P<hour>[0-9]{2}):(?P<minute>[0-9]{2}):(?P<second>[0-9]{2})(?:\.(?P<fraction>[0-9]+))?"
    r"(?P<offset>[Zz]|(?P<sign>[+-])(?P<offset_hour>[0-9]{2}):(?P<offset_minute>[0-9]{2}))"
)
_ISO_DATE = re.compile(r"(?P<year>[0-9]{4})-(?P<month>[0-9]{2})-(?P<day>[0-9]{2})")
# What producers send instead, recognised only to say what is wrong with it.
_UNIX_TIME = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?")
_NAIVE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:[.,][0-9]+)?)?"
)


# The lengths of ``YYYY-MM-DDTHH:MM:SSZ`` with no, 3 or 6 fractional digits.
_PLAIN_LENGTHS: Final = frozenset({20, 24, 27})


def parse_rfc3339(text: str) -> datetime:
    """Read an RFC 3339 ``date-time`` with its offset, as an aware datetime in UTC.

    Accepts exactly the grammar of RFC 3339 section 5.6: ``T`` (or ``t``)
    between date and time, seconds always present, any number of fractional
    digits (kept to the microsecond, cut, never rounded), and ``Z``, ``z`` or
    ``+hh:mm``/``-hh:mm`` (``-00:00`` is UTC). Raises :class:`ValueError` with a
    message saying what is wrong: a Unix time, a date alone, a timestamp
    without offset, another format, an impossible date or time, a leap second
    (``:60``, which a datetime cannot hold) or an instant outside years
    1-9999 once in UTC. Leading or trailing whitespace is another format.
    """
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise ValueError(_what_instead(text))
    if len(text) in _PLAIN_LENGTHS and text[-1] == "Z" and text[10] == "T" and text[11:13] < "24":
        # What nearly every producer sends, ``2026-11-20T14:03:00Z``, perhaps with
        # milli- or microseconds: datetime's own parser reads that much of the grammar
        # alike, in C (what it refuses, a leap second or a 30 February, is taken below,
        # to say why)
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    fields = {name: int(match[name]) for name in ("year", "month", "day", "hour", "minute")}
    second = int(match["second"])
    if second == 60:
        raise ValueError(f"{TIMESTAMP_EXPECTED}; a leap second (:60) is not supported")
    offset = timedelta(0)
    if match["sign"] is not None:
        offset_hour, offset_minute = int(match["offset_hour"]), int(match["offset_minute"])
        if offset_hour > 23 or offset_minute > 59:
            raise ValueError(f"{TIMESTAMP_EXPECTED}; the offset must be within -23:59..+23:59")
        offset = timedelta(hours=offset_hour, minutes=offset_minute)
        if match["sign"] == "-":
            offset = -offset
    microsecond = int((match["fraction"] or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(**fields, second=second, microsecond=microsecond, tzinfo=timezone(offset))
    except ValueError as error:  # month 13, February 30, hour 24...
        raise ValueError(f"{TIMESTAMP_EXPECTED}; not a valid date and time ({error})") from None
    return _in_utc(local)


def strict_timestamp(value: Any) -> datetime:
    """The validator of every timestamp field: an RFC 3339 string, or an aware datetime.

    A JSON string goes through :func:`parse_rfc3339`. An aware
    :class:`~datetime.datetime` (Python callers building a model) is taken as
    it is. Either comes back in UTC. Anything else, a JSON number above all
    (read by lax parsers as a Unix time), raises :class:`ValueError`.
    """
    if isinstance(value, str):
        return parse_rfc3339(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError("timestamp needs a UTC offset")
        return _in_utc(value)
    if isinstance(value, bool | int | float):
        raise ValueError(f"{TIMESTAMP_EXPECTED}, as a string, not a number")
    raise ValueError(f"{TIMESTAMP_EXPECTED}, as a string")


def strict_date(value: Any) -> date:
    """The validator of every date field: a ``YYYY-MM-DD`` string, or a :class:`~datetime.date`.

    A timestamp, a Unix time or any other spelling of a date raises
    :class:`ValueError`; so does a :class:`~datetime.datetime`, which would
    silently lose its time and zone.
    """
    if isinstance(value, str):
        match = _ISO_DATE.fullmatch(value)
        if match is None:
            raise ValueError(_DATE_EXPECTED)
        try:
            return date(int(match["year"]), int(match["month"]), int(match["day"]))
        except ValueError as error:
            raise ValueError(f"{_DATE_EXPECTED}; not a valid date ({error})") from None
    if isinstance(value, datetime):
        raise ValueError(f"{_DATE_EXPECTED}, not a timestamp")
    if isinstance(value, date):
        return value
    if isinstance(value, bool | int | float):
        raise ValueError(f"{_DATE_EXPECTED}, as a string, not a number")
    raise ValueError(f"{_DATE_EXPECTED}, as a string")


def _what_instead(text: str) -> str:
    if _UNIX_TIME.fullmatch(text):
        return f"{TIMESTAMP_EXPECTED}, not a Unix time"
    if _ISO_DATE.fullmatch(text):
        return f"{TIMESTAMP_EXPECTED}, not a date alone"
    if _NAIVE.fullmatch(text):
        return "timestamp needs a UTC offset"
    if " " in text and _RFC3339.fullmatch(text.replace(" ", "T", 1)):
        return f"{TIMESTAMP_EXPECTED}; date and time are separated by T, not a space"
    return TIMESTAMP_EXPECTED


def _in_utc(moment: datetime) -> datetime:
    # Faust and the rules compare timestamps across events: one zone for all. An
    # instant near year 1 or 9999 may not exist in UTC: a reason, never a crash.
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{TIMESTAMP_EXPECTED}; out of range once converted to UTC") from None


# --- the types ----------------------------------------------------------------

Id = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH),
    AfterValidator(_clean_id),
    _id_schema(ID_MAX_LENGTH),
]
"""An identifier a producer sends (rep, deal, lead, team, manager, pipeline, stage...):
1 to 200 characters, no whitespace at either end, no control characters."""

EventId = Id
"""The envelope's ``event_id``: an :data:`Id`."""

AlertKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=KEY_MAX_LENGTH),
    AfterValidator(_clean_id),
    _id_schema(KEY_MAX_LENGTH),
]
"""An ``alert_key`` named by an alert command: as :data:`Id`, up to 500 characters."""

OutputId = Annotated[str, StringConstraints(min_length=1)]
"""An identifier the service writes (an alert's ids and subject): non-empty. Looser
than :data:`Id` on purpose: state kept from before a stricter reader may hold an id
:data:`Id` now refuses, and the alert about it must still be written."""

Text = Annotated[str, StringConstraints(max_length=TEXT_MAX_LENGTH)]
"""Free text a producer sends (``source``, ``product``, ``reason``...): at most 1,000
characters."""

UtcDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(strict_timestamp),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": RFC3339_PATTERN}),
]
"""An RFC 3339 timestamp with an offset (see :func:`strict_timestamp`), normalised to UTC."""

IsoDate = Annotated[
    date,
    BeforeValidator(strict_date),
    WithJsonSchema({"type": "string", "format": "date", "pattern": ISO_DATE_PATTERN}),
]
"""A calendar date written ``YYYY-MM-DD`` (see :func:`strict_date`)."""

NonNegativeNumber = Annotated[float, Field(strict=True, ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
"""A finite JSON number from 0 to 10^15 (an integer is accepted; a string is not)."""

PositiveNumber = Annotated[float, Field(strict=True, gt=0, le=MAX_NUMBER, allow_inf_nan=False)]
"""A finite JSON number above 0, at most 10^15 (an integer is accepted; a string is not)."""

CurrencyCode = Annotated[
    str,
    AfterValidator(_iso_4217),
    WithJsonSchema({"type": "string", "pattern": _CURRENCY_PATTERN.pattern}),
]
"""An ISO 4217 code: three upper-case letters, e.g. ``EUR``."""
