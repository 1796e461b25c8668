"""One model per input ``event_type`` (contract section 2).

Models are frozen; unknown fields are dropped. Construct them in Python with
keyword arguments (``event_type`` defaults to the model's own type) and read
them from the wire with :func:`schemas.parse_event`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from types import MappingProxyType
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator

from schemas.envelope import EventEnvelope
from schemas.fields import (
    AlertKey,
    CurrencyCode,
    Id,
    IsoDate,
    NonNegativeNumber,
    PositiveNumber,
    Text,
    UtcDatetime,
)

__all__ = [
    "EVENT_MODELS",
    "OUTBOUND_ATTEMPT_CHANNELS",
    "ActivityLogged",
    "AlertAck",
    "AlertSnooze",
    "AlertUnsnooze",
    "Channel",
    "DealCreated",
    "DealLost",
    "DealStageChanged",
    "DealUpdated",
    "DealWon",
    "Direction",
    "LeadConverted",
    "LeadCreated",
    "Outcome",
    "QuotaMetric",
    "QuotaSet",
    "RepUpserted",
]

Channel = Literal["call", "email", "meeting", "social", "sms"]
Direction = Literal["outbound", "inbound"]
Outcome = Literal[
    "connected",
    "no_answer",
    "voicemail",
    "busy",
    "sent",
    "bounced",
    "opened",
    "replied",
    "held",
    "no_show",
    "cancelled",
]
QuotaMetric = Literal["revenue", "deals"]

_CONVERSATIONS: frozenset[tuple[str, str]] = frozenset(
    {("call", "connected"), ("email", "replied"), ("meeting", "held")}
)
OUTBOUND_ATTEMPT_CHANNELS: frozenset[str] = frozenset({"call", "email", "social"})
"""Channels whose outbound touches count as attempts in the contact rate."""


# --- activity -----------------------------------------------------------------


class ActivityLogged(EventEnvelope):
    """A touch by a rep: a call, email, meeting, social or SMS contact."""

    event_type: Literal["activity.logged"] = "activity.logged"
    rep_id: Id = Field(description="The rep who made or received the touch.")
    channel: Channel = Field(description="How the touch was made.")
    direction: Direction = Field(description="Who started the touch.")
    outcome: Outcome = Field(description="What came of it.")
    deal_id: Id | None = Field(default=None, description="The deal the touch was about, if any.")
    lead_id: Id | None = Field(default=None, description="The lead the touch was about, if any.")
    team_id: Id | None = Field(
        default=None, description="The rep's team, used when no rep.upserted names one."
    )
    duration_s: NonNegativeNumber | None = Field(
        default=None, description="Length of the call or meeting in seconds."
    )
    follow_up: bool = Field(
        default=False,
        strict=True,
        description="True when the touch follows up an earlier one on the same deal or lead.",
    )

    @property
    def is_conversation(self) -> bool:
        """A call ``connected``, an email ``replied`` or a meeting ``held``."""
        return (self.channel, self.outcome) in _CONVERSATIONS

    @property
    def is_outbound_attempt(self) -> bool:
        """An outbound call, email or social touch: the contact rate's denominator."""
        return self.direction == "outbound" and self.channel in OUTBOUND_ATTEMPT_CHANNELS


# --- deals --------------------------------------------------------------------


class _DealEventBase(EventEnvelope):
    deal_id: Id = Field(description="The deal.")
    rep_id: Id = Field(description="The deal's owner after the event.")
    team_id: Id | None = Field(
        default=None, description="The owner's team, used when no rep.upserted names one."
    )
    pipeline: Id = Field(default="default", description="The pipeline the deal moves through.")
    stage: Id = Field(description="The stage the deal is in after the event.")
    amount: NonNegativeNumber | None = Field(
        default=None,
        description="Deal value (>= 0) in `currency`. Absent or null means not known: it is "
        "never read as 0.",
    )
    currency: CurrencyCode | None = Field(
        default=None,
        description="ISO 4217 code of `amount`; absent or null means the configured reporting "
        "currency.",
    )
    source_channel: Text | None = Field(
        default=None, description="Where the deal came from: referral, ads, event, ..."
    )
    product: Text | None = Field(default=None, description="The kind of deal.")
    expected_close: IsoDate | None = Field(
        default=None, description="The date the deal is expected to close."
    )


class DealCreated(_DealEventBase):
    """A new deal (opportunity) was opened."""

    event_type: Literal["deal.created"] = "deal.created"


class DealStageChanged(_DealEventBase):
    """An open deal moved from one stage to another."""

    event_type: Literal["deal.stage_changed"] = "deal.stage_changed"
    from_stage: Id = Field(description="The stage the deal left.")


class DealUpdated(_DealEventBase):
    """Amount, product, owner or expected close of a deal changed without a stage move."""

    event_type: Literal["deal.updated"] = "deal.updated"


