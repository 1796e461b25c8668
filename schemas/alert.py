"""The alert message salespulse writes to ``sales.alerts`` (contract section 4)."""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import ConfigDict, Field, FiniteFloat, StringConstraints, model_validator

from schemas.envelope import SCHEMA_VERSION, WireModel
from schemas.fields import OutputId, UtcDatetime

__all__ = ["Alert", "AlertStatus", "AlertSubject", "Severity", "SubjectKind", "alert_key_for"]

SubjectKind = Literal["deal", "rep", "team"]
AlertStatus = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]
MetricValue = int | FiniteFloat | str | None


class AlertSubject(WireModel):
    """What an alert is about."""

    kind: SubjectKind = Field(description="The kind of thing the alert is about.")
    id: OutputId = Field(description="Its id: a deal_id, rep_id or team_id.")

    @property
    def key(self) -> str:
        """The Kafka key of the subject's alerts: ``deal:<id>``, ``rep:<id>``, ``team:<id>``."""
        return f"{self.kind}:{self.id}"


def alert_key_for(rule: str, subject: AlertSubject) -> str:
    """The ``alert_key`` of a rule's condition on a subject: ``<rule>:<kind>:<id>``."""
    return f"{rule}:{subject.key}"


class Alert(WireModel):
    """One state change of an alert: it started firing, fired again after a snooze, or resolved.

    A consumer that keeps the last message per `alert_key` has the current set
    of open alerts.
    """

    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    schema_version: int = Field(
        default=SCHEMA_VERSION, strict=True, ge=1, description="Version of the wire contract."
    )
    alert_id: OutputId = Field(
        description="Names one episode of the condition; the same id however often a worker "
        "restarts or replays."
    )
    alert_key: OutputId = Field(
        description="Names the condition: `<rule>:<subject.kind>:<subject.id>`, e.g. "
        "`deal_stalled:deal:deal-9`. Alert commands refer to it."
    )
    rule: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$")] = Field(
        description="The rule that decided: deal_stalled, quota_pace, low_contact_rate, "
        "activity_drop, follow_up_gap, conversion_drop, win_rate_outlier, pipeline_load, "
        "activity_barometer, leads_uncontacted."
    )
    status: AlertStatus = Field(description="Whether the condition holds (firing) or ended.")
    severity: Severity = Field(description="How urgent it is.")
    subject: AlertSubject = Field(description="What the alert is about.")
    rep_id: OutputId | None = Field(
        default=None, description="The rep concerned, when there is one."
    )
    team_id: OutputId | None = Field(default=None, description="The team concerned, when known.")
    manager_id: OutputId | None = Field(
        default=None,
        description="The manager to notify, from the rep's latest rep.upserted, when known.",
    )
    title: str = Field(description="One line for people, e.g. 'Deal deal-9 stalled in proposal'.")
    summary: str = Field(description="The decision explained in a sentence or two, with numbers.")
    metrics: dict[str, MetricValue] = Field(
        description="The numbers that made the decision: the measured value, the baseline or "
        "threshold, the sample size."
    )
    started_at: UtcDatetime = Field(
        description="When the condition started to hold (event time), UTC."
    )
    resolved_at: UtcDatetime | None = Field(
        default=None, description="When the condition stopped holding, UTC; null while firing."
    )
    emitted_at: UtcDatetime = Field(description="When this message was written, UTC.")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        # Consumers key state on alert_key and read resolved_at as "closed":
        # a message that contradicts itself would corrupt both.
        expected_key = alert_key_for(self.rule, self.subject)
        if self.alert_key != expected_key:
            raise ValueError(f"alert_key must be {expected_key!r}, got {self.alert_key!r}")
        if (self.status == "resolved") != (self.resolved_at is not None):
            raise ValueError("resolved_at must be set exactly when status is 'resolved'")
        return self

    @classmethod
    def from_json(cls, raw: bytes | str) -> Alert:
        """Read an alert message; raises :class:`pydantic.ValidationError` when it is not one."""
        return cls.model_validate_json(raw)
