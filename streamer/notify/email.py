"""Email: a plain-text and an HTML part, the headers mail systems expect, sent over SMTP.

The ``Message-ID`` is derived from the notification id, so a message sent
again after a crash carries the same id and mail systems that deduplicate on
it (Gmail does) show it once. ``Auto-Submitted: auto-generated`` keeps
auto-responders quiet. Subjects are built from CRM text with every control
character (CR and LF above all) replaced, so no text can add a header.
"""

from __future__ import annotations

import hashlib
import html
import re
import ssl
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib

from .config import EmailReceiver
from .message import Notification, Outcome
from .text import closed_line, headline, numbers, subject_line, when_line

__all__ = ["EmailSender", "build_email", "clean_header", "message_id"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]+")


def clean_header(text: str, limit: int = 180) -> str:
    """One line of header text: control characters become a space, length is bounded."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def message_id(notification_id: str, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "salespulse.invalid"
    digest = hashlib.sha256(notification_id.encode()).hexdigest()[:40]
    return f"<{digest}.salespulse@{clean_header(domain, 200)}>"


def _subject(notification: Notification) -> str:
    if notification.kind == "digest":
        return f"[salespulse] Digest: {len(notification.items)} alert updates"
    item = notification.items[0]
    severity = str(item.alert.get("severity", "")).upper()
    return f"[salespulse] {severity} {headline(item.kind, item.alert)}"


def _plain(notification: Notification) -> str:
    parts = []
    for item in notification.items:
        alert = item.alert
        lines = [
            headline(item.kind, alert),
            str(alert.get("summary", "")),
            "",
            *(f"  {name}: {value}" for name, value in numbers(alert)),
            "",
            f"{subject_line(alert)} · {alert.get('severity')} · {when_line(item.kind, alert)}",
            f"alert {alert.get('alert_key')}",
        ]
        parts.append("\n".join(lines))
    closed = closed_line(notification.closed)
    if closed is not None:
        parts.append(closed + ".")
    footer = "\n\n-- \nsalespulse · acknowledge: salespulse alerts ack <alert_key>\n"
    return "\n\n----\n\n".join(parts) + footer


def _html(notification: Notification) -> str:
    e = html.escape
    parts = []
    for item in notification.items:
        alert = item.alert
        rows = "".join(
            f"<tr><td style='padding:2px 12px 2px 0;color:#555'>{e(name)}</td>"
            f"<td style='padding:2px 0'><b>{e(value)}</b></td></tr>"
            for name, value in numbers(alert)
        )
        parts.append(
            f"<h2 style='font-size:18px;margin:0 0 8px'>{e(headline(item.kind, alert))}</h2>"
            f"<p style='margin:0 0 8px'>{e(str(alert.get('summary', '')))}</p>"
            f"<table style='font-size:14px'>{rows}</table>"
            f"<p style='color:#777;font-size:12px'>{e(subject_line(alert))} · "
            f"{e(str(alert.get('severity')))} · {e(when_line(item.kind, alert))}<br>"
            f"<code>{e(str(alert.get('alert_key')))}</code></p>"
        )
    closed = closed_line(notification.closed)
    if closed is not None:
        parts.append(f"<p style='color:#555;font-size:14px'>{e(closed)}.</p>")
    body = "<hr>".join(parts)
    return (
        "<!doctype html><html><body style='font-family:sans-serif;max-width:600px'>"
        f"{body}</body></html>"
    )


def build_email(
    notification: Notification, receiver: EmailReceiver, recipients: list[str], now: float
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = clean_header(receiver.sender, 300)
    message["To"] = ", ".join(clean_header(r, 300) for r in recipients)
    message["Subject"] = clean_header(_subject(notification))
    message["Date"] = format_datetime(datetime.fromtimestamp(now, tz=UTC))
    message["Message-ID"] = message_id(notification.id, receiver.sender)
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    message["X-Salespulse-Notification-Id"] = clean_header(notification.id, 300)
    message.set_content(_plain(notification))
    message.add_alternative(_html(notification), subtype="html")
    return message


class EmailSender:
    """SMTP with STARTTLS (or implicit TLS) and login, one connection per message."""

    def __init__(self, receiver: EmailReceiver) -> None:
        self.receiver = receiver
        self._tls: ssl.SSLContext | None = None
        if receiver.start_tls or receiver.use_tls:
            self._tls = ssl.create_default_context(
                cafile=str(receiver.ca_file) if receiver.ca_file else None
            )

    async def send(self, notification: Notification, now: float) -> Outcome:
        r = self.receiver
        recipients = [a.strip() for a in notification.address.split(",") if a.strip()]
        message = build_email(notification, r, recipients, now)
        try:
            await aiosmtplib.send(
                message,
                hostname=r.host,
                port=r.port,
                username=r.username,
                password=r.password.get_secret_value() if r.password else None,
                start_tls=True if r.start_tls else None,
                use_tls=r.use_tls,
                tls_context=self._tls,
                timeout=r.timeout_seconds,
            )
        except aiosmtplib.SMTPRecipientsRefused as error:
            return Outcome.broken(f"smtp_recipients_refused_{len(error.recipients)}")
        except aiosmtplib.SMTPAuthenticationError as error:
            return Outcome.broken(f"smtp_auth_{error.code}")
        except aiosmtplib.SMTPResponseException as error:
            if 400 <= error.code < 500:
                return Outcome.again(f"smtp_{error.code}")
            return Outcome.broken(f"smtp_{error.code}")
        except aiosmtplib.SMTPException as error:
            return Outcome.again(f"smtp_{type(error).__name__}")
        except (TimeoutError, OSError, ssl.SSLError) as error:
            return Outcome.again(f"network_{type(error).__name__}")
        return Outcome.delivered()
