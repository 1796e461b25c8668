"""Any valid event survives the wire: model -> JSON bytes -> parse_event gives it back."""

from __future__ import annotations

import json
import string
from datetime import date, datetime, timedelta, timezone
from typing import Any, get_args

from hypothesis import given
from hypothesis import strategies as st

from schemas import (
    EVENT_MODELS,
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
    EventEnvelope,
    LeadConverted,
    LeadCreated,
    Outcome,
    QuotaSet,
    RepUpserted,
    parse_event,
)
from schemas.envelope import SCHEMA_VERSION
from schemas.fields import MAX_NUMBER


def _ids(max_size: int) -> st.SearchStrategy[str]:
    """Ids as the contract allows them: any character but a control character, no
    whitespace at either end."""
    letters = st.characters(blacklist_categories=("Cc", "Cs"))
    return st.text(letters, min_size=1, max_size=max_size).filter(lambda s: s == s.strip())


ids = _ids(12)
texts = st.text(max_size=20)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware = st.datetimes(
    min_value=datetime(1971, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
dates = st.dates(min_value=date(1971, 1, 1), max_value=date(2100, 1, 1))
amounts = st.floats(min_value=0, max_value=MAX_NUMBER) | st.integers(0, int(MAX_NUMBER))
currencies = st.text(alphabet=string.ascii_uppercase, min_size=3, max_size=3)

envelope: dict[str, Any] = {
    "event_id": _ids(200),
    "occurred_at": aware,
    "source": texts,
    "schema_version": st.just(SCHEMA_VERSION),
}
deal_fields: dict[str, Any] = {
    **envelope,
    "deal_id": ids,
    "rep_id": ids,
    "team_id": st.none() | ids,
    "pipeline": ids,
    "stage": ids,
    "amount": st.none() | amounts,
    "currency": st.none() | currencies,
    "source_channel": st.none() | texts,
    "product": st.none() | texts,
    "expected_close": st.none() | dates,
}
lead_fields: dict[str, Any] = {
    **envelope,
    "lead_id": ids,
    "rep_id": ids,
    "team_id": st.none() | ids,
    "source_channel": st.none() | texts,
}
command_fields: dict[str, Any] = {
    **envelope,
    "alert_key": ids,
    "by": ids,
    "reason": st.none() | texts,
}


@st.composite
def quotas(draw: st.DrawFn) -> QuotaSet:
    start = draw(dates)
    return QuotaSet(
        **{name: draw(strategy) for name, strategy in envelope.items()},
        rep_id=draw(ids),
        period_start=start,
        period_end=start + timedelta(days=draw(st.integers(1, 400))),
        target=draw(st.floats(min_value=0.01, max_value=1e12) | st.integers(1, 10**9)),
        metric=draw(st.sampled_from(["revenue", "deals"])),
        currency=draw(st.none() | currencies),
    )


STRATEGIES: dict[str, st.SearchStrategy[Any]] = {
    "activity.logged": st.builds(
        ActivityLogged,
        **envelope,
        rep_id=ids,
        channel=st.sampled_from(get_args(Channel)),
        direction=st.sampled_from(get_args(Direction)),
        outcome=st.sampled_from(get_args(Outcome)),
        deal_id=st.none() | ids,
        lead_id=st.none() | ids,
        team_id=st.none() | ids,
        duration_s=st.none() | amounts,
        follow_up=st.booleans(),
    ),
    "deal.created": st.builds(DealCreated, **deal_fields),
    "deal.stage_changed": st.builds(DealStageChanged, **deal_fields, from_stage=ids),
    "deal.updated": st.builds(DealUpdated, **deal_fields),
    "deal.won": st.builds(DealWon, **deal_fields),
    "deal.lost": st.builds(DealLost, **deal_fields, reason=st.none() | texts),
    "lead.created": st.builds(LeadCreated, **lead_fields),
    "lead.converted": st.builds(LeadConverted, **lead_fields, deal_id=ids),
    "quota.set": quotas(),
    "rep.upserted": st.builds(
        RepUpserted,
        **envelope,
        rep_id=ids,
        name=ids,
        team_id=ids,
        manager_id=ids,
        email=st.none() | texts,
        slack_user_id=st.none() | texts,
        timezone=st.none() | st.sampled_from(["UTC", "Europe/Berlin", "Asia/Kolkata"]),
    ),
    "alert.ack": st.builds(AlertAck, **command_fields),
    "alert.snooze": st.builds(AlertSnooze, **command_fields, until=st.none() | aware),
    "alert.unsnooze": st.builds(AlertUnsnooze, **command_fields),
}
events: st.SearchStrategy[EventEnvelope] = st.one_of(*STRATEGIES.values())


def test_strategies_cover_every_event_type() -> None:
    assert set(STRATEGIES) == set(EVENT_MODELS)


@given(events)
def test_any_valid_event_round_trips(event: EventEnvelope) -> None:
    raw = event.to_json_bytes()

    assert parse_event(raw) == event
    assert parse_event(raw.decode()) == event


@given(events, st.dictionaries(st.text(min_size=1).map(lambda k: f"x_{k}"), st.integers()))
def test_unknown_fields_never_change_the_event(event: EventEnvelope, extra: dict[str, int]) -> None:
    fields = {**extra, **json.loads(event.to_json_bytes())}

    assert parse_event(json.dumps(fields)) == event
