"""The alert lifecycle as seen by people: what to tell them, and when.

Pure and synchronous: a subject's state, an alert message, a command or the
passing of time (``now``, POSIX seconds) in; the new state and the notices due
out. No Kafka, no clock.

State is kept per *subject* (``deal:<id>``, ``rep:<id>``), the key of both the
alerts and the commands topic, so every alert of one rep or deal is in one
value and inhibition between them is a local decision.

Per alert (``alert_key``) the state remembers what people were told about the
current episode (``alert_id``): ``told`` is ``None``, ``"firing"`` or
``"resolved"``. :func:`reconcile` compares that with the alert's status and the
mutes (snooze, inhibition, ack for reminders) and emits what is missing:

* firing, not muted, not yet told: a ``firing`` notice;
* firing, told, not acknowledged, repeat interval passed: a ``reminder``;
* resolved and people were told it fired: a ``resolved`` notice;
* snoozed: nothing at all until the snooze ends; then the current state is
  told again (firing if it still holds, resolved if it ended meanwhile);
* old news: a firing the rules wrote more than ``max_age_seconds`` after it
  could first have been written (``emitted_at - started_at - for``, event time,
  where ``for`` is its rule's for the alert's team: a stall revealed by a
  backfill, a quiet spell found together with its end) is held until the next
  step after it (the next message of the subject, or the next tick), and told
  then only if the episode still holds. An episode already over when it
  becomes known (its resolution written right behind its firing) is thus told
  to nobody, neither firing nor resolved; it stays on ``sales.alerts`` for the
  record.

Each notice carries ``seq``, its rank within the episode, so the notification
ids built from it (``<alert_id>:<kind>:<seq>:<receiver>``) are the same when a
message is processed twice: the delivery log then recognises the repeat.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from .config import Inhibition, NoticeKind, NotificationSettings

__all__ = [
    "AlertState",
    "Command",
    "Notice",
    "Policy",
    "SubjectState",
    "next_due",
    "on_alert",
    "on_command",
    "on_tick",
    "policy_of",
    "skip_reminders",
    "subject_key_of",
]


def subject_key_of(alert_key: str) -> str:
    """``deal_stalled:deal:deal-9`` -> ``deal:deal-9`` (rule names hold no colon)."""
    rule, sep, subject = alert_key.partition(":")
    if not sep or not rule or ":" not in subject:
        raise ValueError(f"not an alert_key: {alert_key!r}")
    return subject


@dataclass(frozen=True, slots=True)
class Policy:
    """``max_age_seconds``: how late the rules may write a firing and it still be told at
    once (see the module doc; unlimited by default); ``fire_delays``: each rule's ``for``
    by (team, rule), ``None`` for the team of every other team
    (:func:`streamer.settings.rule_fire_delays`)."""

    repeat_interval_seconds: float = 4 * 3600.0
    inhibitions: tuple[Inhibition, ...] = ()
    max_age_seconds: float = math.inf
    fire_delays: Mapping[tuple[str | None, str], float] = field(default_factory=dict)

    def lateness_of(self, alert: Mapping[str, Any]) -> float:
        """How long after it could first have been written the firing ``alert`` was (0
        when the message does not say when it was written)."""
        emitted, started = alert.get("emitted_at"), alert.get("started_at")
        if not emitted or not started:
            return 0.0
        rule, team = str(alert.get("rule")), alert.get("team_id")
        delay = self.fire_delays.get((team, rule), self.fire_delays.get((None, rule), 0.0))
        return _epoch(emitted) - _epoch(started) - delay


@dataclass(frozen=True, slots=True)
class Command:
    kind: Literal["ack", "snooze", "unsnooze"]
    alert_key: str
    by: str
    until: float | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """Something people should hear about one alert."""

    alert_key: str
    alert_id: str
    kind: NoticeKind
    seq: int
    alert: Mapping[str, Any]
    after_snooze: bool = False


@dataclass(frozen=True, slots=True)
class AlertState:
    alert_key: str
    alert: dict[str, Any] | None = None  # the latest alert message of the episode
    alert_id: str | None = None
    status: str | None = None
    started_at: str | None = None  # RFC 3339 UTC text orders like the instant
    told: str | None = None
    seq: int = 0
    acked_by: str | None = None
    snoozed: bool = False
    snooze_until: float | None = None  # None while snoozed: until an unsnooze
    snooze_by: str | None = None
    snooze_reason: str | None = None
    retell: bool = False  # tell the state again when the snooze ends
    next_reminder_at: float | None = None
    held_at: float | None = None  # old news: told after this moment, if it still holds

    def is_snoozed(self, now: float) -> bool:
        return self.snoozed and (self.snooze_until is None or now < self.snooze_until)


@dataclass(frozen=True, slots=True)
class SubjectState:
    subject_key: str
    partition: int
    alerts: dict[str, AlertState] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject_key": self.subject_key,
            "partition": self.partition,
            "alerts": {k: asdict(v) for k, v in sorted(self.alerts.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SubjectState:
        return cls(
            data["subject_key"],
            int(data["partition"]),
            {k: AlertState(**v) for k, v in data.get("alerts", {}).items()},
        )

    @classmethod
    def empty(cls, subject_key: str, partition: int) -> SubjectState:
        return cls(subject_key, partition, {})


def _inhibited(target: AlertState, others: Iterable[AlertState], policy: Policy) -> bool:
    if target.alert is None:
        return False
    rule = target.alert["rule"]
    for source in others:
        if source.alert is None or source.alert_key == target.alert_key:
            continue
        if source.status != "firing":
            continue
        for inhibition in policy.inhibitions:
            if (
                source.alert["rule"] == inhibition.source_rule
                and source.alert["severity"] in inhibition.source_severities
                and rule in inhibition.target_rules
            ):
                return True
    return False


def reconcile(
    state: AlertState, now: float, inhibited: bool, policy: Policy
) -> tuple[AlertState, list[Notice]]:
    """Bring what people were told in line with the alert's state (see module doc)."""
    if state.alert is None or state.alert_id is None or state.is_snoozed(now):
        return state, []
    alert, alert_id = state.alert, state.alert_id
    if state.snoozed:  # the snooze has run out
        state = replace(state, snoozed=False, snooze_until=None)
    if state.held_at is not None:
        if state.status == "firing" and now <= state.held_at:
            return state, []  # old news: wait one step for its resolution
        state = replace(state, held_at=None)
    repeat = policy.repeat_interval_seconds
    if state.status == "firing":
        if inhibited:
            return state, []
        if state.told != "firing" or state.retell:
            kind: NoticeKind = "firing"
        elif (
            state.acked_by is None
            and repeat > 0
            and state.next_reminder_at is not None
            and now >= state.next_reminder_at
        ):
            kind = "reminder"
        else:
            return state, []
        seq = state.seq + 1
        notice = Notice(state.alert_key, alert_id, kind, seq, alert, state.retell)
        return (
            replace(
                state,
                told="firing",
                seq=seq,
                retell=False,
                next_reminder_at=now + repeat if repeat > 0 else None,
            ),
            [notice],
        )
    if state.status == "resolved" and state.told == "firing":
        seq = state.seq + 1
        notice = Notice(state.alert_key, alert_id, "resolved", seq, alert)
        return replace(state, told="resolved", seq=seq, retell=False, next_reminder_at=None), [
            notice
        ]
    return replace(state, retell=False), []


