"""What a manager is told over a history of alert messages, as the backtest counts it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streamer.notify.config import NotificationSettings
from streamer.notify.inbox import Inbox

DAY0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def message(
    rule: str,
    subject: str,
    status: str,
    emitted: datetime,
    started: datetime | None = None,
    severity: str = "warning",
    manager: str = "mgr-1",
) -> dict:
    kind, sid = subject.split(":")
    started = started or emitted
    return {
        "alert_id": f"{rule}:{sid}:{started.isoformat()}",
        "alert_key": f"{rule}:{subject}",
        "rule": rule,
        "status": status,
        "severity": severity,
        "subject": {"kind": kind, "id": sid},
        "manager_id": manager,
        "started_at": started.isoformat().replace("+00:00", "Z"),
        "emitted_at": emitted.isoformat().replace("+00:00", "Z"),
    }


def feed_a_morning(inbox: Inbox) -> None:
    for i in range(5):  # five stalled deals in one morning
        at = DAY0 + timedelta(minutes=10 * i)
        inbox.feed(message("deal_stalled", f"deal:d{i}", "firing", at))
    inbox.feed(message("quota_pace", "rep:r1", "firing", DAY0 + timedelta(hours=2)))
    inbox.feed(message("quota_pace", "rep:r1", "resolved", DAY0 + timedelta(hours=3), DAY0))
    inbox.feed(message("deal_stalled", "deal:d9", "firing", DAY0 + timedelta(days=1, hours=1)))
    inbox.finish((DAY0 + timedelta(days=2)).timestamp())


def test_every_warning_and_every_resolution_reach_a_manager_as_one_digest_a_day():
    inbox = Inbox(NotificationSettings(repeat_interval_seconds=0))
    feed_a_morning(inbox)
    # the deals, the rep alert and its resolution in the day's digest; the next day's
    # deal in the next digest
    assert inbox.notifications == {"mgr-1": 2}
    assert inbox.notices[("deal_stalled", "firing")] == 6


def test_a_rule_left_out_of_the_manager_digest_is_told_at_once():
    settings = NotificationSettings.model_validate(
        {"repeat_interval_seconds": 0, "digest": {"manager_rules": ["deal_stalled"]}}
    )
    inbox = Inbox(settings)
    feed_a_morning(inbox)
    assert inbox.notifications == {"mgr-1": 3}, "the rep alert at once, two digests"


def test_critical_first_tellings_go_out_at_once_and_reminders_wait_for_the_digest():
    settings = NotificationSettings(repeat_interval_seconds=4 * 3600)
    inbox = Inbox(settings)
    inbox.feed(message("quota_pace", "rep:r1", "firing", DAY0, severity="critical"))
    inbox.feed(message("quota_pace", "rep:r2", "firing", DAY0, severity="critical"))
    inbox.finish((DAY0 + timedelta(hours=21)).timestamp())
    assert inbox.notices[("quota_pace", "reminder")] == 10, "every 4 hours, for both"
    assert inbox.notifications == {"mgr-1": 3}, "two firings, one digest of the reminders"


def test_an_episode_over_when_it_became_known_is_told_to_nobody():
    inbox = Inbox(NotificationSettings(repeat_interval_seconds=0))
    began = DAY0 - timedelta(days=9)  # a backfill reveals a stall and its end at once
    inbox.feed(message("deal_stalled", "deal:d1", "firing", DAY0, began))
    inbox.feed(message("deal_stalled", "deal:d1", "resolved", DAY0, began))
    # one still going on is told one step later
    inbox.feed(message("deal_stalled", "deal:d2", "firing", DAY0, began))
    inbox.finish((DAY0 + timedelta(days=2)).timestamp())
    assert inbox.withheld() == {"deal_stalled": 1}
    assert inbox.notices[("deal_stalled", "firing")] == 1
    assert inbox.notifications == {"mgr-1": 1}


def test_alerts_that_name_no_manager_reach_no_manager():
    inbox = Inbox(NotificationSettings())
    inbox.feed(message("quota_pace", "rep:r1", "firing", DAY0, manager=""))
    inbox.finish((DAY0 + timedelta(days=1)).timestamp())
    assert inbox.notifications == {} and inbox.notices[("quota_pace", "firing")] == 1


def test_reminders_taken_in_by_a_digest_do_not_hide_what_else_falls_due():
    inbox = Inbox(NotificationSettings(repeat_interval_seconds=3600))
    inbox.feed(message("deal_stalled", "deal:d1", "firing", DAY0))  # opens the day's digest
    later = DAY0 + timedelta(hours=5)
    # old news about the same deal, still holding: told at the next tick, reminders or not
    inbox.feed(message("follow_up_gap", "deal:d1", "firing", later, later - timedelta(days=3)))
    inbox.finish((DAY0 + timedelta(hours=20)).timestamp())
    assert inbox.withheld() == {}
    assert inbox.notices[("follow_up_gap", "firing")] == 1
    assert inbox.notices[("deal_stalled", "reminder")] == 19
    assert inbox.notifications == {"mgr-1": 1}, "all of it in the one digest"
