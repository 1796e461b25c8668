"""parse_event: what is accepted, what is rejected and how the rejection reads."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from schemas import (
    EVENT_MODELS,
    ActivityLogged,
    DealStageChanged,
    EventRejected,
    QuotaSet,
    RepUpserted,
    parse_event,
)
from tests.schemas.payloads import (
    CONTRACT_ACTIVITY_EXAMPLE,
    CONTRACT_DEAL_EXAMPLE,
    MINIMAL,
    wire,
)


def test_contract_activity_example_parses() -> None:
    event = parse_event(CONTRACT_ACTIVITY_EXAMPLE)

    assert isinstance(event, ActivityLogged)
    assert event.occurred_at == datetime(2026, 11, 20, 14, 3, tzinfo=UTC)
    assert (event.rep_id, event.team_id, event.deal_id) == ("rep-17", "emea", "deal-9")
    assert (event.channel, event.direction, event.outcome) == ("call", "outbound", "connected")
    assert event.follow_up is True
    assert event.duration_s == 312
    assert event.schema_version == 1


def test_contract_deal_example_parses() -> None:
    event = parse_event(CONTRACT_DEAL_EXAMPLE.decode())

    assert isinstance(event, DealStageChanged)
    assert (event.from_stage, event.stage, event.pipeline) == (
        "qualification",
        "proposal",
        "default",
    )
    assert (event.amount, event.currency) == (12000.0, "EUR")
    assert (event.source_channel, event.product) == ("referral", "platform-annual")
    assert event.expected_close is None


@pytest.mark.parametrize("event_type", sorted(MINIMAL))
def test_every_event_type_parses_with_only_required_fields(event_type: str) -> None:
    event = parse_event(wire(event_type))

    assert type(event) is EVENT_MODELS[event_type]
    assert event.event_type == event_type


def test_models_cover_every_event_type_of_the_contract() -> None:
    assert set(EVENT_MODELS) == set(MINIMAL)


def test_defaults_fill_what_a_producer_leaves_out() -> None:
    deal = parse_event(wire("deal.created"))
    activity = parse_event(wire("activity.logged"))

    assert (deal.pipeline, deal.amount, deal.currency) == ("default", None, None)  # type: ignore[union-attr]
    assert activity.follow_up is False  # type: ignore[union-attr]


def test_unknown_extra_fields_are_ignored() -> None:
    raw = wire("deal.created", crm_internal={"x": [1, 2]}, amount=10, color="red")

    event = parse_event(raw)

    assert event == parse_event(wire("deal.created", amount=10))
    assert "color" not in event.model_dump()


def test_offsets_of_the_same_instant_normalise_to_the_same_utc_event() -> None:
    spellings = ["2026-11-20T14:03:00Z", "2026-11-20T15:03:00+01:00", "2026-11-20T09:03:00-05:00"]

    events = [parse_event(wire("deal.created", occurred_at=when)) for when in spellings]

    assert all(event == events[0] for event in events)
    assert events[0].occurred_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert events[0].occurred_at.tzinfo is UTC
    assert b'"occurred_at":"2026-11-20T14:03:00Z"' in events[1].to_json_bytes()


def test_snooze_until_is_normalised_to_utc() -> None:
    event = parse_event(wire("alert.snooze", until="2026-11-21T09:00:00+09:00"))

    assert event.until == datetime(2026, 11, 21, 0, 0, tzinfo=UTC)  # type: ignore[union-attr]


def test_activity_helpers_follow_the_contract_definitions() -> None:
    def activity(channel: str, direction: str, outcome: str) -> ActivityLogged:
        event = parse_event(
            wire("activity.logged", channel=channel, direction=direction, outcome=outcome)
        )
        assert isinstance(event, ActivityLogged)
        return event

    assert activity("call", "outbound", "connected").is_conversation
    assert activity("email", "inbound", "replied").is_conversation
    assert activity("meeting", "outbound", "held").is_conversation
    assert not activity("call", "outbound", "voicemail").is_conversation
    assert not activity("sms", "outbound", "replied").is_conversation

    assert activity("call", "outbound", "no_answer").is_outbound_attempt
    assert activity("email", "outbound", "sent").is_outbound_attempt
    assert activity("social", "outbound", "sent").is_outbound_attempt
    assert not activity("meeting", "outbound", "held").is_outbound_attempt
    assert not activity("sms", "outbound", "sent").is_outbound_attempt
    assert not activity("call", "inbound", "connected").is_outbound_attempt


def test_quota_dates_and_rep_zone() -> None:
    quota = parse_event(wire("quota.set"))
    rep = parse_event(wire("rep.upserted", timezone="Europe/Berlin"))

    assert isinstance(quota, QuotaSet) and isinstance(rep, RepUpserted)
    assert (quota.period_start, quota.period_end) == (date(2026, 10, 1), date(2027, 1, 1))
    assert rep.zone is not None and rep.zone.key == "Europe/Berlin"


def _json(fields: dict[str, Any]) -> bytes:
    return json.dumps(fields).encode()


REJECTIONS: list[tuple[str, bytes | str, str]] = [
    ("not utf-8", b'{"event_id":"\xff"}', "message is not UTF-8 (invalid byte at position 13)"),
    ("not json", b'{"event_id": ', "message is not valid JSON"),
    ("not an object", b'["activity.logged"]', "message must be a JSON object, got an array"),
    ("event_type missing", wire("deal.created", event_type=...), "event_type: field required"),
    (
        "event_type unknown",
        wire("deal.created", event_type="deal.closed"),
        'event_type: unknown event type "deal.closed"',
    ),
    ("required field missing", wire("deal.created", stage=...), "stage: field required"),
    (
        "several fields missing",
        _json({"event_type": "lead.converted"}),
        "event_id, occurred_at, source, lead_id, rep_id, deal_id: field required",
    ),
    (
        "naive timestamp",
        wire("deal.created", occurred_at="2026-11-20T14:03:00"),
        "occurred_at: timestamp needs a UTC offset",
    ),
    (
        "epoch number as timestamp",
        wire("deal.created", occurred_at=1763647380),
        "occurred_at: must be an RFC 3339 timestamp with an offset, e.g. 2026-11-20T14:03:00Z, "
        "as a string, not a number, got 1763647380",
    ),
    (
        "unparseable timestamp",
        wire("deal.created", occurred_at="yesterday"),
        "occurred_at: must be an RFC 3339 timestamp with an offset, e.g. 2026-11-20T14:03:00Z, "
        'got "yesterday"',
    ),
    (
        "naive snooze until",
        wire("alert.snooze", until="2026-11-21T09:00:00"),
        "until: timestamp needs a UTC offset",
    ),
    ("negative amount", wire("deal.won", amount=-5), "amount: must be >= 0, got -5"),
    ("amount as text", wire("deal.won", amount="12000"), 'amount: must be a number, got "12000"'),
    (
        "amount NaN",
        wire("deal.won").replace(b"}", b', "amount": NaN}'),
        "amount: must be a finite number, got NaN",
    ),  # noqa: E501
    ("empty event_id", wire("deal.created", event_id=""), "event_id: must not be empty"),
    (
        "event_id too long",
        wire("deal.created", event_id="e" * 201),
        "event_id: must be at most 200 characters",
    ),
    ("empty id", wire("deal.created", rep_id=""), "rep_id: must not be empty"),
    ("id not a string", wire("deal.created", deal_id=9), "deal_id: must be a string, got 9"),
    (
        "unknown channel",
        wire("activity.logged", channel="fax"),
        "channel: must be one of 'call', 'email', 'meeting', 'social' or 'sms', got \"fax\"",
    ),
    (
        "follow_up not a boolean",
        wire("activity.logged", follow_up="yes"),
        'follow_up: must be true or false, got "yes"',
    ),
    (
        "negative duration",
        wire("activity.logged", duration_s=-1),
        "duration_s: must be >= 0, got -1",
    ),
    (
        "lower-case currency",
        wire("deal.created", currency="eur"),
        'currency: must be an ISO 4217 code of three upper-case letters, got "eur"',
    ),
    (
        "bad date",
        wire("deal.created", expected_close="31/12/2026"),
        'expected_close: must be a date written YYYY-MM-DD, got "31/12/2026"',
    ),
    (
        "quota period backwards",
        wire("quota.set", period_end="2026-10-01"),
        'period_end: must be after period_start 2026-10-01, got "2026-10-01"',
    ),
    ("quota target zero", wire("quota.set", target=0), "target: must be > 0, got 0"),
    (
        "quota metric unknown",
        wire("quota.set", metric="calls"),
        "metric: must be one of 'revenue' or 'deals', got \"calls\"",
    ),
    (
        "unknown time zone",
        wire("rep.upserted", timezone="Mars/Olympus_Mons"),
        'timezone: must be an IANA time zone name, got "Mars/Olympus_Mons"',
    ),
    ("rep without manager", wire("rep.upserted", manager_id=...), "manager_id: field required"),
    ("lead.converted without deal", wire("lead.converted", deal_id=...), "deal_id: field required"),
    (
        "schema_version as text",
        wire("deal.created", schema_version="1"),
        'schema_version: must be an integer, got "1"',
    ),
]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [(raw, reason) for _, raw, reason in REJECTIONS],
    ids=[c[0] for c in REJECTIONS],
)
def test_rejection_reason_is_one_readable_line(raw: bytes, reason: str) -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(raw)

    assert caught.value.reason.startswith(reason)
    assert str(caught.value) == caught.value.reason
    assert "\n" not in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_many_errors_are_cut_short() -> None:
    raw = wire("deal.created", amount=-1, currency="x", team_id=5, pipeline="", product=7)

    with pytest.raises(EventRejected) as caught:
        parse_event(raw)

    assert caught.value.reason.endswith("; and 2 more")


def test_long_bad_values_are_cut_short() -> None:
    with pytest.raises(EventRejected) as caught:
        parse_event(wire("activity.logged", channel="x" * 500))

    assert len(caught.value.reason) < 200
    assert caught.value.reason.endswith("...")
