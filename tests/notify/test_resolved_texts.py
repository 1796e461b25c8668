"""A resolution reaches Slack and email saying "Resolved" once, with what happened."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from streamer.core.rules.alerting import AlertDraft
from streamer.core.rules.rep_rules import judge_rep
from streamer.notify.config import EmailReceiver
from streamer.notify.email import build_email
from streamer.notify.message import Item, Notification
from streamer.notify.slack import slack_message
from streamer.notify.text import headline
from tests.streamer.core.test_rep_rules import inputs, only, open_deals

RECEIVER = EmailReceiver(type="email", host="smtp", sender="alerts@example.com", to=["m@e.x"])


def pipeline_episode() -> tuple[AlertDraft, AlertDraft]:
    rules = only("pipeline_load")
    state, [fired] = judge_rep(inputs(open_deals(61), rules=rules), "emea")
    back = replace(open_deals(30), episodes=state.episodes)
    _, [resolved] = judge_rep(inputs(back, rules=rules), "emea")
    return fired, resolved


def as_message(draft: AlertDraft, **changes: Any) -> dict[str, Any]:
    """The alert message fields the senders read (contract section 4)."""
    return {
        "alert_id": draft.alert_id,
        "alert_key": draft.alert_key,
        "rule": draft.rule,
        "status": draft.status,
        "severity": draft.severity,
        "subject": {"kind": draft.subject_kind, "id": draft.subject_id},
        "rep_id": draft.rep_id,
        "team_id": draft.team_id,
        "title": draft.title,
        "summary": draft.summary,
        "metrics": draft.metrics,
        "started_at": "2026-11-16T00:00:00Z",
        "resolved_at": "2026-11-16T06:00:00Z" if draft.status == "resolved" else None,
        **changes,
    }


def notification(kind: str, alert: dict[str, Any]) -> Notification:
    return Notification(f"{alert['alert_id']}:{kind}:1:m", "m", "", kind, (Item(kind, alert),), 0)


def test_a_resolved_rep_alert_says_resolved_once_by_slack_and_email() -> None:
    _, resolved = pipeline_episode()
    alert = as_message(resolved)
    note = notification("resolved", alert)
    slack = slack_message(note)
    assert slack["text"].startswith("Resolved: Rep rep-1: pipeline back in range (warning)")
    assert (
        slack["blocks"][0]["text"]["text"] == "\u2705 Resolved: Rep rep-1: pipeline back in range"
    )
    assert slack["blocks"][1]["text"]["text"] == (
        "30 open deals, within the 5 to 60 a rep can work."
    )
    mail = build_email(note, RECEIVER, ["m@e.x"], 0)
    assert mail["Subject"] == "[salespulse] WARNING Resolved: Rep rep-1: pipeline back in range"
    plain = mail.get_body(("plain",)).get_content()
    assert plain.startswith("Resolved: Rep rep-1: pipeline back in range\n30 open deals, within")
    for text in (str(slack), mail.as_string()):
        assert "Resolved: Resolved" not in text


@pytest.mark.parametrize("kind", ["resolved", "firing", "reminder"])
def test_a_title_that_already_carries_its_kind_is_not_prefixed_again(kind: str) -> None:
    # alerts written before rules stopped prefixing their resolved titles are still on the topic
    word = {"resolved": "Resolved", "firing": "Firing", "reminder": "Still firing"}[kind]
    old = {"title": f"{word}: Rep rep-1: pipeline back in range", "alert_key": "k"}
    assert headline(kind, old) == f"{word}: Rep rep-1: pipeline back in range"
    digest = Notification("digest:m::1", "m", "", "digest", (Item(kind, old),), 0, digest=True)
    assert f"{word}: {word}" not in str(slack_message(digest))


def test_the_firing_and_the_resolution_read_differently() -> None:
    fired, resolved = pipeline_episode()
    firing = slack_message(notification("firing", as_message(fired)))
    ended = slack_message(notification("resolved", as_message(resolved)))
    assert (
        firing["blocks"][0]["text"]["text"] == "\U0001f6a8 Firing: Rep rep-1: pipeline overloaded"
    )
    assert firing["blocks"][1]["text"]["text"] == "61 open deals, above the 60 a rep can work well."
    assert ended["blocks"][1]["text"]["text"] != firing["blocks"][1]["text"]["text"]
