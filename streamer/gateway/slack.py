"""Slack: the alert buttons and ``/salespulse ack|snooze KEY [duration] [reason]``.

Pure parsing and message building; :mod:`.app` verifies the signature, publishes
the command and posts the message update. Slack sends both as
``application/x-www-form-urlencoded``: interactions as one ``payload`` field
holding JSON (``type`` ``block_actions``, ``user``, ``team``, ``channel``,
``actions`` with ``action_id`` and ``value``, ``message``, ``response_url``),
slash commands as plain fields (``command``, ``text``, ``user_id``,
``user_name``, ``team_id``, ``channel_id``, ``response_url``, ``trigger_id``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from schemas import AlertAck, AlertSnooze

from ..notify.commands import parse_until
from ..notify.lifecycle import subject_key_of
from ..notify.slack import ACTION_IDS, ACTIONS_BLOCK_ID, escape
from .changes import Malformed
from .config import SlackSettings

__all__ = [
    "Request",
    "authorized",
    "build_command",
    "parse_command",
    "parse_interaction",
    "updated_message",
]

SOURCE = "slack"
_USAGE = (
    "usage: /salespulse ack KEY [reason] | /salespulse snooze KEY [duration, e.g. 2h, 1d] [reason]"
)


@dataclass(frozen=True, slots=True)
class Request:
    """One person's alert command from Slack."""

    action: str  # ack | snooze
    alert_key: str
    duration: str | None
    reason: str | None
    user_id: str
    user_name: str | None
    team_id: str | None
    channel_id: str | None
    response_url: str | None
    ref: str  # Slack's own id of this press or command: makes the event id
    message: dict[str, Any] | None = None  # the message a button sat on


def _form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise Malformed("the body is not UTF-8 form data") from None
    return {k: v[0] for k, v in fields.items()}


def _key(text: str) -> str:
    try:
        subject_key_of(text)
    except ValueError:
        raise Malformed(f"{text!r} is not an alert key (rule:kind:id)") from None
    return text


def parse_interaction(body: bytes) -> Request | None:
    """The command a button press asks for; None for interactions that are not ours."""
    payload_text = _form(body).get("payload")
    if payload_text is None:
        raise Malformed("no payload field")
    try:
        payload = json.loads(payload_text)
    except ValueError:
        raise Malformed("payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return None
    actions = payload.get("actions") or []
    user = payload.get("user") or {}
    if not isinstance(actions, list) or not isinstance(user, dict) or not user.get("id"):
        raise Malformed("block_actions without actions or user")
    for action in actions:
        if not isinstance(action, dict) or action.get("action_id") not in ACTION_IDS:
            continue
        command, duration = ACTION_IDS[str(action["action_id"])]
        team = payload.get("team") or {}
        channel = payload.get("channel") or {}
        container = payload.get("container") or {}
        message = payload.get("message")
        ref = ":".join(
            str(part)
            for part in (
                container.get("message_ts") or (message or {}).get("ts") or "",
                action.get("action_ts", ""),
                user["id"],
                action["action_id"],
            )
        )
        return Request(
            action=command,
            alert_key=_key(str(action.get("value", ""))),
            duration=duration,
            reason=None,
            user_id=str(user["id"]),
            user_name=user.get("username") or user.get("name"),
            team_id=(team.get("id") if isinstance(team, dict) else None) or user.get("team_id"),
            channel_id=channel.get("id") if isinstance(channel, dict) else None,
            response_url=payload.get("response_url"),
            ref=ref,
            message=message if isinstance(message, dict) else None,
        )
    return None


class Usage(ValueError):
    """The slash command's text is not ``ack|snooze KEY [duration] [reason]``."""


def parse_command(body: bytes, expected: str) -> Request:
    """The request a slash command asks for; :class:`Usage` explains a wrong one."""
    form = _form(body)
    if form.get("command") != expected or not form.get("user_id"):
        raise Malformed(f"not the {expected} command")
    words = form.get("text", "").split()
    if len(words) < 2 or words[0] not in ("ack", "snooze"):
        raise Usage(_USAGE)
    action, key, rest = words[0], words[1], words[2:]
    try:
        _key(key)
    except Malformed as error:
        raise Usage(f"{error}. {_USAGE}") from None
    duration = None
    if action == "snooze":
        duration = "1d"
        if rest and rest[0][:1].isdigit():
            duration, rest = rest[0], rest[1:]
    return Request(
        action=action,
        alert_key=key,
        duration=duration,
        reason=" ".join(rest) or None,
        user_id=form["user_id"],
        user_name=form.get("user_name") or None,
        team_id=form.get("team_id") or None,
        channel_id=form.get("channel_id") or None,
        response_url=form.get("response_url") or None,
        ref=form.get("trigger_id") or f"{form['user_id']}:{form.get('text', '')}",
    )


def authorized(request: Request, settings: SlackSettings, from_button: bool) -> bool:
    """Only the alert's recipients or the configured roles may act on it.

    ``allowed_users`` (the roles) may act on any alert, anywhere. A button press is
    from a recipient when it comes from one of ``recipient_channels`` (any channel
    when none are listed: whoever sees the message received it). The slash command
    can be typed anywhere, so it needs ``allowed_users`` or a recipient channel.
    """
    if settings.team_id is not None and request.team_id != settings.team_id:
        return False
    if request.user_id in settings.allowed_users:
        return True
    if settings.recipient_channels:
        return request.channel_id in settings.recipient_channels
    return from_button or not settings.allowed_users


def build_command(request: Request, now: datetime, max_days: float) -> AlertAck | AlertSnooze:
    """The contract's command, with who gave it; raises :class:`Usage` on a bad duration."""
    by = (
        f"{request.user_name} (slack {request.user_id})"
        if request.user_name
        else (f"slack {request.user_id}")
    )
    common: dict[str, Any] = {
        "event_id": f"slack:{request.team_id or '-'}:{request.ref}"[:200],
        "occurred_at": now,
        "source": SOURCE,
        "alert_key": request.alert_key,
        "by": by,
        "reason": request.reason,
    }
    if request.action == "ack":
        return AlertAck(**common)
    try:
        until = parse_until(request.duration or "1d", now)
    except ValueError:
        raise Usage(f"{request.duration!r} is not a duration like 30m, 2h, 1d or 1w") from None
    if until <= now or until - now > timedelta(days=max_days):
        raise Usage(f"a snooze lasts from a minute up to {max_days:g} days")
    return AlertSnooze(**common, until=until)


def confirmation(command: AlertAck | AlertSnooze, user_id: str) -> str:
    """What the person sees: who did what to which alert."""
    key = escape(command.alert_key)
    if isinstance(command, AlertSnooze) and command.until is not None:
        until = command.until.strftime("%Y-%m-%d %H:%M UTC")
        return f":zzz: Snoozed `{key}` until {until} by <@{user_id}>"
    return f":white_check_mark: Acknowledged `{key}` by <@{user_id}>"


def updated_message(
    message: dict[str, Any] | None, command: AlertAck | AlertSnooze, user_id: str
) -> dict[str, Any]:
    """The alert message without its buttons and with who acted: for ``response_url``."""
    line = confirmation(command, user_id)
    blocks = [
        b
        for b in (message or {}).get("blocks") or []
        if isinstance(b, dict) and b.get("block_id") != ACTIONS_BLOCK_ID
    ]
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]})
    text = str((message or {}).get("text") or line)
    return {"replace_original": True, "text": text[:3000], "blocks": blocks[:50]}


def ephemeral(text: str) -> dict[str, Any]:
    return {"response_type": "ephemeral", "text": text}
