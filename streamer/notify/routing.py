"""Who hears about an alert, and when: routes, managers from ``sales.org``, quiet hours.

Pure: the alert (a dict of the contract's message), the settings and the org
chart in; targets out. A :class:`Target` is one receiver and one concrete
address on it (an email address, a Slack channel or user), so that rate limits
and digests apply per address, i.e. per manager.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .config import (
    EmailReceiver,
    NotificationSettings,
    QuietHours,
    SlackApiReceiver,
)
from .message import Item, Notification

if TYPE_CHECKING:
    from .lifecycle import Notice

__all__ = [
    "Person",
    "Target",
    "digested",
    "notification_id",
    "plan",
    "release_at",
    "route",
    "team_timezone",
]


class Person(Protocol):
    """What routing needs of an org-chart entry (``streamer.core.deal_engine.RepInfo``)."""

    team_id: str
    manager_id: str
    email: str | None
    slack_user_id: str | None
    timezone: str | None


@dataclass(frozen=True, slots=True, order=True)
class Target:
    receiver: str
    address: str = ""  # "" : the receiver's fixed destination (webhook URL, channel)
    to_manager: bool = False  # the address is the manager's own (email, Slack user)

    @property
    def key(self) -> str:
        return f"{self.receiver}|{self.address}"


def _team_and_manager(
    alert: Mapping[str, Any], people: Mapping[str, Person]
) -> tuple[str | None, str | None]:
    rep = people.get(alert.get("rep_id") or "")
    team = alert.get("team_id") or (rep.team_id if rep is not None else None)
    manager = alert.get("manager_id") or (rep.manager_id if rep is not None else None)
    return team, manager


def route(
    alert: Mapping[str, Any], settings: NotificationSettings, people: Mapping[str, Person]
) -> list[Target]:
    """The targets of an alert: matching routes in order, else the default receiver.

    Rep alerts carry the rep, deal alerts the deal owner: both reach the rep's
    manager from ``sales.org`` on receivers with ``to_manager``. A receiver
    whose manager address is unknown falls back to its fixed ``to``/``channel``,
    or is skipped when it has none.
    """
    team, manager_id = _team_and_manager(alert, people)
    names: list[str] = []
    for route_ in settings.routes:
        if route_.matches(team, alert["rule"], alert["severity"]):
            names += [n for n in route_.receivers if n not in names]
            if not route_.continue_matching:
                break
    if not names and settings.default_receiver is not None:
        names = [settings.default_receiver]
    manager = people.get(manager_id) if manager_id else None
    targets: list[Target] = []
    for name in names:
        receiver = settings.receivers[name]
        if isinstance(receiver, EmailReceiver):
            if receiver.to_manager and manager is not None and manager.email:
                targets.append(Target(name, manager.email, to_manager=True))
            elif receiver.to:
                targets.append(Target(name, ",".join(receiver.to)))
        elif isinstance(receiver, SlackApiReceiver):
            if receiver.to_manager and manager is not None and manager.slack_user_id:
                targets.append(Target(name, manager.slack_user_id, to_manager=True))
            elif receiver.channel:
                targets.append(Target(name, receiver.channel))
        else:
            targets.append(Target(name, ""))
    return targets


def team_timezone(
    alert: Mapping[str, Any], quiet: QuietHours, people: Mapping[str, Person]
) -> ZoneInfo:
    """The zone of the quiet hours: configured, else the manager's, else the rep's, else UTC."""
    _, manager_id = _team_and_manager(alert, people)
    candidates = [quiet.timezone]
    for person_id in (manager_id, alert.get("rep_id")):
        person = people.get(person_id or "")
        candidates.append(person.timezone if person is not None else None)
    for name in candidates:
        if name:
            try:
                return ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def _quiet_at(local: datetime, quiet: QuietHours) -> bool:
    if quiet.weekends and local.weekday() >= 5:
        return True
    t = local.time().replace(tzinfo=None)
    if quiet.start == quiet.end:
        return False
    if quiet.start < quiet.end:
        return quiet.start <= t < quiet.end
    return t >= quiet.start or t < quiet.end


def release_at(now: float, severity: str, quiet: QuietHours | None, zone: ZoneInfo) -> float | None:
    """When a notification may go out: ``None`` for now, else the end of the quiet hours.

    Critical alerts are never held.
    """
    if quiet is None or severity == "critical":
        return None
    local = datetime.fromtimestamp(now, tz=zone)
    if not _quiet_at(local, quiet):
        return None
    # walk forward to the next local ``end`` that is not itself quiet (weekends)
    day = local.date()
    for _ in range(8):
        candidate = datetime.combine(day, quiet.end, tzinfo=zone)
        if candidate > local and not _quiet_at(candidate, quiet):
            return candidate.timestamp()
        day += timedelta(days=1)
    return None


def digested(
    alert: Mapping[str, Any], kind: str, settings: NotificationSettings, to_manager: bool
) -> bool:
    """Whether a notice of ``kind`` about ``alert`` goes into a digest rather than out on
    its own, to a manager's own address or not (:meth:`~.config.DigestSettings.takes`)."""
    return settings.digest.takes(str(alert["rule"]), str(alert["severity"]), kind, to_manager)


def notification_id(alert_id: str, kind: str, seq: int, receiver: str) -> str:
    return f"{alert_id}:{kind}:{seq}:{receiver}"


def plan(
    notices: list[Notice],
    settings: NotificationSettings,
    people: Mapping[str, Person],
    now: float,
) -> tuple[list[Notification], list[Notice]]:
    """Turn the lifecycle's notices into notifications, one per target.

    Returns the notifications and the notices no receiver takes (unroutable).
    What :func:`digested` takes is marked for the digest (per target: a manager's
    own inbox takes more than a shared channel); other non-critical notifications
    in the team's quiet hours carry ``not_before`` (the end of them); reminders that
    fall in quiet hours are dropped, the next one comes after the repeat interval.
    """
    out: list[Notification] = []
    unroutable: list[Notice] = []
    for notice in notices:
        alert = notice.alert
        targets = route(alert, settings, people)
        if not targets:
            unroutable.append(notice)
            continue
        not_before = None
        team, _ = _team_and_manager(alert, people)
        quiet = settings.quiet_hours_for(team)
        if quiet is not None:
            zone = team_timezone(alert, quiet, people)
            not_before = release_at(now, alert["severity"], quiet, zone)
        for target in targets:
            digest = digested(alert, notice.kind, settings, target.to_manager)
            if digest:
                held = None  # a digest goes out when its interval ends
            elif not_before is not None and notice.kind == "reminder":
                continue
            else:
                held = not_before
            out.append(
                Notification(
                    id=notification_id(notice.alert_id, notice.kind, notice.seq, target.receiver),
                    receiver=target.receiver,
                    address=target.address,
                    kind=notice.kind,
                    items=(Item(notice.kind, dict(alert)),),
                    created_at=now,
                    not_before=held,
                    digest=digest,
                )
            )
    return out, unroutable