def _reconcile_all(
    subject: SubjectState, now: float, policy: Policy
) -> tuple[SubjectState, list[Notice]]:
    alerts = dict(subject.alerts)
    notices: list[Notice] = []
    for key in sorted(alerts):
        muted = _inhibited(alerts[key], alerts.values(), policy)
        alerts[key], due = reconcile(alerts[key], now, muted, policy)
        notices += due
    return replace(subject, alerts=alerts), notices


def policy_of(
    settings: NotificationSettings, fire_delays: Mapping[tuple[str | None, str], float]
) -> Policy:
    """The lifecycle policy the notification side builds from its settings and the rules'
    ``for`` (:func:`streamer.settings.rule_fire_delays`)."""
    return Policy(
        settings.repeat_interval_seconds,
        tuple(settings.inhibitions),
        settings.max_episode_age_seconds,
        dict(fire_delays),
    )


def on_alert(
    subject: SubjectState, alert: Mapping[str, Any], now: float, policy: Policy
) -> tuple[SubjectState, list[Notice]]:
    """Take one message of the alerts topic (a dict of the contract's alert)."""
    key = alert["alert_key"]
    current = subject.alerts.get(key) or AlertState(alert_key=key)
    status = alert["status"]
    if current.alert_id == alert["alert_id"]:
        if current.status == status or current.status == "resolved":
            return subject, []  # a repeat, or a late firing copy after the resolution
        updated = replace(current, alert=dict(alert), status=status)
    elif current.started_at is None or alert["started_at"] >= current.started_at:
        # a new episode: ack and reminders start over; a snooze stays (it names a time)
        updated = replace(
            current,
            alert=dict(alert),
            alert_id=alert["alert_id"],
            status=status,
            started_at=alert["started_at"],
            told=None,
            seq=0,
            acked_by=None,
            retell=False,
            next_reminder_at=None,
            held_at=now
            if status == "firing" and policy.lateness_of(alert) > policy.max_age_seconds
            else None,
        )
    else:
        return subject, []  # an older episode replayed late
    subject = replace(subject, alerts={**subject.alerts, key: updated})
    return _reconcile_all(subject, now, policy)


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00")).timestamp()


