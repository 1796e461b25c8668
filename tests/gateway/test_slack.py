"""Slack: buttons on alert messages, interaction payloads, the slash command, who may act."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from schemas import AlertAck, AlertSnooze
from streamer.gateway import slack
from streamer.gateway.changes import Malformed
from streamer.gateway.config import SlackSettings
from streamer.notify.message import Item, Notification
from streamer.notify.slack import ACTIONS_BLOCK_ID, slack_message

from .payloads import slack_press, slack_slash

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
KEY = "deal_stalled:deal:hs-123"
HOOK = "https://hooks.slack.com/actions/T0TEAM/1/abc"


def alert(status: str = "firing") -> dict:
    return {
        "alert_id": "deal_stalled:hs-123:2026-11-18T09:00:00Z",
        "alert_key": KEY,
        "rule": "deal_stalled",
        "status": status,
        "severity": "warning",
        "subject": {"kind": "deal", "id": "hs-123"},
        "title": "Deal hs-123 stalled in proposal",
        "summary": "In proposal for 31.0 days.",
        "metrics": {"days_in_stage": 31.0},
        "started_at": "2026-11-18T09:00:00Z",
    }


def notification(kind: str) -> Notification:
    return Notification(
        id=f"n:{kind}",
        receiver="slack",
        kind=kind,
        address=None,
        items=(Item(kind, alert()),),
        created_at=0.0,
    )


@pytest.mark.parametrize("kind", ["firing", "reminder"])
def test_firing_and_reminder_messages_carry_the_three_buttons(kind: str) -> None:
    blocks = slack_message(notification(kind))["blocks"]
    actions = blocks[-1]
    assert actions["type"] == "actions" and actions["block_id"] == ACTIONS_BLOCK_ID
    assert [e["text"]["text"] for e in actions["elements"]] == [
        "Acknowledge",
        "Snooze 1 day",
        "Snooze 1 week",
    ]
    assert {e["value"] for e in actions["elements"]} == {KEY}


def test_resolved_messages_have_no_buttons() -> None:
    blocks = slack_message(notification("resolved"))["blocks"]
    assert all(b["type"] != "actions" for b in blocks)


def test_a_button_press_becomes_an_ack_with_who_did_it() -> None:
    request = slack.parse_interaction(slack_press(KEY, "salespulse_ack", HOOK))
    assert request is not None and request.action == "ack" and request.alert_key == KEY
    command = slack.build_command(request, NOW, 30)
    assert isinstance(command, AlertAck)
    assert command.by == "dana (slack U0123ABCD)"
    assert command.source == "slack"
    again = slack.build_command(
        slack.parse_interaction(slack_press(KEY, "salespulse_ack", HOOK)), NOW, 30
    )  # type: ignore[arg-type]
    assert again.event_id == command.event_id  # the same press is the same command


@pytest.mark.parametrize(
    ("action_id", "days"), [("salespulse_snooze_1d", 1), ("salespulse_snooze_1w", 7)]
)
def test_snooze_buttons(action_id: str, days: int) -> None:
    request = slack.parse_interaction(slack_press(KEY, action_id, HOOK))
    command = slack.build_command(request, NOW, 30)  # type: ignore[arg-type]
    assert isinstance(command, AlertSnooze) and command.until == NOW + timedelta(days=days)


def test_other_interactions_are_not_ours() -> None:
    assert slack.parse_interaction(slack_press(KEY, "someone_elses_button", HOOK)) is None
    with pytest.raises(Malformed):
        slack.parse_interaction(slack_press("not-a-key", "salespulse_ack", HOOK))
    with pytest.raises(Malformed):
        slack.parse_interaction(b"payload=%7Bnot+json")


def test_slash_command() -> None:
    request = slack.parse_command(slack_slash(f"snooze {KEY} 2h on holiday", HOOK), "/salespulse")
    command = slack.build_command(request, NOW, 30)
    assert isinstance(command, AlertSnooze)
    assert command.until == NOW + timedelta(hours=2) and command.reason == "on holiday"
    ack = slack.build_command(
        slack.parse_command(slack_slash(f"ack {KEY}", HOOK), "/salespulse"), NOW, 30
    )
    assert isinstance(ack, AlertAck) and ack.reason is None
    default = slack.build_command(
        slack.parse_command(slack_slash(f"snooze {KEY} busy", HOOK), "/salespulse"), NOW, 30
    )
    assert default.until == NOW + timedelta(days=1)  # type: ignore[union-attr]


@pytest.mark.parametrize("text", ["", "ack", "mute " + KEY, "ack nokey"])
def test_slash_command_usage(text: str) -> None:
    with pytest.raises(slack.Usage):
        slack.parse_command(slack_slash(text, HOOK), "/salespulse")


def test_snooze_longer_than_allowed_is_refused() -> None:
    request = slack.parse_command(slack_slash(f"snooze {KEY} 90d", HOOK), "/salespulse")
    with pytest.raises(slack.Usage):
        slack.build_command(request, NOW, 30)


def test_who_may_act() -> None:
    press = slack.parse_interaction(slack_press(KEY, "salespulse_ack", HOOK))
    typed = slack.parse_command(slack_slash(f"ack {KEY}", HOOK), "/salespulse")
    assert press is not None
    open_ = SlackSettings()
    assert slack.authorized(press, open_, True) and slack.authorized(typed, open_, False)
    roles = SlackSettings(allowed_users=["U0BOSS"])
    assert slack.authorized(press, roles, True)  # pressed where the alert was delivered
    assert not slack.authorized(typed, roles, False)  # typed anywhere by someone else
    channels = SlackSettings(recipient_channels=["C0OTHER"])
    assert not slack.authorized(press, channels, True)
    assert slack.authorized(press, SlackSettings(recipient_channels=["C0ALERTS"]), True)
    assert not slack.authorized(press, SlackSettings(team_id="T0ELSE"), True)


def test_the_updated_message_drops_the_buttons_and_says_who_acted() -> None:
    original = slack_message(notification("firing"))
    request = slack.parse_interaction(slack_press(KEY, "salespulse_ack", HOOK, message=original))
    command = slack.build_command(request, NOW, 30)  # type: ignore[arg-type]
    update = slack.updated_message(original, command, "U0123ABCD")
    assert update["replace_original"] is True
    assert all(b.get("block_id") != ACTIONS_BLOCK_ID for b in update["blocks"])
    assert "Acknowledged" in update["blocks"][-1]["elements"][0]["text"]
    assert "<@U0123ABCD>" in update["blocks"][-1]["elements"][0]["text"]
