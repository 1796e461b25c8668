"""Notification settings: receivers, routes, inhibitions, quiet hours, digests, retries.

These models are the ``notifications`` section of :class:`streamer.settings.Settings`
(``[notifications]`` in ``salespulse.toml``). They must not import
``streamer.settings`` (which imports this module). Secrets (webhook URLs, tokens,
passwords, signing keys) are :class:`~pydantic.SecretStr`: printed as ``**********``
and never logged. The defaults configure no receiver, so nothing is sent and
nothing fails.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = [
    "DigestSettings",
    "EmailReceiver",
    "Inhibition",
    "NotificationSettings",
    "QuietHours",
    "Receiver",
    "RetrySettings",
    "Route",
    "SlackApiReceiver",
    "SlackWebhookReceiver",
    "WebhookReceiver",
]

Severity = Literal["info", "warning", "critical"]
NoticeKind = Literal["firing", "reminder", "resolved"]
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SlackWebhookReceiver(_Frozen):
    """A Slack incoming webhook; the URL is the secret."""

    type: Literal["slack_webhook"]
    url: SecretStr
    min_interval_seconds: float = Field(1.0, ge=0, description="Slack allows ~1 message/s")


class SlackApiReceiver(_Frozen):
    """``chat.postMessage`` with a bot token, to a channel or the manager's DM."""

    type: Literal["slack_api"]
    token: SecretStr
    channel: str | None = Field(None, description="channel id or name; fallback for to_manager")
    to_manager: bool = Field(False, description="DM the manager's slack_user_id from sales.org")
    api_url: str = "https://slack.com/api"
    min_interval_seconds: float = Field(1.0, ge=0)

    @model_validator(mode="after")
    def _somewhere(self) -> SlackApiReceiver:
        if not self.channel and not self.to_manager:
            raise ValueError("set channel, to_manager = true, or both")
        return self


