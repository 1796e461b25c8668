"""Slack: Block Kit messages that read well on a phone, and the two ways to post them.

Formatting is pure (:func:`slack_message`). Limits honoured: at most 50 blocks,
header text 150 characters, section text 3,000, a field 2,000, at most 10
fields; a top-level ``text`` fallback always. CRM text is escaped as Slack asks:
only ``&``, ``<`` and ``>``.

Senders map Slack's answers to an :class:`~streamer.notify.message.Outcome`:
200 ``ok`` delivered; 429 retried after ``Retry-After``; 5xx and network
errors retried; any other 4xx (404 ``channel_not_found``, 410
``channel_is_archived``, 400 ``invalid_payload``, 403 ...) and Web API errors
such as ``channel_not_found`` or ``invalid_auth`` mean the destination is
broken: reported, not retried.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import aiohttp

from .config import SlackApiReceiver, SlackWebhookReceiver
from .message import Notification, Outcome, parse_retry_after
from .text import closed_line, headline, numbers, subject_line, when_line

__all__ = [
    "ACTIONS_BLOCK_ID",
    "ACTION_IDS",
    "SlackApiSender",
    "SlackWebhookSender",
    "action_block",
    "escape",
    "slack_message",
]

MAX_BLOCKS = 50
HEADER_CHARS = 150
SECTION_CHARS = 3000
FIELD_CHARS = 2000
MAX_FIELDS = 10
TEXT_CHARS = 3000
_RETRYABLE_API_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable"}

ACTIONS_BLOCK_ID = "salespulse_actions"
ACTION_IDS = {
    "salespulse_ack": ("ack", None),
    "salespulse_snooze_1d": ("snooze", "1d"),
    "salespulse_snooze_1w": ("snooze", "1w"),
}
"""Button action_id -> (alert command, snooze duration); `salespulse gateway` reads them
back from Slack's interaction payloads (``value`` is the alert_key)."""
_BUTTON_TEXT = {
    "salespulse_ack": "Acknowledge",
    "salespulse_snooze_1d": "Snooze 1 day",
    "salespulse_snooze_1w": "Snooze 1 week",
}


