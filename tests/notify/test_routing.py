"""Routing, managers from the org chart, quiet hours and the plan of notifications."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from streamer.notify.config import NotificationSettings, QuietHours
from streamer.notify.lifecycle import Notice
from streamer.notify.routing import plan, release_at, route
from streamer.settings import SettingsError, load_settings

PEOPLE = {
    "rep-1": SimpleNamespace(
        team_id="emea", manager_id="mgr-3", email=None, slack_user_id=None, timezone=None
    ),
    "mgr-3": SimpleNamespace(
        team_id="emea",
        manager_id="vp",
        email="dana@example.com",
        slack_user_id="U0DANA",
        timezone="Europe/Berlin",
    ),
}
CONFIG = NotificationSettings(
    receivers={
        "ops": {"type": "slack_webhook", "url": "https://hooks.example/ops"},
        "dm": {"type": "slack_api", "token": "xoxb", "to_manager": True, "channel": "C1"},
        "mail": {"type": "email", "host": "smtp", "sender": "a@example.com", "to_manager": True},
        "hook": {"type": "webhook", "url": "https://example/hook", "secret": "k"},
    },
    routes=[
        {"severities": ["critical"], "receivers": ["hook"], "continue_matching": True},
        {"teams": ["emea"], "rules": ["deal_stalled"], "receivers": ["dm", "mail"]},
    ],
    default_receiver="ops",
    quiet_hours={"emea": QuietHours(start="19:00", end="08:00")},
    digest={
        "severities": ["info"],
        "manager_rules": [],
        "manager_kinds": [],
        "interval_seconds": 600,
    },
)


def alert(**extra):
    base = {
        "alert_id": "deal_stalled:d1:e1",
        "alert_key": "deal_stalled:deal:d1",
        "rule": "deal_stalled",
        "severity": "warning",
        "rep_id": "rep-1",
        "team_id": "emea",
        "subject": {"kind": "deal", "id": "d1"},
    }
    base.update(extra)
    return base


def test_deal_alerts_reach_the_owners_manager_by_slack_dm_and_email():
    targets = route(alert(), CONFIG, PEOPLE)
    assert [(t.receiver, t.address) for t in targets] == [
        ("dm", "U0DANA"),
        ("mail", "dana@example.com"),
    ]


def test_continue_matching_and_default_receiver():
    critical = route(alert(severity="critical"), CONFIG, PEOPLE)
    assert [t.receiver for t in critical] == ["hook", "dm", "mail"]
    assert [t.receiver for t in route(alert(rule="quota_pace"), CONFIG, PEOPLE)] == ["ops"]


def test_unknown_manager_falls_back_to_the_fixed_channel_or_is_skipped():
    targets = route(alert(rep_id="stranger", team_id="emea"), CONFIG, PEOPLE)
    assert [(t.receiver, t.address) for t in targets] == [("dm", "C1")]


def test_quiet_hours_hold_non_critical_until_morning_in_the_teams_zone():
    quiet = QuietHours(start="19:00", end="08:00", weekends=True)
    berlin = ZoneInfo("Europe/Berlin")
    friday_night = datetime(2026, 11, 20, 22, 0, tzinfo=berlin).timestamp()
    monday_8 = datetime(2026, 11, 23, 8, 0, tzinfo=berlin).timestamp()
    assert release_at(friday_night, "warning", quiet, berlin) == monday_8
    assert release_at(friday_night, "critical", quiet, berlin) is None
    tuesday_noon = datetime(2026, 11, 24, 12, 0, tzinfo=berlin).timestamp()
    assert release_at(tuesday_noon, "warning", quiet, berlin) is None


def test_plan_builds_deterministic_ids_holds_and_digests():
    night = datetime(2026, 11, 24, 21, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    notices = [
        Notice("deal_stalled:deal:d1", "deal_stalled:d1:e1", "firing", 1, alert()),
        Notice("deal_stalled:deal:d1", "deal_stalled:d1:e1", "reminder", 2, alert()),
        Notice("x:deal:d2", "x:d2:e1", "firing", 1, alert(rule="x", severity="info")),
    ]
    out, unroutable = plan(notices, CONFIG, PEOPLE, night)
    assert unroutable == []
    assert [n.id for n in out] == [
        "deal_stalled:d1:e1:firing:1:dm",
        "deal_stalled:d1:e1:firing:1:mail",
        "x:d2:e1:firing:1:ops",
    ], "the reminder in quiet hours is dropped"
    morning = datetime(2026, 11, 25, 8, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()
    assert out[0].not_before == morning and not out[0].digest
    assert out[2].digest and out[2].not_before is None
    assert datetime.fromtimestamp(morning, UTC).hour == 7


def test_settings_name_the_bad_setting_and_hide_secrets():
    with pytest.raises(SettingsError, match="notifications.receivers.x"):
        load_settings(notifications={"receivers": {"x": {"type": "carrier_pigeon"}}})
    with pytest.raises(SettingsError, match="not configured"):
        load_settings(notifications={"default_receiver": "nobody"})
    with pytest.raises(ValidationError, match="IANA"):
        QuietHours(timezone="Mars/Olympus")
    assert "hooks.example" not in repr(CONFIG) and "xoxb" not in str(CONFIG)
    assert not NotificationSettings().enabled