class DealWon(_DealEventBase):
    """The deal closed as won; whatever `stage` says, it now counts as stage `won`."""

    event_type: Literal["deal.won"] = "deal.won"


class DealLost(_DealEventBase):
    """The deal closed as lost; whatever `stage` says, it now counts as stage `lost`."""

    event_type: Literal["deal.lost"] = "deal.lost"
    reason: Text | None = Field(default=None, description="Why the deal was lost.")


# --- leads --------------------------------------------------------------------


class _LeadEventBase(EventEnvelope):
    lead_id: Id = Field(description="The lead.")
    rep_id: Id = Field(description="The rep the lead is assigned to.")
    team_id: Id | None = Field(
        default=None, description="The rep's team, used when no rep.upserted names one."
    )
    source_channel: Text | None = Field(
        default=None, description="Where the lead came from: referral, ads, event, ..."
    )


class LeadCreated(_LeadEventBase):
    """A lead was assigned to a rep."""

    event_type: Literal["lead.created"] = "lead.created"


class LeadConverted(_LeadEventBase):
    """A lead became a deal (lead to opportunity)."""

    event_type: Literal["lead.converted"] = "lead.converted"
    deal_id: Id = Field(description="The deal the lead became.")


# --- quotas and org -----------------------------------------------------------


class QuotaSet(EventEnvelope):
    """A rep's target for a period; the newest `occurred_at` for a rep and period wins."""

    event_type: Literal["quota.set"] = "quota.set"
    rep_id: Id = Field(description="The rep the quota is for.")
    period_start: IsoDate = Field(description="First day of the period (inclusive).")
    period_end: IsoDate = Field(
        description="Day after the last day of the period (exclusive); after period_start."
    )
    target: PositiveNumber = Field(
        description="Target (> 0): an amount in `currency` for a revenue quota, a count of won "
        "deals for a deals quota."
    )
    metric: QuotaMetric = Field(description="What the target counts.")
    currency: CurrencyCode | None = Field(
        default=None,
        description="ISO 4217 code of a revenue target; absent or null means the configured "
        "reporting currency.",
    )

    @field_validator("period_end")
    @classmethod
    def _end_after_start(cls, value: date, info: ValidationInfo) -> date:
        start: date | None = info.data.get("period_start")
        if start is not None and value <= start:
            raise ValueError(f"must be after period_start {start.isoformat()}")
        return value


class RepUpserted(EventEnvelope):
    """Who a rep is and who their manager is; the latest one per rep wins."""

    event_type: Literal["rep.upserted"] = "rep.upserted"
    rep_id: Id = Field(description="The rep.")
    name: Id = Field(description="Display name.")
    team_id: Id = Field(description="The rep's team.")
    manager_id: Id = Field(description="The manager who receives the rep's alerts.")
    email: Text | None = Field(default=None, description="The rep's email address.")
    slack_user_id: Text | None = Field(default=None, description="The rep's Slack user id.")
    timezone: Text | None = Field(
        default=None, description="IANA time zone name, e.g. Europe/Berlin."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("must be an IANA time zone name") from None
        return value

    @property
    def zone(self) -> ZoneInfo | None:
        """The rep's time zone, or None when not given."""
        return ZoneInfo(self.timezone) if self.timezone is not None else None


# --- alert commands -----------------------------------------------------------


class _AlertCommandBase(EventEnvelope):
    alert_key: AlertKey = Field(description="The alert condition, as in the alert's `alert_key`.")
    by: Id = Field(description="Who gave the command.")
    reason: Text | None = Field(default=None, description="Why, in the person's words.")


class AlertAck(_AlertCommandBase):
    """A person has seen the alert and takes care of it."""

    event_type: Literal["alert.ack"] = "alert.ack"


class AlertSnooze(_AlertCommandBase):
    """Hold the alert's notifications back until `until`."""

    event_type: Literal["alert.snooze"] = "alert.snooze"
    until: UtcDatetime | None = Field(
        default=None,
        description="End of the snooze, RFC 3339 with an offset; absent or null means until an "
        "alert.unsnooze.",
    )


class AlertUnsnooze(_AlertCommandBase):
    """End a snooze now."""

    event_type: Literal["alert.unsnooze"] = "alert.unsnooze"


EVENT_MODELS: Mapping[str, type[EventEnvelope]] = MappingProxyType(
    {
        model.model_fields["event_type"].default: model
        for model in (
            ActivityLogged,
            DealCreated,
            DealStageChanged,
            DealUpdated,
            DealWon,
            DealLost,
            LeadCreated,
            LeadConverted,
            QuotaSet,
            RepUpserted,
            AlertAck,
            AlertSnooze,
            AlertUnsnooze,
        )
    }
)
"""Every input event model by its ``event_type``, in contract order."""
