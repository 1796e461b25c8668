"""Factories for contract events, shared by the tests."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas import (
    ActivityLogged,
    DealCreated,
    DealLost,
    DealStageChanged,
    DealUpdated,
    DealWon,
    LeadConverted,
    LeadCreated,
    QuotaSet,
)

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
_ids = itertools.count(1)


def at(days: float) -> datetime:
    return T0 + timedelta(days=days)


def _common(deal_id: str, day: float, event_id: str | None, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "event_id": event_id or f"ev-{next(_ids)}",
        "occurred_at": at(day),
        "source": "test",
        "deal_id": deal_id,
        "rep_id": "rep-1",
        "team_id": "emea",
        "amount": 1000.0,
    }
    fields.update(extra)
    return fields


def created(
    deal_id: str, day: float, stage: str = "prospecting", event_id: str | None = None, **extra: Any
) -> DealCreated:
    return DealCreated(**_common(deal_id, day, event_id, stage=stage, **extra))


def moved(
    deal_id: str, day: float, from_stage: str, stage: str, event_id: str | None = None, **extra: Any
) -> DealStageChanged:
    return DealStageChanged(
        **_common(deal_id, day, event_id, stage=stage, from_stage=from_stage, **extra)
    )


def updated(
    deal_id: str, day: float, stage: str, event_id: str | None = None, **extra: Any
) -> DealUpdated:
    return DealUpdated(**_common(deal_id, day, event_id, stage=stage, **extra))


def won(deal_id: str, day: float, event_id: str | None = None, **extra: Any) -> DealWon:
    return DealWon(**_common(deal_id, day, event_id, stage="negotiation", **extra))


def lost(deal_id: str, day: float, event_id: str | None = None, **extra: Any) -> DealLost:
    return DealLost(**_common(deal_id, day, event_id, stage="proposal", **extra))


def activity(
    day: float,
    rep_id: str = "rep-1",
    channel: str = "call",
    direction: str = "outbound",
    outcome: str = "no_answer",
    event_id: str | None = None,
    **extra: Any,
) -> ActivityLogged:
    return ActivityLogged(
        event_id=event_id or f"ev-{next(_ids)}",
        occurred_at=at(day),
        source="test",
        rep_id=rep_id,
        team_id=extra.pop("team_id", "emea"),
        channel=channel,
        direction=direction,
        outcome=outcome,
        **extra,
    )


def lead(
    day: float,
    lead_id: str,
    rep_id: str = "rep-1",
    converted_to: str | None = None,
    event_id: str | None = None,
) -> LeadCreated | LeadConverted:
    common: dict[str, Any] = {
        "event_id": event_id or f"ev-{next(_ids)}",
        "occurred_at": at(day),
        "source": "test",
        "rep_id": rep_id,
        "team_id": "emea",
        "lead_id": lead_id,
    }
    if converted_to:
        return LeadConverted(deal_id=converted_to, **common)
    return LeadCreated(**common)


def quota(
    start_day: float,
    end_day: float,
    target: float,
    rep_id: str = "rep-1",
    metric: str = "revenue",
    event_id: str | None = None,
) -> QuotaSet:
    return QuotaSet(
        event_id=event_id or f"ev-{next(_ids)}",
        occurred_at=at(start_day),
        source="test",
        rep_id=rep_id,
        period_start=at(start_day).date(),
        period_end=at(end_day).date(),
        target=target,
        metric=metric,
    )
