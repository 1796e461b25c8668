"""The ``gateway`` section of the settings: listening, limits, secrets and per-CRM mapping.

These models are ``Settings.gateway`` (``[gateway]`` in ``salespulse.toml``,
``SALESPULSE_GATEWAY__...`` in the environment). Like :mod:`streamer.notify.config`
they must not import :mod:`streamer.settings`, which imports this module.

Secrets (HubSpot client secret, Pipedrive basic-auth password, Slack signing
secret) are :class:`~pydantic.SecretStr`: printed as ``**********`` and never
logged. A source without its secret is off: its route answers 404 and nothing
is produced, so a half-configured gateway fails closed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.events import Channel, Direction, Outcome

__all__ = [
    "ActivityRule",
    "GatewaySettings",
    "HubSpotMapping",
    "HubSpotSettings",
    "PipedriveMapping",
    "PipedriveSettings",
    "RateLimit",
    "SalesforceMapping",
    "SalesforceSettings",
    "SlackSettings",
    "SourceMapping",
    "StageRule",
]

Closed = Literal["won", "lost"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _blank_is_unset(value: Any) -> Any:
    # an empty secret (an empty key of a Kubernetes Secret, an empty variable) must
    # leave its route off: an HMAC with an empty key is no authentication at all
    if isinstance(value, str) and not value.strip():
        return None
    if isinstance(value, SecretStr) and not value.get_secret_value().strip():
        return None
    return value


class StageRule(_Frozen):
    """Where a CRM stage id lands in the contract: a pipeline, a stage, and whether it closes."""

    stage: str = Field(min_length=1, description="the contract stage name")
    pipeline: str = Field(default="default", min_length=1, description="the contract pipeline name")
    closed: Closed | None = Field(
        default=None, description="'won' or 'lost' when entering this stage closes the deal"
    )


class ActivityRule(_Frozen):
    """How one CRM activity type becomes an ``activity.logged``: its channel, and the
    direction and outcome read from the CRM's own values (``directions``, ``outcomes``)
    or fixed (``direction``, ``outcome``) when the CRM has no such field."""

    channel: Channel
    direction: Direction | None = Field(
        default=None, description="fixed direction, if the CRM has none"
    )
    outcome: Outcome | None = Field(default=None, description="fixed outcome, if the CRM has none")
    directions: dict[str, Direction] = Field(
        default_factory=dict, description="CRM direction value -> contract direction"
    )
    outcomes: dict[str, Outcome] = Field(
        default_factory=dict, description="CRM status / outcome value -> contract outcome"
    )
    pending_outcomes: list[str] = Field(
        default_factory=list,
        description="CRM values that mean 'not over yet' (ringing, scheduled): the activity "
        "is logged when a final value arrives",
    )


class SourceMapping(_Frozen):
    """One CRM's ids in contract terms. Anything not listed here is dead-lettered with the
    reason, never guessed."""

    id_prefix: str = Field(
        default="", description="put before CRM ids to make contract deal_ids, e.g. 'hs-'"
    )
    stages: dict[str, StageRule] = Field(
        default_factory=dict,
        description="CRM stage id (HubSpot dealstage, Pipedrive stage_id, Salesforce "
        "StageName) -> contract pipeline, stage and closing outcome",
    )
    owners: dict[str, str] = Field(
        default_factory=dict, description="CRM owner / user id -> contract rep_id"
    )
    rep_id_template: str | None = Field(
        default=None,
        description="rep_id for an owner not in `owners`, e.g. 'hs-{owner_id}'; unset: such "
        "an owner is dead-lettered",
    )
    activities: dict[str, ActivityRule] = Field(
        default_factory=dict, description="CRM activity type -> channel, direction, outcome"
    )
    on_delete: Literal["lost", "ignore"] = Field(
        default="lost",
        description="a deal deleted in the CRM: 'lost' sends deal.lost (reason 'deleted in "
        "the CRM') so it stops counting as open; 'ignore' sends nothing",
    )
    default_currency: str | None = Field(
        default=None,
        pattern=r"^[A-Z]{3}$",
        description="currency of amounts the CRM sends without one",
    )

    @field_validator("rep_id_template")
    @classmethod
    def _template(cls, value: str | None) -> str | None:
        if value is not None:
            if "{owner_id}" not in value:
                raise ValueError("must contain {owner_id}")
            try:
                value.format(owner_id="x")
            except (KeyError, IndexError, ValueError):
                raise ValueError("only the placeholder {owner_id} is allowed") from None
        return value

    def rep_for(self, owner_id: str | None) -> str | None:
        """The rep_id of a CRM owner, or None when the mapping does not say."""
        if owner_id is None or owner_id == "":
            return None
        if owner_id in self.owners:
            return self.owners[owner_id]
        if self.rep_id_template is not None:
            return self.rep_id_template.format(owner_id=owner_id)
        return None


class RateLimit(_Frozen):
    """A token bucket per source and gateway process: ``per_second`` sustained, ``burst``
    at once. Over it a request is answered 429 with ``Retry-After`` (the CRMs retry)."""

    per_second: float = Field(default=50.0, gt=0)
    burst: int = Field(default=200, ge=1)


def _hubspot_activities() -> dict[str, Any]:
    # HubSpot's own property values (hs_call_status, hs_call_direction, hs_meeting_outcome,
    # hs_email_direction, hs_email_status), documented for the engagement objects.
    return {
        "calls": dict(
            channel="call",
            directions={"OUTBOUND": "outbound", "INBOUND": "inbound"},
            outcomes={
                "COMPLETED": "connected",
                "NO_ANSWER": "no_answer",
                "BUSY": "busy",
                "FAILED": "no_answer",
                "CANCELED": "cancelled",
            },
            pending_outcomes=["QUEUED", "RINGING", "IN_PROGRESS", "CONNECTING", "CALLING_CRM_USER"],
        ),
        "meetings": dict(
            channel="meeting",
            direction="outbound",
            outcomes={
                "COMPLETED": "held",
                "NO_SHOW": "no_show",
                "CANCELED": "cancelled",
            },
            pending_outcomes=["SCHEDULED", "RESCHEDULED"],
        ),
        "emails": dict(
            channel="email",
            directions={
                "EMAIL": "outbound",
                "FORWARDED_EMAIL": "outbound",
                "INCOMING_EMAIL": "inbound",
            },
            outcomes={"SENT": "sent", "BOUNCED": "bounced", "FAILED": "bounced"},
            pending_outcomes=["SCHEDULED", "SENDING"],
        ),
    }


class HubSpotMapping(SourceMapping):
    """HubSpot's mapping, with HubSpot's documented activity values as defaults."""

    id_prefix: str = "hs-"
    activities: dict[str, ActivityRule] = Field(
        default_factory=_hubspot_activities, validate_default=True
    )


def _pipedrive_activities() -> dict[str, Any]:
    # Pipedrive's default activity types; `done` decides the outcome (see pipedrive.py).
    return {
        "call": dict(channel="call", direction="outbound", outcome="connected"),
        "meeting": dict(channel="meeting", direction="outbound", outcome="held"),
        "email": dict(channel="email", direction="outbound", outcome="sent"),
    }


class PipedriveMapping(SourceMapping):
    """Pipedrive's mapping, with Pipedrive's documented activity values as defaults."""

    id_prefix: str = "pd-"
    activities: dict[str, ActivityRule] = Field(
        default_factory=_pipedrive_activities, validate_default=True
    )


def _salesforce_activities() -> dict[str, Any]:
    # Task.TaskSubtype / CallType and Event; CallDisposition is free text in Salesforce,
    # so an org lists its own values under outcomes.
    return {
        "Call": dict(
            channel="call",
            outcome="connected",
            directions={"Outbound": "outbound", "Inbound": "inbound", "Internal": "outbound"},
            direction="outbound",
        ),
        "Email": dict(channel="email", direction="outbound", outcome="sent"),
        "ListEmail": dict(channel="email", direction="outbound", outcome="sent"),
        "Event": dict(channel="meeting", direction="outbound", outcome="held"),
    }


class SalesforceMapping(SourceMapping):
    """Salesforce's mapping, with Salesforce's documented activity values as defaults."""

    id_prefix: str = "sf-"
    activities: dict[str, ActivityRule] = Field(
        default_factory=_salesforce_activities, validate_default=True
    )


class HubSpotSettings(_Frozen):
    """HubSpot webhooks (``POST /hubspot``), verified with signature v3."""

    _blank = field_validator("client_secret", mode="before")(_blank_is_unset)

    client_secret: SecretStr | None = Field(
        default=None, description="the app's client secret; unset: the HubSpot route is off"
    )
    mapping: HubSpotMapping = HubSpotMapping()
    rate_limit: RateLimit = RateLimit()


class PipedriveSettings(_Frozen):
    """Pipedrive webhooks v2 (``POST /pipedrive``), with the HTTP basic auth set on the
    webhook in Pipedrive (``http_auth_user`` / ``http_auth_password``)."""

    _blank = field_validator("username", "password", mode="before")(_blank_is_unset)
    username: str | None = None
    password: SecretStr | None = Field(
        default=None, description="basic-auth password; unset: the Pipedrive route is off"
    )
    mapping: PipedriveMapping = PipedriveMapping()
    rate_limit: RateLimit = RateLimit()

    @model_validator(mode="after")
    def _both(self) -> PipedriveSettings:
        if (self.username is None) != (self.password is None):
            raise ValueError("set both username and password, or neither")
        return self


class SalesforceSettings(_Frozen):
    """Salesforce Change Data Capture, read as JSON from a Kafka topic that a Salesforce
    connector or a Pub/Sub API bridge writes."""

    topic: str | None = Field(default=None, description="the CDC topic; unset: not read")
    group_id: str = Field(
        default="salespulse-gateway-salesforce", min_length=1, description="consumer group"
    )
    mapping: SalesforceMapping = SalesforceMapping()


class SlackSettings(_Frozen):
    """Slack interactivity (``POST /slack/interactions``) and the slash command
    (``POST /slack/commands``), verified with the app's signing secret."""

    _blank = field_validator("signing_secret", mode="before")(_blank_is_unset)

    signing_secret: SecretStr | None = Field(
        default=None, description="the Slack app's signing secret; unset: the Slack routes are off"
    )
    response_url_prefix: str = Field(
        default="https://hooks.slack.com/",
        description="response_url values the gateway posts message updates to must start "
        "with this (Slack's own host), so a forged payload cannot make it call elsewhere",
    )
    team_id: str | None = Field(default=None, description="accept only this workspace (T...)")
    allowed_users: list[str] = Field(
        default_factory=list,
        description="Slack user ids that may act on any alert (the configured roles)",
    )
    recipient_channels: list[str] = Field(
        default_factory=list,
        description="channel ids whose members received alerts and may press their buttons; "
        "empty: whoever sees the message in the workspace",
    )
    command: str = Field(default="/salespulse", pattern=r"^/[a-z0-9_-]+$")
    snooze_max_days: float = Field(default=30.0, gt=0, le=365)
    rate_limit: RateLimit = RateLimit(per_second=10.0, burst=50)


class GatewaySettings(_Frozen):
    """``salespulse gateway``: CRM webhooks and Slack actions in, contract events out."""

    host: str = Field(default="127.0.0.1", description="listen address; 0.0.0.0 in a container")
    port: int = Field(default=8080, ge=1, le=65535)
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^/?#]+$",
        description="scheme and host the CRMs call (https://salespulse.example.com); HubSpot "
        "signs the URL it called, which a proxy in front changes. Unset: the request's own",
    )
    max_body_bytes: int = Field(
        default=1_048_576, ge=1024, le=64 * 1_048_576, description="larger bodies are refused (413)"
    )
    signature_tolerance_seconds: float = Field(
        default=300.0, gt=0, le=3600, description="older signed timestamps are refused (401)"
    )
    knowledge_topic: str = Field(
        default="crm.gateway-knowledge",
        min_length=1,
        description="compacted topic of the last known attributes of each CRM deal and "
        "activity, which completes partial updates; every gateway reads it whole",
    )
    hubspot: HubSpotSettings = HubSpotSettings()
    pipedrive: PipedriveSettings = PipedriveSettings()
    salesforce: SalesforceSettings = SalesforceSettings()
    slack: SlackSettings = SlackSettings()
