"""What managers would have been told over a history of alert messages.

For ``salespulse backtest``: the alert messages a replay emitted go, in the order
they were written, through the very lifecycle the worker's notification side
runs (:mod:`.lifecycle`: first tellings, reminders, resolutions, old news held)
and the digest rule of :mod:`.routing`, on event time: each message at its
``emitted_at``, reminders and held firings when they fall due. A notice reaches
the manager the alert names (``manager_id``) in the manager's own inbox, as a
receiver with ``to_manager`` delivers it; a digest counts once per manager and
digest interval, however many notices it gathers, on the day it goes out (an
interval after its first notice). A digest is put together as the worker puts it
together (:func:`.message.digest_items`): with ``omit_closed_episodes`` it leaves
out the episodes that opened and closed while it gathered, and a digest left with
nothing is not sent. ``first_told`` says, per episode, when a manager first
received a notification about it: at once, or when the digest holding it went out.
Quiet hours only delay a
notification, so they do not change the count (reminders they would skip are
counted: an upper bound).
Acknowledgements and snoozes are people's doing and cannot be foreseen: none
are assumed.

Pure: messages in, counts out.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .config import NotificationSettings
from .lifecycle import (
    Notice,
    Policy,
    SubjectState,
    next_due,
    on_alert,
    on_tick,
    policy_of,
    skip_reminders,
)
from .message import Item, digest_items
from .routing import digested

__all__ = ["Inbox"]

_TICK = 1.0  # a tick comes after the moment something fell due (a second is enough)


@dataclass
class Inbox:
    """Counts what each manager is told as alert messages are fed in time order."""

    settings: NotificationSettings
    fire_delays: Mapping[tuple[str | None, str], float] = field(default_factory=dict)
    policy: Policy = field(init=False)
    subjects: dict[str, SubjectState] = field(default_factory=dict)
    notifications: Counter[str] = field(default_factory=Counter)  # manager -> sent
    daily: Counter[tuple[str, int]] = field(default_factory=Counter)  # (manager, UTC day)
    notices: Counter[tuple[str, str]] = field(default_factory=Counter)  # (rule, kind) -> told
    first_told: dict[str, float] = field(default_factory=dict)  # alert_id -> first received
    left_out: Counter[str] = field(default_factory=Counter)  # rule -> episodes left out
    _digest_until: dict[str, float] = field(default_factory=dict)
    _digests: dict[str, list[Item]] = field(default_factory=dict)  # manager -> open digest
    _flushes: list[tuple[float, str]] = field(default_factory=list)  # (goes out, manager)
    _carried: dict[str, dict[str, int]] = field(default_factory=dict)  # of digests not sent
    _due: list[tuple[float, str, float]] = field(default_factory=list)
    _fired: dict[str, str] = field(default_factory=dict)  # alert_id -> rule, of firings
    _told: set[str] = field(default_factory=set)  # alert_ids whose firing was told
    _now: float = float("-inf")

    def __post_init__(self) -> None:
        self.policy = policy_of(self.settings, self.fire_delays)

    def feed(self, alert: Mapping[str, Any]) -> None:
        """One alert message (a dict of the contract's alert, as JSON gives it)."""
        now = _epoch(alert["emitted_at"])
        self.run_until(now)
        self._now = max(self._now, now)
        if alert["status"] == "firing":
            self._fired.setdefault(str(alert["alert_id"]), str(alert["rule"]))
        key = f"{alert['subject']['kind']}:{alert['subject']['id']}"
        subject = self.subjects.get(key) or SubjectState.empty(key, 0)
        subject, told = on_alert(subject, alert, self._now, self.policy)
        self._store(key, subject, told, self._now)

    def run_until(self, moment: float) -> None:
        """Let time pass up to ``moment``: reminders and held firings that fall due, and
        digests that go out (a digest going out at the instant a notice comes goes first,
        as the notice opens the next one)."""
        while self._due and self._due[0][0] <= moment:
            tick, key, due = heapq.heappop(self._due)
            self._flush_until(tick)
            subject = self.subjects[key]
            if next_due(subject) != due:
                continue  # superseded by a later change of the subject
            self._now = max(self._now, tick)
            absorbed = self._absorbing_digest(subject, moment)
            if absorbed is not None:  # reminders nobody sees on their own: counted at once
                subject, skipped = skip_reminders(subject, absorbed, self.policy)
                if skipped:
                    for alert_key, n in skipped.items():
                        rule = alert_key.partition(":")[0]
                        self.notices[(rule, "reminder")] += n
                        reminded = subject.alerts[alert_key].alert
                        if reminded is not None:  # the digest holds them (one item says so)
                            manager = str(reminded.get("manager_id"))
                            self._digests[manager].append(Item("reminder", reminded))
                    self.subjects[key] = subject
                    following = next_due(subject)
                    if following is not None:
                        tick = max(following, self._now) + _TICK
                        heapq.heappush(self._due, (tick, key, following))
                    continue
            subject, told = on_tick(subject, self._now, self.policy)
            self._store(key, subject, told, self._now)
        self._flush_until(moment)

    def _flush_until(self, moment: float) -> None:
        """The digests that go out by ``moment``, in the order they go out."""
        while self._flushes and self._flushes[0][0] <= moment:
            at, manager = heapq.heappop(self._flushes)
            self._flush(manager, at)

    def _flush(self, manager: str, at: float) -> None:
        items, closed = digest_items(
            self._digests.pop(manager, []), self.settings.digest.omit_closed_episodes
        )
        self.left_out.update(closed)
        carried = Counter(self._carried.pop(manager, {}))
        carried.update(closed)
        if not items:  # nothing left to tell: not sent, its count goes into the next one
            self._carried[manager] = dict(carried)
            return
        self._send(manager, at, [str(item.alert["alert_id"]) for item in items])

    def _absorbing_digest(self, subject: SubjectState, moment: float) -> float | None:
        """Until when (at most ``moment``) the digest open now for the manager of every
        alert of ``subject`` takes in their reminders: None when one would be sent on its
        own, or no digest is open (a reminder may open one: it is told one by one)."""
        until = moment
        for state in subject.alerts.values():
            alert = state.alert
            if alert is None or state.status != "firing":
                continue
            if state.told != "firing" or state.held_at is not None or state.snoozed:
                return None  # something else falls due: on_tick tells it
            manager = alert.get("manager_id")
            if not manager or not digested(alert, "reminder", self.settings, to_manager=True):
                return None
            until = min(until, self._digest_until.get(manager, float("-inf")))
        return until if until > self._now else None

    def _store(self, key: str, subject: SubjectState, told: list[Notice], now: float) -> None:
        before = self.subjects.get(key)
        self.subjects[key] = subject
        for notice in told:
            self._deliver(notice, now)
        due = next_due(subject)
        if due is not None and (before is None or next_due(before) != due or told):
            heapq.heappush(self._due, (max(due, now) + _TICK, key, due))

    def _deliver(self, notice: Notice, now: float) -> None:
        alert = notice.alert
        self.notices[(str(alert["rule"]), notice.kind)] += 1
        if notice.kind == "firing":
            self._told.add(notice.alert_id)
        manager = alert.get("manager_id")
        if not manager:
            return
        if digested(alert, notice.kind, self.settings, to_manager=True):
            if now >= self._digest_until.get(manager, float("-inf")):  # opens one
                until = now + self.settings.digest.interval_seconds
                self._digest_until[manager] = until
                self._digests[manager] = []
                heapq.heappush(self._flushes, (until, manager))
            self._digests[manager].append(Item(notice.kind, alert))
            return
        self._send(manager, now, [notice.alert_id])

    def _send(self, manager: str, at: float, alert_ids: list[str]) -> None:
        self.notifications[manager] += 1
        self.daily[(manager, int(at // 86_400))] += 1
        for alert_id in alert_ids:
            self.first_told.setdefault(alert_id, at)

    def finish(self, moment: float) -> None:
        """The history ends at ``moment``: what falls due until then is told, and the
        digests still open go out when they would (after the end)."""
        self.run_until(moment)
        self._flush_until(math.inf)

    def withheld(self) -> Counter[str]:
        """Per rule, the episodes written as firing that nobody was told of."""
        return Counter(rule for alert_id, rule in self._fired.items() if alert_id not in self._told)


def _epoch(moment: Any) -> float:
    if isinstance(moment, datetime):
        return moment.timestamp()
    return datetime.fromisoformat(str(moment).replace("Z", "+00:00")).timestamp()
