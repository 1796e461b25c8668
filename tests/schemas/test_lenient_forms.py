"""Lenient forms of every contract field are rejected with a reason; what the contract
allows (extra fields, nesting inside them, whitespace between JSON tokens) is not.

A lenient reader would file ``" rep-1 "`` and ``"rep-1"`` as two reps, read ``"12.5"``
as a number some producers send and others do not, and sum ``1e308`` into a KPI of
``Infinity`` that is not JSON; the models refuse each, naming the field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from schemas import EVENT_MODELS, EventRejected, parse_event
from schemas.fields import ID_MAX_LENGTH, KEY_MAX_LENGTH, MAX_NUMBER, TEXT_MAX_LENGTH
from tests.schemas.payloads import MINIMAL, payload, wire

JSON_SCHEMAS = Path(__file__).resolve().parents[2] / "schemas" / "json"

#: Every id-like field of every event type (required or optional), as the contract
#: lists them in section 2.
ID_FIELDS: dict[str, tuple[str, ...]] = {
    "activity.logged": ("event_id", "rep_id", "deal_id", "lead_id", "team_id"),
    "deal.created": ("deal_id", "rep_id", "team_id", "pipeline", "stage"),
    "deal.stage_changed": ("from_stage",),
    "lead.converted": ("lead_id", "deal_id"),
    "quota.set": ("rep_id",),
    "rep.upserted": ("rep_id", "team_id", "manager_id", "name"),
    "alert.ack": ("alert_key", "by"),
}

#: Every number field: each must be a finite JSON number within the contract's range.
NUMBER_FIELDS: tuple[tuple[str, str], ...] = (
    ("deal.won", "amount"),
    ("activity.logged", "duration_s"),
    ("quota.set", "target"),
)

#: Free-text fields, at most TEXT_MAX_LENGTH characters.
TEXT_FIELDS: tuple[tuple[str, str], ...] = (
    ("deal.created", "source"),
    ("deal.created", "product"),
    ("deal.created", "source_channel"),
    ("deal.lost", "reason"),
    ("rep.upserted", "email"),
    ("rep.upserted", "slack_user_id"),
    ("alert.snooze", "reason"),
)


def _reason(raw: bytes) -> str:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw)
    return caught.value.reason


def _raw_number(event_type: str, field: str, literal: str) -> bytes:
    # json.dumps cannot write 1e400 or a 400-digit integer as a producer's code may
    text = json.dumps(payload(event_type, **{field: 1}))
    return text.replace(f'"{field}": 1', f'"{field}": {literal}').encode()


ID_CASES = [
    (event_type, field, bad, why)
    for event_type, fields in ID_FIELDS.items()
    for field in fields
    for bad, why in (
        (" rep-1", "must not have whitespace around it"),
        ("rep-1\t", "must not have whitespace around it"),
        ("\u00a0rep-1", "must not have whitespace around it"),
        ("   ", "must not be blank"),
        ("", "must not be empty"),
        ("rep\u00001", "must not contain control characters"),
        ("rep\n1", "must not contain control characters"),
        (7, "must be a string"),
        (True, "must be a string"),
        (["rep-1"], "must be a string"),
        ({"id": "rep-1"}, "must be a string"),
    )
]


@pytest.mark.parametrize(("event_type", "field", "bad", "why"), ID_CASES)
def test_ids_in_lenient_forms_are_rejected(event_type: str, field: str, bad: Any, why: str) -> None:
    reason = _reason(wire(event_type, **{field: bad}))

    assert reason.startswith(f"{field}: {why}")


@pytest.mark.parametrize(
    ("event_type", "field"), [(t, f) for t, fields in ID_FIELDS.items() for f in fields]
)
def test_ids_may_not_run_past_their_length(event_type: str, field: str) -> None:
    longest = KEY_MAX_LENGTH if field == "alert_key" else ID_MAX_LENGTH

    parse_event(wire(event_type, **{field: "x" * longest}))
    reason = _reason(wire(event_type, **{field: "x" * (longest + 1)}))

    assert reason == f"{field}: must be at most {longest} characters"


def test_inner_spaces_and_any_script_are_ids() -> None:
    event = parse_event(wire("rep.upserted", name="Zoë O'Brien-Łukasz", rep_id="rep 17/ü"))

    assert (event.name, event.rep_id) == ("Zoë O'Brien-Łukasz", "rep 17/ü")  # type: ignore[union-attr]


NUMBER_CASES = [
    ('"12.5"', "must be a number"),
    ('" 12.5"', "must be a number"),
    ("true", "must be a number"),
    ("null", "must be a number"),
    ("[12.5]", "must be a number"),
    ("NaN", "must be a finite number"),
    ("Infinity", "must be a finite number"),
    ("-Infinity", "must be a finite number"),
    ("1e400", "must be a finite number"),
    ("1" + "0" * 400, "must be a finite number"),
    ("1e308", f"must be <= {int(MAX_NUMBER)}"),
    ("-1", "must be"),
]


@pytest.mark.parametrize(
    ("event_type", "field", "literal", "why"),
    [
        (event_type, field, literal, why)
        for event_type, field in NUMBER_FIELDS
        for literal, why in NUMBER_CASES
        # null is the contract's "not known" for the optional numbers
        if not (literal == "null" and field != "target")
    ],
)
def test_numbers_in_lenient_forms_are_rejected(
    event_type: str, field: str, literal: str, why: str
) -> None:
    reason = _reason(_raw_number(event_type, field, literal))

    assert reason.startswith(f"{field}: {why}")


@pytest.mark.parametrize(("event_type", "field"), NUMBER_FIELDS)
def test_numbers_up_to_the_limit_are_taken(event_type: str, field: str) -> None:
    for literal in ("1", "0.5", "1e15", "1000000000000000", "12.50"):
        event = parse_event(_raw_number(event_type, field, literal))
        assert getattr(event, field) == float(literal)


@pytest.mark.parametrize("bad", ['"true"', '"false"', "1", "0", '"1"', "null", '"yes"'])
def test_booleans_in_lenient_forms_are_rejected(bad: str) -> None:
    raw = json.dumps(payload("activity.logged", follow_up=False)).replace("false", bad).encode()

    assert _reason(raw).startswith("follow_up: must be true or false")


@pytest.mark.parametrize(
    ("literal", "why"),
    [
        ('"1"', "must be an integer"),
        ("1.0", "must be an integer"),
        ("true", "must be an integer"),
        ("0", "must be >= 1"),
        ("2", "a newer version than this reader knows (up to 1)"),
        ("1" + "0" * 400, "a newer version than this reader knows"),
    ],
)
def test_schema_version_is_an_integer_this_reader_knows(literal: str, why: str) -> None:
    reason = _reason(_raw_number("deal.created", "schema_version", literal))

    assert reason.startswith(f"schema_version: {why}")


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("channel", " call"),
        ("channel", "CALL"),
        ("direction", "Outbound"),
        ("outcome", "connected "),
    ],
)
def test_enums_are_exact(field: str, bad: str) -> None:
    assert _reason(wire("activity.logged", **{field: bad})).startswith(f"{field}: must be one of")


@pytest.mark.parametrize("bad", [" deal.created", "deal.created ", "DEAL.CREATED", ""])
def test_event_type_is_exact(bad: str) -> None:
    assert _reason(wire("deal.created", event_type=bad)).startswith("event_type: unknown")


@pytest.mark.parametrize(("event_type", "field"), TEXT_FIELDS)
def test_free_text_is_bounded(event_type: str, field: str) -> None:
    parse_event(wire(event_type, **{field: " any text,\nas written "}))
    parse_event(wire(event_type, **{field: "x" * TEXT_MAX_LENGTH}))

    reason = _reason(wire(event_type, **{field: "x" * (TEXT_MAX_LENGTH + 1)}))

    assert reason == f"{field}: must be at most {TEXT_MAX_LENGTH} characters"


def test_extra_fields_of_any_shape_are_accepted_and_dropped() -> None:
    nested: Any = "deep"
    for _ in range(50):  # 100 levels: the JSON parser takes up to 200
        nested = {"a": [nested]}
    raw = json.dumps(
        {**payload("deal.created"), "x_nested": nested, "x_number": 1e300, "x_text": " t "}
    ).encode()

    event = parse_event(raw)

    assert "x_nested" not in event.model_dump()


def test_nesting_past_the_parser_limit_is_rejected_as_json() -> None:
    raw = json.dumps(payload("deal.created"))[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"

    assert _reason(raw.encode()).startswith("message is not valid JSON")


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        (b"", "message is not valid JSON"),
        (b"null", "message must be a JSON object, got null"),
        (b'""', "message must be a JSON object, got a string"),
        (b"{}", "event_type: field required"),
        (b"\xef\xbb\xbf" + wire("deal.created"), "message is not valid JSON"),
        (wire("deal.created") + b"x", "message is not valid JSON"),
        (b'{"event_type": "deal.created", "\xc3\x28": 1}', "message is not UTF-8"),
        (b'{"event_type": "\xed\xa0\x80"}', "message is not UTF-8"),  # a lone surrogate
    ],
)
def test_messages_that_are_no_json_object_are_rejected(raw: bytes, why: str) -> None:
    assert _reason(raw).startswith(why)


@pytest.mark.parametrize(
    ("field", "value"),
    [("rep_id", " rep-1"), ("rep_id", "rep\u00001"), ("rep_id", "x" * 201), ("rep_id", "rep 1")],
)
def test_json_schemas_say_what_the_models_do(field: str, value: str) -> None:
    schema = json.loads((JSON_SCHEMAS / "deal.created.json").read_text())
    document = payload("deal.created", **{field: value})

    try:
        parse_event(json.dumps(document).encode())
        model_says = True
    except EventRejected:
        model_says = False

    assert jsonschema.Draft202012Validator(schema).is_valid(document) is model_says


def test_every_event_type_is_covered() -> None:
    assert set(MINIMAL) == set(EVENT_MODELS)