class EmailReceiver(_Frozen):
    """SMTP through aiosmtplib: STARTTLS (or implicit TLS) and login."""

    type: Literal["email"]
    host: str
    port: int = Field(587, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    start_tls: bool = Field(True, description="require STARTTLS; fails closed without it")
    use_tls: bool = Field(False, description="implicit TLS (port 465) instead of STARTTLS")
    ca_file: Path | None = Field(None, description="CA bundle to verify the server with")
    sender: str = Field(description="From: address, e.g. 'salespulse <alerts@example.com>'")
    to: list[str] = Field(default_factory=list, description="fixed recipients; fallback")
    to_manager: bool = Field(False, description="mail the manager's email from sales.org")
    timeout_seconds: float = Field(30.0, gt=0)
    min_interval_seconds: float = Field(0.0, ge=0)

    @model_validator(mode="after")
    def _consistent(self) -> EmailReceiver:
        if not self.to and not self.to_manager:
            raise ValueError("set to = [...], to_manager = true, or both")
        if self.start_tls and self.use_tls:
            raise ValueError("start_tls and use_tls exclude each other")
        for address in [self.sender, *self.to]:
            if "\r" in address or "\n" in address:
                raise ValueError("addresses cannot contain line breaks")
        return self


class WebhookReceiver(_Frozen):
    """A generic JSON webhook, signed with HMAC-SHA256 over ``<timestamp>.<body>``."""

    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = Field(None, description="HMAC-SHA256 signing key")
    timeout_seconds: float = Field(10.0, gt=0)
    min_interval_seconds: float = Field(0.0, ge=0)


Receiver = Annotated[
    SlackWebhookReceiver | SlackApiReceiver | EmailReceiver | WebhookReceiver,
    Field(discriminator="type"),
]


class Route(_Frozen):
    """Alerts matching every given list go to ``receivers``; an empty list matches all."""

    teams: list[str] = Field(default_factory=list)
    rules: list[str] = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    receivers: list[str] = Field(min_length=1)
    continue_matching: bool = Field(False, description="also try the routes after this one")

    def matches(self, team_id: str | None, rule: str, severity: str) -> bool:
        return (
            (not self.teams or team_id in self.teams)
            and (not self.rules or rule in self.rules)
            and (not self.severities or severity in self.severities)
        )


class Inhibition(_Frozen):
    """While ``source_rule`` fires (at one of ``source_severities``) for a rep or deal,
    ``target_rules`` for the same rep or deal stay quiet."""

    source_rule: str
    source_severities: list[Severity] = Field(default_factory=lambda: ["critical"])  # type: ignore[arg-type]
    target_rules: list[str] = Field(min_length=1)


class QuietHours(_Frozen):
    """Non-critical notifications wait from ``start`` to ``end`` (local time of the team)."""

    start: time = time(19, 0)
    end: time = time(8, 0)
    timezone: str | None = Field(
        None, description="IANA zone; unset: the manager's (else the rep's) timezone, else UTC"
    )
    weekends: bool = Field(False, description="hold Saturday and Sunday whole as well")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{value!r} is not an IANA time zone") from None
        return value


_REMINDERS_AND_RESOLUTIONS: list[NoticeKind] = ["reminder", "resolved"]

#: The rules of the contract (``streamer.settings.RulesSettings``, which this module must
#: not import; tests/notify/test_config.py holds the two lists equal).
EVERY_RULE = (
    "deal_stalled",
    "quota_pace",
    "low_contact_rate",
    "activity_drop",
    "follow_up_gap",
    "conversion_drop",
    "win_rate_outlier",
    "pipeline_load",
    "activity_barometer",
    "leads_uncontacted",
)


class DigestSettings(_Frozen):
    """Notices gathered per receiver and address into one digest per interval.

    Everywhere, notices of alerts of the ``severities``. In a manager's own inbox (a
    receiver with ``to_manager`` that reaches the manager's email or Slack user) also
    the notices of the ``manager_kinds``, and those of the ``manager_rules`` unless
    critical: by default a manager hears at once of critical alerts, and once a day of
    every other alert, reminder and resolution (a day's rep rules judge every rep at
    the same boundary, so their warnings come in bursts). Shared destinations
    (channels, webhooks, fixed addresses) get every notice at once.

    With ``omit_closed_episodes`` (the default) a digest tells only what is still
    news when it goes out: an episode whose firing and resolution it both gathered
    is left out, counted in one line (:func:`streamer.notify.message.digest_items`).
    """

    severities: list[Severity] = Field(default_factory=list, description="e.g. ['info']")
    manager_rules: list[str] = Field(
        default_factory=lambda: list(EVERY_RULE),
        description="in a manager's own inbox, notices of these rules' alerts unless critical "
        "(default: every rule)",
    )
    manager_kinds: list[NoticeKind] = Field(
        default_factory=lambda: _REMINDERS_AND_RESOLUTIONS.copy(),
        description="in a manager's own inbox, notices of these kinds (firing, reminder, "
        "resolved), whatever the severity",
    )
    interval_seconds: float = Field(
        86_400.0, gt=0, description="a digest goes out this long after its first notice"
    )
    # Alertmanager's precedent: an alert that fires and resolves before its group's
    # notification is flushed (group_wait, group_interval) is never sent to anyone. What a
    # digest would say of such an episode is "this happened and is over": nothing to act on.
    omit_closed_episodes: bool = Field(
        True,
        description="leave out of a digest every alert whose episode opened and closed "
        "while the digest gathered (its firing and its resolution both in it): the digest "
        "says in one line how many, and a digest left with nothing else is not sent (its "
        "count goes into the next one); the alerts stay on sales.alerts",
    )

    def takes(self, rule: str, severity: str, kind: str, to_manager: bool) -> bool:
        """Whether a notice goes into the digest rather than out on its own."""
        if severity in self.severities:
            return True
        if not to_manager:
            return False
        return kind in self.manager_kinds or (rule in self.manager_rules and severity != "critical")


class RetrySettings(_Frozen):
    """Tries of a notification a receiver fails with a retryable error (5xx, network,
    SMTP 4xx). The defaults wait 1, 2, 4, 8, 16, then 30 s (+ up to 20% jitter) between 12
    tries: about 3.5 minutes, so a receiver down for two minutes loses nothing. The waits
    of the first ``inline_seconds`` hold the delivery agent; later tries are parked."""

    max_attempts: int = Field(12, ge=1, description="tries per notification before the DLQ")
    backoff_initial_seconds: float = Field(1.0, gt=0)
    backoff_max_seconds: float = Field(
        30.0, gt=0, description="longest wait between tries: how soon a receiver back is used"
    )
    max_retry_after_seconds: float = Field(
        300.0, gt=0, description="longest Retry-After honoured; longer counts as a failure"
    )
    inline_seconds: float = Field(
        10.0,
        ge=0,
        description="retries are waited for in line up to this long after a notification's "
        "first try; later ones are parked and made from the delivery log, so a receiver's "
        "outage holds up neither the other receivers nor a rebalance",
    )


class NotificationSettings(_Frozen):
    """Everything about delivering alerts to people. No receivers: nothing is sent."""

    receivers: dict[str, Receiver] = Field(default_factory=dict)
    routes: list[Route] = Field(default_factory=list)
    default_receiver: str | None = Field(None, description="receiver for alerts no route takes")
    repeat_interval_seconds: float = Field(
        4 * 3600.0, ge=0, description="reminder while an alert stays open; 0: no reminders"
    )
    max_episode_age_seconds: float = Field(
        3600.0,
        ge=0,
        description="how late the rules may write a firing (its emitted_at less its "
        "started_at and its rule's for_seconds, event time) and still tell people at once: "
        "a later one (a stall revealed by a backfill) is held until the next tick and told "
        "only if the episode still holds, so an episode already over when it becomes known "
        "notifies nobody (it stays on the alerts topic)",
    )
    inhibitions: list[Inhibition] = Field(default_factory=list)
    quiet_hours: dict[str, QuietHours] = Field(
        default_factory=dict, description="per team_id; the key '*' applies to every other team"
    )
    digest: DigestSettings = Field(default_factory=DigestSettings)  # type: ignore[arg-type]
    retry: RetrySettings = Field(default_factory=RetrySettings)  # type: ignore[arg-type]
    dlq_topic: str = Field("sales.notifications-dlq", min_length=1)

    @field_validator("receivers")
    @classmethod
    def _names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not _NAME.fullmatch(name):
                raise ValueError(f"receiver name {name!r}: use a-z, 0-9, '-' and '_'")
        return value

    @model_validator(mode="after")
    def _known_receivers(self) -> NotificationSettings:
        named = [r for route in self.routes for r in route.receivers]
        if self.default_receiver is not None:
            named.append(self.default_receiver)
        unknown = sorted(set(named) - set(self.receivers))
        if unknown:
            raise ValueError(f"routes name receivers that are not configured: {unknown}")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.receivers)

    def quiet_hours_for(self, team_id: str | None) -> QuietHours | None:
        if team_id is not None and team_id in self.quiet_hours:
            return self.quiet_hours[team_id]
        return self.quiet_hours.get("*")

    def revealed(self) -> dict[str, Any]:
        """The settings as plain JSON-able data *with secrets in clear*.

        Only for handing the configuration to a child process's environment;
        never log or print the result.
        """

        def reveal(value: Any) -> Any:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, BaseModel):
                return {k: reveal(getattr(value, k)) for k in type(value).model_fields}
            if isinstance(value, dict):
                return {k: reveal(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [reveal(v) for v in value]
            if isinstance(value, time):
                return value.isoformat()
            if isinstance(value, Path):
                return str(value)
            return value

        return reveal(self)  # type: ignore[no-any-return]