def escape(text: str) -> str:
    """Slack's escaping of user text: ``&``, ``<`` and ``>``, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def action_block(alert_key: str) -> dict[str, Any]:
    """Acknowledge / Snooze 1 day / Snooze 1 week buttons for an alert (value: its key)."""
    buttons: list[dict[str, Any]] = []
    for action_id, text in _BUTTON_TEXT.items():
        button: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "text": {"type": "plain_text", "text": text},
            "value": _cut(alert_key, 2000),
        }
        if action_id == "salespulse_ack":
            button["style"] = "primary"
        buttons.append(button)
    return {"type": "actions", "block_id": ACTIONS_BLOCK_ID, "elements": buttons}


def _alert_blocks(kind: str, alert: Mapping[str, Any], block_id: str | None) -> list[dict]:
    head: dict[str, Any] = {
        "type": "header",
        "text": {
            "type": "plain_text",
            "text": _cut(headline(kind, alert, emoji=True), HEADER_CHARS),
            "emoji": True,
        },
    }
    if block_id:
        head["block_id"] = _cut(block_id, 255)
    # the summary says what happened, for a resolution too (the header says "Resolved")
    summary = escape(str(alert.get("summary", "")))
    blocks: list[dict[str, Any]] = [
        head,
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(summary, SECTION_CHARS)}},
    ]
    fields = [
        {"type": "mrkdwn", "text": _cut(f"*{escape(name)}*\n{escape(value)}", FIELD_CHARS)}
        for name, value in numbers(alert)[:MAX_FIELDS]
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    context = (
        f"{escape(subject_line(alert))} · {escape(str(alert.get('severity', '')))} · "
        f"{escape(when_line(kind, alert))}\n`{escape(str(alert.get('alert_key', '')))}`"
    )
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, SECTION_CHARS)}]}
    )
    if kind in ("firing", "reminder") and alert.get("alert_key"):
        # answered by `salespulse gateway` (docs/gateway.md); without it Slack shows an error
        blocks.append(action_block(str(alert["alert_key"])))
    return blocks


def slack_message(notification: Notification) -> dict[str, Any]:
    """The ``chat.postMessage`` / webhook payload (without ``channel``)."""
    if notification.kind != "digest":
        item = notification.items[0]
        blocks = _alert_blocks(item.kind, item.alert, notification.id)
        text = f"{headline(item.kind, item.alert)} ({item.alert.get('severity')}) — " + str(
            item.alert.get("summary", "")
        )
        return {"text": _cut(escape(text), TEXT_CHARS), "blocks": blocks}
    count = len(notification.items)
    blocks = [
        {
            "type": "header",
            "block_id": _cut(notification.id, 255),
            "text": {"type": "plain_text", "text": f"Digest: {count} alert updates"},
        }
    ]
    shown = 0
    for item in notification.items:
        if len(blocks) + 2 > MAX_BLOCKS - 1:
            break
        alert = item.alert
        line = (
            f"*{escape(headline(item.kind, alert))}*\n{escape(str(alert.get('summary', '')))}\n"
            f"_{escape(subject_line(alert))}_"
        )
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(line, 3000)}})
        blocks.append({"type": "divider"})
        shown += 1
    closed = closed_line(notification.closed)
    notes = []
    if shown < count:
        notes.append(f"…and {count - shown} more")
    if closed is not None:
        notes.append(escape(closed))
    if notes:
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": n} for n in notes]}
        )
    titles = "; ".join(headline(i.kind, i.alert) for i in notification.items)
    if closed is not None:
        titles += f"; {closed}"
    text = _cut(escape(f"Digest: {count} alert updates: {titles}"), TEXT_CHARS)
    return {"text": text, "blocks": blocks}


async def _post(
    session: aiohttp.ClientSession, url: str, payload: Mapping[str, Any], headers: dict[str, str]
) -> tuple[int, str, str | None]:
    async with session.post(
        url, json=payload, headers=headers, timeout=aiohttp.ClientTimeout(total=30)
    ) as response:
        return response.status, await response.text(), response.headers.get("Retry-After")


def _http_outcome(status: int, body: str, retry_after: str | None) -> Outcome | None:
    """The outcome of an HTTP answer, or None when the body decides (a 200)."""
    if status == 429:
        return Outcome.again("rate_limited", parse_retry_after(retry_after) or 1.0, True)
    if status >= 500:
        return Outcome.again(f"http_{status}", parse_retry_after(retry_after))
    if status >= 400:
        word = body.strip().split()[0][:60] if body.strip() else ""
        return Outcome.broken(f"http_{status}" + (f"_{word}" if word.isidentifier() else ""))
    return None


class SlackWebhookSender:
    """Posts to an incoming webhook. Slack answers ``ok`` in plain text."""

    def __init__(self, receiver: SlackWebhookReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver = receiver
        self.session = session

    async def send(self, notification: Notification, now: float = 0.0) -> Outcome:
        try:
            status, body, retry_after = await _post(
                self.session,
                self.receiver.url.get_secret_value(),
                slack_message(notification),
                {"Content-Type": "application/json; charset=utf-8"},
            )
        except (TimeoutError, aiohttp.ClientError) as error:
            return Outcome.again(f"network_{type(error).__name__}")
        return _http_outcome(status, body, retry_after) or Outcome.delivered()


class SlackApiSender:
    """``chat.postMessage`` with a bot token; Slack answers JSON ``{"ok": ...}``."""

    def __init__(self, receiver: SlackApiReceiver, session: aiohttp.ClientSession) -> None:
        self.receiver = receiver
        self.session = session

    async def send(self, notification: Notification, now: float = 0.0) -> Outcome:
        payload = {**slack_message(notification), "channel": notification.address}
        payload["metadata"] = {
            "event_type": "salespulse_notification",
            "event_payload": {"notification_id": notification.id},
        }
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Authorization": f"Bearer {self.receiver.token.get_secret_value()}",
        }
        url = self.receiver.api_url.rstrip("/") + "/chat.postMessage"
        try:
            status, body, retry_after = await _post(self.session, url, payload, headers)
        except (TimeoutError, aiohttp.ClientError) as error:
            return Outcome.again(f"network_{type(error).__name__}")
        decided = _http_outcome(status, body, retry_after)
        if decided is not None:
            return decided
        try:
            answer = json.loads(body)
        except ValueError:
            return Outcome.again("unreadable_answer")
        if answer.get("ok"):
            return Outcome.delivered()
        code = str(answer.get("error", "unknown_error"))[:60]
        if code in _RETRYABLE_API_ERRORS:
            return Outcome.again(code, parse_retry_after(retry_after), code == "ratelimited")
        return Outcome.broken(code)
