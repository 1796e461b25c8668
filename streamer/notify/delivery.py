"""Getting one notification out: rate limits, retries with backoff, the delivery log.

:class:`Dispatcher` owns one sender per receiver and delivers a
:class:`~streamer.notify.message.Notification` to its target: at most one
message per ``min_interval_seconds`` per target (Slack: one a second per
webhook or channel), a 429's ``Retry-After`` honoured (it slows the target
down and does not use up an attempt), 5xx and network errors retried with
exponential backoff up to ``retry.max_attempts``, a broken destination (404,
410, ``invalid_payload``, ``channel_not_found``, SMTP 5xx) given up at once.
Retries are waited for in line only up to ``retry.inline_seconds`` after the first
try; a later one is returned as :attr:`Delivered.retry_in`, and the agent parks the
notification and tries it again from there (:meth:`Dispatcher.deliver` with the tries
made so far), so a receiver's outage holds up neither the other receivers nor a
rebalance. It returns what happened; the agent records it in the delivery log and
sends what failed to the notifications dead-letter topic.

The delivery log itself is a Faust table keyed by notification id
(:func:`log_record`); the agent consults it before sending, so a notification
that reaches the stage twice (a replayed lifecycle message) goes out once.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from .config import (
    EmailReceiver,
    NotificationSettings,
    RetrySettings,
    SlackApiReceiver,
    SlackWebhookReceiver,
    WebhookReceiver,
)
from .email import EmailSender
from .message import Notification, Outcome
from .slack import SlackApiSender, SlackWebhookSender
from .webhook import WebhookSender

__all__ = ["Delivered", "Dispatcher", "Sender", "backoff_seconds", "log_record"]

_MAX_RATE_LIMITED = 20  # 429s tolerated per notification before it counts as failed


class Sender(Protocol):
    async def send(self, notification: Notification, now: float) -> Outcome: ...


def backoff_seconds(attempt: int, retry: RetrySettings, jitter: float = 0.0) -> float:
    """Wait before try ``attempt + 1`` (attempt counts from 1): doubling, capped; ``jitter``
    in [0, 1) spreads it by up to 20%."""
    base = min(retry.backoff_max_seconds, retry.backoff_initial_seconds * 2 ** (attempt - 1))
    return base * (1 + 0.2 * jitter)


def log_record(outcome: Outcome, attempts: int, at: float) -> dict[str, Any]:
    """The delivery log's value for a notification that is done with."""
    return {
        "state": "delivered" if outcome.ok else "failed",
        "attempts": attempts,
        "reason": outcome.reason,
        "at": at,
    }


@dataclass(frozen=True, slots=True)
class Delivered:
    outcome: Outcome
    attempts: int  # tries so far, counting those of earlier calls
    rate_limited: int
    retry_in: float | None = None  # not done: try again (with ``attempts``) this much later


class Dispatcher:
    def __init__(
        self,
        settings: NotificationSettings,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        on_attempt: Callable[[str, Outcome, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self.on_attempt = on_attempt
        self._session: aiohttp.ClientSession | None = None
        self._senders: dict[str, Sender] = {}
        self._next_free: dict[str, float] = {}

    def _sender(self, name: str) -> Sender:
        if name not in self._senders:
            receiver = self.settings.receivers[name]
            if self._session is None:
                self._session = aiohttp.ClientSession()
            sender: Sender
            if isinstance(receiver, SlackWebhookReceiver):
                sender = SlackWebhookSender(receiver, self._session)
            elif isinstance(receiver, SlackApiReceiver):
                sender = SlackApiSender(receiver, self._session)
            elif isinstance(receiver, EmailReceiver):
                sender = EmailSender(receiver)
            else:
                assert isinstance(receiver, WebhookReceiver)
                sender = WebhookSender(receiver, self._session)
            self._senders[name] = sender
        return self._senders[name]

    def use_sender(self, name: str, sender: Sender) -> None:
        """Put a sender in place (tests)."""
        self._senders[name] = sender

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _wait_turn(self, notification: Notification) -> None:
        free_at = self._next_free.get(notification.target_key, 0.0)
        wait = free_at - self.clock()
        if wait > 0:
            await self.sleep(wait)

    def _hold_target(self, notification: Notification, seconds: float) -> None:
        self._next_free[notification.target_key] = max(
            self._next_free.get(notification.target_key, 0.0), self.clock() + seconds
        )

    async def deliver(self, notification: Notification, attempts_before: int = 0) -> Delivered:
        """Try until delivered, broken or out of attempts (``attempts_before`` made
        earlier count), or until the next retry would start more than
        ``retry.inline_seconds`` after this call's first try: then ``retry_in`` says when."""
        receiver = self.settings.receivers.get(notification.receiver)
        if receiver is None:
            return Delivered(Outcome.broken("receiver_not_configured"), attempts_before, 0)
        retry = self.settings.retry
        sender = self._sender(notification.receiver)
        attempts, rate_limited = attempts_before, 0
        first_try = self.clock()
        while True:
            await self._wait_turn(notification)
            started = time.perf_counter()
            outcome = await sender.send(notification, self.clock())
            attempts += 1
            if self.on_attempt is not None:
                self.on_attempt(notification.receiver, outcome, time.perf_counter() - started)
            self._hold_target(notification, receiver.min_interval_seconds)
            if outcome.ok or not outcome.retry:
                return Delivered(outcome, attempts, rate_limited)
            if outcome.rate_limited:
                rate_limited += 1
                after = outcome.retry_after or 1.0
                if after > retry.max_retry_after_seconds or rate_limited > _MAX_RATE_LIMITED:
                    return Delivered(outcome, attempts, rate_limited)
                attempts -= 1  # a 429 slows the target down; it is not a failed try
                self._hold_target(notification, after)
                continue
            if attempts >= retry.max_attempts:
                return Delivered(outcome, attempts, rate_limited)
            wait = backoff_seconds(attempts, retry, random.random())  # noqa: S311
            if outcome.retry_after is not None:
                wait = max(wait, min(outcome.retry_after, retry.max_retry_after_seconds))
            if self.clock() + wait - first_try > retry.inline_seconds:
                return Delivered(outcome, attempts, rate_limited, retry_in=wait)
            await self.sleep(wait)
