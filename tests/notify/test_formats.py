"""Slack, email and webhook formats: pure, no network."""

from __future__ import annotations

import json

from streamer.notify.config import EmailReceiver
from streamer.notify.email import build_email, clean_header, message_id
from streamer.notify.message import Item, Notification
from streamer.notify.slack import slack_message
from streamer.notify.webhook import sign, verify, webhook_body

ALERT = {
    "alert_key": "deal_stalled:deal:d9",
    "alert_id": "deal_stalled:d9:2026-11-18T09:00:00Z",
    "rule": "deal_stalled",
    "severity": "warning",
    "subject": {"kind": "deal", "id": "d9"},
    "rep_id": "rep-17",
    "team_id": "emea",
    "title": "Deal <Acme & Co> stalled in proposal",
    "summary": "In proposal for 31.0 days <@U123> & more",
    "metrics": {"days_in_stage": 31.0, "threshold_days": 24.8, "samples": 57},
    "started_at": "2026-12-13T04:12:00Z",
    "emitted_at": "2026-12-19T09:00:02Z",
}


def note(kind="firing", alert=ALERT, items=None) -> Notification:
    return Notification(
        id=f"{ALERT['alert_id']}:{kind}:1:team",
        receiver="team",
        address="",
        kind=kind,
        items=items or (Item(kind, alert),),
        created_at=0.0,
    )


def test_slack_blocks_escape_crm_text_and_carry_a_fallback():
    message = slack_message(note())
    assert message["text"].startswith("Firing: Deal &lt;Acme &amp; Co&gt; stalled")
    raw = json.dumps(message)
    assert "<@U123>" not in raw and "&lt;@U123&gt;" in raw
    head = message["blocks"][0]
    assert head["type"] == "header" and head["block_id"] == note().id
    assert head["text"]["type"] == "plain_text"  # plain text: nothing to escape there
    fields = message["blocks"][2]["fields"]
    assert fields[0]["text"] == "*days in stage*\n31.0"


def test_slack_limits_hold_for_huge_text_and_big_digests():
    huge = {**ALERT, "title": "x" * 500, "summary": "y" * 10_000}
    message = slack_message(note(alert=huge))
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert all(len(b.get("text", {}).get("text", "")) <= 3000 for b in message["blocks"])
    assert len(message["text"]) <= 3000
    digest = Notification(
        "digest:team::1", "team", "", "digest", tuple(Item("firing", ALERT) for _ in range(80)), 0
    )
    blocks = slack_message(digest)["blocks"]
    assert len(blocks) <= 50 and "more" in json.dumps(blocks[-1])


def test_email_headers_parts_and_no_header_injection():
    receiver = EmailReceiver(
        type="email", host="smtp", sender="salespulse <alerts@example.com>", to=["a@example.com"]
    )
    evil = {**ALERT, "title": "Deal x\r\nBcc: victim@example.com\nX-Evil: 1"}
    message = build_email(note(alert=evil), receiver, ["dana@example.com"], 1_800_000_000)
    assert message["Bcc"] is None and message["X-Evil"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"] == message_id(note().id, receiver.sender)
    assert message["Message-ID"].endswith("@example.com>")
    assert message["Date"].startswith("Fri, 15 Jan 2027")
    types = [p.get_content_type() for p in message.walk()]
    assert types == ["multipart/alternative", "text/plain", "text/html"]
    html = message.get_body(("html",)).get_content()
    assert (
        "&lt;Acme &amp; Co&gt;"
        in build_email(note(), receiver, ["d@e.f"], 0).get_body(("html",)).get_content()
    )
    assert "<script" not in html
    assert clean_header("a\u2028b\x00c") == "a b c"


def test_webhook_signature_verifies_and_refuses_replays_and_tampering():
    body = webhook_body(note())
    signature = sign(b"k", 1000, body)
    assert verify(b"k", "1000", body, signature, now=1100)
    assert not verify(b"k", "1000", body, signature, now=2000), "too old: a replay"
    assert not verify(b"k", "1000", body + b" ", signature, now=1100)
    assert not verify(b"other", "1000", body, signature, now=1100)
    assert json.loads(body)["notification_id"] == note().id
