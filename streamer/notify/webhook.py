"""A generic JSON webhook, signed so the receiver can verify it and refuse replays.

Headers of every request:

* ``X-Salespulse-Timestamp``: POSIX seconds when the request was signed;
* ``X-Salespulse-Signature``: ``sha256=<hex>``, HMAC-SHA256 with the shared
  secret over ``<timestamp>.<body bytes>`` (reject old timestamps: replays);
* ``Idempotency-Key``: the notification id, the same on every retry and after
  a restart, so the receiver can drop repeats.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import aiohttp

from .config import WebhookReceiver
from .message import Notification, Outcome, parse_retry_after

__all__ = ["WebhookSender", "sign", "verify", "webhook_body"]


def webhook_body(notification: Notification) -> bytes:
    """The JSON body; a digest that left out episodes which opened and closed since the
    last one says how many per rule in ``closed`` (absent when none)."""
    data: dict[str, object] = {
        "notification_id": notification.id,
        "kind": notification.kind,
        "receiver": notification.receiver,
        "updates": [{"kind": i.kind, "alert": dict(i.alert)} for i in notification.items],
    }
    if notification.closed:
        data["closed"] = dict(notification.closed)
    return json.dumps(data, separators=(",", ":"), sort_keys=True).encode()


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: bytes, timestamp: str, body: bytes, signature: str, now: float, tolerance: float = 300
) -> bool:
    """What a receiver does: check the signature and refuse stale timestamps."""
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    if abs(now - ts) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class WebhookSender:
    def __init__(self, receiver: WebhookReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver = receiver
        self.session = session

    async def send(self, notification: Notification, now: float) -> Outcome:
        body = webhook_body(notification)
        timestamp = int(now)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "salespulse-notifier",
            "Idempotency-Key": notification.id,
            "X-Salespulse-Timestamp": str(timestamp),
        }
        if self.receiver.secret is not None:
            secret = self.receiver.secret.get_secret_value().encode()
            headers["X-Salespulse-Signature"] = sign(secret, timestamp, body)
        try:
            async with self.session.post(
                self.receiver.url.get_secret_value(),
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.receiver.timeout_seconds),
            ) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                await response.read()
        except (TimeoutError, aiohttp.ClientError) as error:
            return Outcome.again(f"network_{type(error).__name__}")
        if 200 <= status < 300:
            return Outcome.delivered()
        if status == 429:
            return Outcome.again("rate_limited", parse_retry_after(retry_after) or 1.0, True)
        if status >= 500 or status == 408:
            return Outcome.again(f"http_{status}", parse_retry_after(retry_after))
        return Outcome.broken(f"http_{status}")
