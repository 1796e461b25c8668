"""What a rule decides: a draft of an alert state change, before routing facts are added."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AlertDraft"]

Status = Literal["firing", "resolved"]
Severity = Literal["info", "warning", "critical"]
Number = float | int | str | None


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """One state change of one alert episode, as a rule decided it.

    ``alert_id`` is deterministic (rule, subject and the episode's own start
    in event time), so a restart or replay names the same episode the same.
    """

    rule: str
    subject_kind: Literal["deal", "rep", "team"]
    subject_id: str
    alert_id: str
    status: Status
    severity: Severity
    title: str
    summary: str
    metrics: dict[str, Number]
    started_at: float
    resolved_at: float | None = None
    rep_id: str | None = None
    team_id: str | None = None

    @property
    def alert_key(self) -> str:
        return f"{self.rule}:{self.subject_kind}:{self.subject_id}"

    @property
    def subject_key(self) -> str:
        return f"{self.subject_kind}:{self.subject_id}"