def on_command(
    subject: SubjectState, command: Command, now: float, policy: Policy
) -> tuple[SubjectState, list[Notice]]:
    """Apply ``alert.ack`` / ``alert.snooze`` / ``alert.unsnooze``."""
    current = subject.alerts.get(command.alert_key) or AlertState(alert_key=command.alert_key)
    if command.kind == "ack":
        if current.alert is None:
            return subject, []
        updated = replace(current, acked_by=command.by, next_reminder_at=None)
    elif command.kind == "snooze":
        if command.until is not None and command.until <= now:
            return subject, []
        updated = replace(
            current,
            snoozed=True,
            snooze_until=command.until,
            snooze_by=command.by,
            snooze_reason=command.reason,
            retell=current.retell or current.told == "firing",
        )
    else:
        if not current.snoozed:
            return subject, []
        updated = replace(current, snoozed=False, snooze_until=None)
    subject = replace(subject, alerts={**subject.alerts, command.alert_key: updated})
    return _reconcile_all(subject, now, policy)


def on_tick(subject: SubjectState, now: float, policy: Policy) -> tuple[SubjectState, list[Notice]]:
    """Time has passed: snoozes end, reminders fall due."""
    return _reconcile_all(subject, now, policy)


def skip_reminders(
    subject: SubjectState, until: float, policy: Policy
) -> tuple[SubjectState, dict[str, int]]:
    """The plain reminders of ``subject`` falling due before ``until``, all at once, for a
    caller that only counts them (the backtest, while a digest takes them in anyway): the
    state :func:`on_tick` at each of their due times would leave (the schedule kept), and
    per ``alert_key`` how many. Alerts that a snooze, an inhibition or a hold makes
    anything but a plain reminder are left for :func:`on_tick`."""
    repeat = policy.repeat_interval_seconds
    alerts = dict(subject.alerts)
    skipped: dict[str, int] = {}
    for key, state in subject.alerts.items():
        due = state.next_reminder_at
        if (
            repeat <= 0
            or due is None
            or due >= until
            or state.status != "firing"
            or state.told != "firing"
            or state.acked_by is not None
            or state.snoozed
            or state.retell
            or state.held_at is not None
            or _inhibited(state, subject.alerts.values(), policy)
        ):
            continue
        n = math.ceil((until - due) / repeat)
        alerts[key] = replace(state, seq=state.seq + n, next_reminder_at=due + n * repeat)
        skipped[key] = n
    if not skipped:
        return subject, {}
    return replace(subject, alerts=alerts), skipped


def next_due(subject: SubjectState) -> float | None:
    """The earliest instant at which :func:`on_tick` may have something to say."""
    times: list[float] = []
    for state in subject.alerts.values():
        if state.held_at is not None and state.status == "firing":
            times.append(state.held_at)  # told at the first tick after it
        if state.snoozed and state.snooze_until is not None:
            times.append(state.snooze_until)
        elif not state.snoozed and state.status == "firing" and state.next_reminder_at:
            times.append(state.next_reminder_at)
    return min(times, default=None)
