"""Strict timestamps and dates: RFC 3339 with an offset, YYYY-MM-DD, nothing lenient.

Every timestamp and date field of every input event and command is found from
the models' JSON Schemas, so a field added later with a looser type fails here.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from schemas import EVENT_MODELS, EventRejected, json_schemas, parse_event
from schemas.fields import (
    ISO_DATE_PATTERN,
    RFC3339_PATTERN,
    parse_rfc3339,
    strict_date,
    strict_timestamp,
)
from tests.schemas.payloads import payload


def _fields_of_format(fmt: str) -> list[tuple[str, str]]:
    found = []
    for event_type, model in EVENT_MODELS.items():
        for name, prop in model.model_json_schema()["properties"].items():
            if any(part.get("format") == fmt for part in prop.get("anyOf", [prop])):
                found.append((event_type, name))
    return found


TIMESTAMP_FIELDS = _fields_of_format("date-time")
DATE_FIELDS = _fields_of_format("date")


def test_the_fields_under_test_are_the_contracts() -> None:
    assert sorted(TIMESTAMP_FIELDS) == sorted(
        [(event_type, "occurred_at") for event_type in EVENT_MODELS] + [("alert.snooze", "until")]
    )
    deal_types = [t for t in EVENT_MODELS if t.startswith("deal.")]
    assert sorted(DATE_FIELDS) == sorted(
        [(t, "expected_close") for t in deal_types]
        + [("quota.set", "period_start"), ("quota.set", "period_end")]
    )


EXPECTED = "must be an RFC 3339 timestamp with an offset, e.g. 2026-11-20T14:03:00Z"

# (spelling, start of the reason after "<field>: ")
BAD_TIMESTAMPS: list[tuple[Any, str]] = [
    (
        "1767225600",
        f"{EXPECTED}, not a Unix time",
    ),
    (
        "1767225600000",
        f"{EXPECTED}, not a Unix time",
    ),
    (
        "1767225600.5",
        f"{EXPECTED}, not a Unix time",
    ),
    (
        1767225600,
        f"{EXPECTED}, as a string, not a number",
    ),
    (
        1767225600.5,
        f"{EXPECTED}, as a string, not a number",
    ),
    (
        True,
        f"{EXPECTED}, as a string, not a number",
    ),
    (
        {"$date": "2026-11-20T14:03:00Z"},
        f"{EXPECTED}, as a string",
    ),
    (
        "2026-11-20",
        f"{EXPECTED}, not a date alone",
    ),
    ("2026-11-20T14:03:00", "timestamp needs a UTC offset"),
    ("2026-11-20T14:03", "timestamp needs a UTC offset"),
    ("2026-11-20 14:03:00.250", "timestamp needs a UTC offset"),
    (
        "2026-11-20 14:03:00Z",
        f"{EXPECTED}; date and time are separated by T, not a space",
    ),
    (
        "2026-11-20 14:03:00+00:00",
        f"{EXPECTED}; date and time are separated by T, not a space",
    ),
    ("2026-11-20T14:03Z", "must be an RFC 3339 timestamp"),  # seconds are required
    ("2026-11-20T14:03:00+0100", "must be an RFC 3339 timestamp"),  # offset needs its colon
    ("2026-11-20T14:03:00+01", "must be an RFC 3339 timestamp"),
    ("2026-11-20T14:03:00 Z", "must be an RFC 3339 timestamp"),
    ("2026-11-20T14:03:00,5Z", "must be an RFC 3339 timestamp"),  # decimal comma: ISO, not RFC
    ("2026-11-20T14:03:00.Z", "must be an RFC 3339 timestamp"),
    ("20261120T140300Z", "must be an RFC 3339 timestamp"),  # ISO 8601 basic format
    ("2026-W47-5T14:03:00Z", "must be an RFC 3339 timestamp"),  # ISO week date
    ("2026-324T14:03:00Z", "must be an RFC 3339 timestamp"),  # ISO ordinal date
    ("Fri, 20 Nov 2026 14:03:00 GMT", "must be an RFC 3339 timestamp"),  # RFC 2822
    ("11/20/2026 14:03:00Z", "must be an RFC 3339 timestamp"),
    (" 2026-11-20T14:03:00Z", "must be an RFC 3339 timestamp"),
    ("2026-11-20T14:03:00Z ", "must be an RFC 3339 timestamp"),
    ("2026-11-20T14:03:00Z\n", "must be an RFC 3339 timestamp"),
    ("２０２６-11-20T14:03:00Z", "must be an RFC 3339 timestamp"),  # full-width digits
    ("now", "must be an RFC 3339 timestamp"),
    ("", "must be an RFC 3339 timestamp"),
    (
        "2026-13-01T00:00:00Z",
        f"{EXPECTED}; not a valid date and time (month must be in 1..12)",
    ),
    (
        "2026-02-29T00:00:00Z",
        f"{EXPECTED}; not a valid date and time (day is out of range for month)",
    ),
    (
        "2026-11-20T24:00:00Z",
        f"{EXPECTED}; not a valid date and time (hour must be in 0..23)",
    ),
    (
        "2016-12-31T23:59:60Z",
        f"{EXPECTED}; a leap second (:60) is not supported",
    ),
    (
        "2026-11-20T14:03:00+24:00",
        f"{EXPECTED}; the offset must be within -23:59..+23:59",
    ),
    (
        "9999-12-31T23:59:59-01:00",
        f"{EXPECTED}; out of range once converted to UTC",
    ),
    (
        "0001-01-01T00:00:00+01:00",
        f"{EXPECTED}; out of range once converted to UTC",
    ),
]

GOOD_TIMESTAMPS: list[tuple[str, datetime]] = [
    ("2026-11-20T14:03:00Z", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-11-20t14:03:00z", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),  # RFC 3339 5.6 note
    ("2026-11-20T15:03:00+01:00", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-11-20T09:33:00-04:30", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-11-20T14:03:00-00:00", datetime(2026, 11, 20, 14, 3, tzinfo=UTC)),
    ("2026-11-20T14:03:00.5Z", datetime(2026, 11, 20, 14, 3, 0, 500000, tzinfo=UTC)),
    # more digits than a microsecond holds are cut, never rounded up into the next second
    ("2026-11-20T14:03:59.9999999Z", datetime(2026, 11, 20, 14, 3, 59, 999999, tzinfo=UTC)),
    ("2026-11-21T00:00:00+23:59", datetime(2026, 11, 20, 0, 1, tzinfo=UTC)),
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(("event_type", "field"), TIMESTAMP_FIELDS)
@pytest.mark.parametrize(
    ("spelling", "reason"), BAD_TIMESTAMPS, ids=[repr(b[0]) for b in BAD_TIMESTAMPS]
)
def test_every_timestamp_field_rejects_what_is_not_rfc_3339_with_an_offset(
    event_type: str, field: str, spelling: Any, reason: str
) -> None:
    raw = json.dumps(payload(event_type, **{field: spelling})).encode()

    with pytest.raises(EventRejected) as caught:
        parse_event(raw)

    assert caught.value.reason.startswith(f"{field}: {reason}")


@pytest.mark.parametrize(("event_type", "field"), TIMESTAMP_FIELDS)
@pytest.mark.parametrize(
    ("spelling", "instant"), GOOD_TIMESTAMPS, ids=[g[0] for g in GOOD_TIMESTAMPS]
)
def test_every_timestamp_field_takes_rfc_3339_and_normalises_to_utc(
    event_type: str, field: str, spelling: str, instant: datetime
) -> None:
    event = parse_event(json.dumps(payload(event_type, **{field: spelling})))

    value = getattr(event, field)
    assert value == instant
    assert value.tzinfo is UTC


BAD_DATES: list[tuple[Any, str]] = [
    ("1767225600", "must be a date written YYYY-MM-DD"),
    (1767225600, "must be a date written YYYY-MM-DD, as a string, not a number"),
    (20261231, "must be a date written YYYY-MM-DD, as a string, not a number"),
    ("20261231", "must be a date written YYYY-MM-DD"),
    ("2026-12-31T00:00:00Z", "must be a date written YYYY-MM-DD"),
    ("2026-12-31T00:00:00", "must be a date written YYYY-MM-DD"),
    ("2026-12-31 ", "must be a date written YYYY-MM-DD"),
    ("31/12/2026", "must be a date written YYYY-MM-DD"),
    ("2026-12", "must be a date written YYYY-MM-DD"),
    ("2026-1-2", "must be a date written YYYY-MM-DD"),
    ("2026-W53-4", "must be a date written YYYY-MM-DD"),
    (
        "2026-02-30",
        "must be a date written YYYY-MM-DD; not a valid date (day is out of range for month)",
    ),
    (False, "must be a date written YYYY-MM-DD, as a string, not a number"),
    (["2026-12-31"], "must be a date written YYYY-MM-DD, as a string"),
]


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
@pytest.mark.parametrize(("spelling", "reason"), BAD_DATES, ids=[repr(b[0]) for b in BAD_DATES])
def test_every_date_field_rejects_what_is_not_yyyy_mm_dd(
    event_type: str, field: str, spelling: Any, reason: str
) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(json.dumps(payload(event_type, **{field: spelling})))

    assert caught.value.reason.startswith(f"{field}: {reason}")


@pytest.mark.parametrize(("event_type", "field"), DATE_FIELDS)
def test_every_date_field_takes_yyyy_mm_dd(event_type: str, field: str) -> None:
    spelling = "2026-09-30" if field == "period_start" else "2027-02-28"

    event = parse_event(json.dumps(payload(event_type, **{field: spelling})))

    assert getattr(event, field) == date.fromisoformat(spelling)


def test_python_callers_pass_aware_datetimes_and_dates() -> None:
    tokyo = timezone(timedelta(hours=9))

    assert strict_timestamp(datetime(2026, 11, 21, 9, tzinfo=tokyo)) == datetime(
        2026, 11, 21, 0, tzinfo=UTC
    )
    assert strict_date(date(2026, 11, 21)) == date(2026, 11, 21)
    with pytest.raises(ValueError, match="timestamp needs a UTC offset"):
        strict_timestamp(datetime(2026, 11, 21, 9))
    with pytest.raises(ValueError, match="not a timestamp"):
        strict_date(datetime(2026, 11, 21, 9, tzinfo=UTC))  # would lose its time silently


# --- properties ---------------------------------------------------------------

_offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31), timezones=_offsets)
)
def test_any_aware_instant_written_in_rfc_3339_reads_back_as_the_same_instant(
    moment: datetime,
) -> None:
    written = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")

    assert re.fullmatch(RFC3339_PATTERN, written)
    assert parse_rfc3339(written) == moment
    assert parse_rfc3339(written).tzinfo is UTC


@given(st.from_regex(RFC3339_PATTERN, fullmatch=True))
@example("2026-11-20T14:03:00Z")
def test_the_schema_pattern_and_the_parser_agree(text: str) -> None:
    # What the published pattern allows is read, or refused as an impossible
    # instant (month 13, hour 24, leap second): never an error of another kind.
    try:
        moment = parse_rfc3339(text)
    except ValueError as error:
        assert str(error).startswith("must be an RFC 3339 timestamp with an offset")
    else:
        assert moment.tzinfo is UTC


@given(st.text(max_size=40))
@example("1767225600")
@example("2026-11-20T14:03:00")
def test_any_text_is_read_or_refused_with_a_reason_never_a_crash(text: str) -> None:
    try:
        parse_rfc3339(text)
    except ValueError as error:
        assert str(error)
    else:
        assert re.fullmatch(RFC3339_PATTERN, text)


@given(
    st.integers(min_value=-(10**15), max_value=10**15)
    | st.floats(allow_nan=False, allow_infinity=False)
)
def test_no_number_is_taken_for_a_time_as_a_string_or_as_a_number(seconds: float) -> None:
    for spelling in (seconds, str(seconds)):
        raw = json.dumps(payload("activity.logged", occurred_at=spelling))
        with pytest.raises(EventRejected, match="^occurred_at: must be an RFC 3339 timestamp"):
            parse_event(raw)


def test_published_json_schemas_carry_the_same_patterns() -> None:
    schemas = json_schemas()
    snooze = schemas["alert.snooze"]
    quota = schemas["quota.set"]

    validate = jsonschema.Draft202012Validator(snooze).is_valid
    good = payload("alert.snooze", until="2026-11-21T09:00:00+09:00")
    assert validate(good)
    for bad in ("1767225600", "2026-11-21T09:00:00", "2026-11-21 09:00:00Z", "2026-11-21"):
        assert not validate({**good, "until": bad}), bad
        assert not validate({**good, "occurred_at": bad}), bad
    assert quota["properties"]["period_start"]["pattern"] == ISO_DATE_PATTERN
    assert not jsonschema.Draft202012Validator(quota).is_valid(
        payload("quota.set", period_start="2026-10-01T00:00:00Z")
    )


def test_unix_times_are_refused_where_lax_parsers_read_them() -> None:
    # The issue this came from: "1767225600" was read as 2026-01-01T00:00:00Z.
    assert _EPOCH + timedelta(seconds=1767225600) == datetime(2026, 1, 1, tzinfo=UTC)

    with pytest.raises(EventRejected, match="not a Unix time"):
        parse_event(json.dumps(payload("deal.created", occurred_at="1767225600")))


_two_digits = st.integers(min_value=0, max_value=99).map(lambda n: f"{n:02d}")


@given(
    st.sampled_from(["0000", "0001", "2026", "2028", "9999"]),
    _two_digits,
    _two_digits,
    _two_digits,
    _two_digits,
    _two_digits,
    st.sampled_from(["", ".5", ".123", ".123456", ".1234567"]),
    st.sampled_from(["Z", "z", "+00:00", "-00:00"]),
)
@example("2028", "02", "29", "24", "00", "00", "", "Z")
@example("2026", "12", "31", "23", "59", "60", "", "Z")
def test_a_utc_timestamp_is_the_instant_its_fields_name_or_refused_for_them(
    year: str, month: str, day: str, hour: str, minute: str, second: str, fraction: str, zone: str
) -> None:
    # Every spelling of a UTC instant is read alike, whichever way the reader takes
    # it: the fields' instant (the fraction cut to microseconds), or an impossible
    # date or time (hour 24, 30 February, a leap second) refused as such.
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}{zone}"
    try:
        named = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction[1:] or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        with pytest.raises(ValueError, match=f"^{re.escape(EXPECTED)}; "):
            parse_rfc3339(text)
    else:
        moment = parse_rfc3339(text)
        assert moment == named
        assert moment.tzinfo is UTC
