"""A digest tells what is still news when it goes out: episodes that opened and closed
while it gathered are left out, counted in one line (Alertmanager's group_wait: an
alert that fires and resolves before its group is flushed is sent to nobody)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from streamer.notify.config import EmailReceiver, NotificationSettings
from streamer.notify.email import build_email
from streamer.notify.inbox import Inbox
from streamer.notify.message import Item, Notification, digest_items
from streamer.notify.slack import slack_message
from streamer.notify.text import closed_line
from streamer.notify.webhook import webhook_body
from streamer.settings import SettingsError, load_settings

from .test_inbox import DAY0, message

HOUR = timedelta(hours=1)


def item(kind: str, rule: str, deal: str) -> Item:
    return Item(
        kind, message(rule, f"deal:{deal}", "resolved" if kind == "resolved" else "firing", DAY0)
    )


def test_a_digest_leaves_out_what_opened_and_closed_and_keeps_what_people_heard_fire():
    items = [
        item("firing", "follow_up_gap", "d1"),  # opened and closed: left out
        item("firing", "follow_up_gap", "d2"),  # still open: told
        item("reminder", "follow_up_gap", "d1"),
        item("resolved", "follow_up_gap", "d1"),
        item("resolved", "deal_stalled", "d3"),  # its firing went out in an earlier digest
        item("firing", "deal_stalled", "d4"),
        item("resolved", "deal_stalled", "d4"),
    ]
    kept, closed = digest_items(items, omit_closed=True)
    assert [(i.kind, i.alert["subject"]["id"]) for i in kept] == [
        ("firing", "d2"),
        ("resolved", "d3"),
    ]
    assert closed == {"deal_stalled": 1, "follow_up_gap": 1}
    kept, closed = digest_items(items, omit_closed=False, carried={"follow_up_gap": 2})
    assert kept == tuple(items) and closed == {"follow_up_gap": 2}
    _, closed = digest_items(items, omit_closed=True, carried={"follow_up_gap": 2})
    assert closed == {"deal_stalled": 1, "follow_up_gap": 3}


def test_the_line_says_how_many_opened_and_closed_since_the_last_digest():
    assert closed_line({}) is None
    assert closed_line({"follow_up_gap": 3}) == (
        "3 follow-up gaps opened and closed since the last digest"
    )
    assert closed_line({"deal_stalled": 1, "follow_up_gap": 2, "quota_pace": 1}) == (
        "1 stalled deal, 2 follow-up gaps and 1 quota_pace alert opened and closed "
        "since the last digest"
    )


def digest(closed: dict[str, int]) -> Notification:
    return Notification(
        "digest:mail:dana@example.com:1",
        "mail",
        "dana@example.com",
        "digest",
        (item("firing", "deal_stalled", "d2"),),
        0.0,
        digest=True,
        closed=closed,
    )


def test_every_format_carries_the_line_and_a_retry_keeps_it():
    line = "3 follow-up gaps opened and closed since the last digest"
    note = digest({"follow_up_gap": 3})
    receiver = EmailReceiver(
        type="email", host="smtp.example.com", sender="a@example.com", to=["b@example.com"]
    )
    mail = build_email(note, receiver, ["dana@example.com"], 0.0)
    assert line in mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert line in mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    slack = slack_message(note)
    assert line in json.dumps(slack["blocks"]) and line in slack["text"]
    assert json.loads(webhook_body(note))["closed"] == {"follow_up_gap": 3}
    assert Notification.from_json(note.to_json_bytes()).closed == {"follow_up_gap": 3}
    plain = digest({})
    assert "closed" not in json.loads(webhook_body(plain))
    assert "opened and closed" not in json.dumps(slack_message(plain))


def feed_a_day(inbox: Inbox) -> None:
    """Day 0: a gap that the next touch ends two hours later, and one still open at the
    digest; day 2: a gap that opens and closes, alone in its digest; day 4: another."""
    gap = "follow_up_gap"
    inbox.feed(message(gap, "deal:d1", "firing", DAY0))
    inbox.feed(message(gap, "deal:d2", "firing", DAY0 + HOUR))
    inbox.feed(message(gap, "deal:d1", "resolved", DAY0 + 2 * HOUR, DAY0))
    day2 = DAY0 + timedelta(days=2)
    inbox.feed(message(gap, "deal:d3", "firing", day2))
    inbox.feed(message(gap, "deal:d3", "resolved", day2 + HOUR, day2))
    day4 = DAY0 + timedelta(days=4)
    inbox.feed(message("deal_stalled", "deal:d4", "firing", day4))
    inbox.finish((DAY0 + timedelta(days=6)).timestamp())


def test_a_manager_hears_of_an_episode_when_the_digest_goes_out_unless_it_was_over():
    inbox = Inbox(NotificationSettings(repeat_interval_seconds=0))
    feed_a_day(inbox)
    d2 = message("follow_up_gap", "deal:d2", "firing", DAY0 + HOUR)["alert_id"]
    d4 = message("deal_stalled", "deal:d4", "firing", DAY0 + timedelta(days=4))["alert_id"]
    assert inbox.first_told == {
        d2: (DAY0 + timedelta(days=1)).timestamp(),  # the digest the first gap opened
        d4: (DAY0 + timedelta(days=5)).timestamp(),
    }
    # day 0's digest (d2) and day 4's (d4, which also says d3 opened and closed); day 2's
    # held nothing still open and was not sent
    assert inbox.notifications == {"mgr-1": 2}
    assert inbox.left_out == {"follow_up_gap": 2}


def test_without_the_setting_a_digest_tells_everything_it_gathered():
    settings = NotificationSettings.model_validate(
        {"repeat_interval_seconds": 0, "digest": {"omit_closed_episodes": False}}
    )
    inbox = Inbox(settings)
    feed_a_day(inbox)
    assert inbox.notifications == {"mgr-1": 3}
    assert len(inbox.first_told) == 4 and not inbox.left_out


def test_a_notice_told_at_once_is_told_at_its_moment():
    settings = NotificationSettings.model_validate(
        {"repeat_interval_seconds": 0, "digest": {"manager_rules": [], "manager_kinds": []}}
    )
    inbox = Inbox(settings)
    feed_a_day(inbox)
    d1 = message("follow_up_gap", "deal:d1", "firing", DAY0)["alert_id"]
    assert inbox.first_told[d1] == DAY0.timestamp()
    assert inbox.notifications == {"mgr-1": 6}, "four firings, two resolutions"


def test_the_setting_is_on_by_default_and_a_malformed_one_stops_start_up_naming_it():
    assert load_settings().notifications.digest.omit_closed_episodes is True
    with pytest.raises(SettingsError, match="notifications.digest.omit_closed_episodes"):
        load_settings(notifications={"digest": {"omit_closed_episodes": "sometimes"}})
