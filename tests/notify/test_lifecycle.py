"""The lifecycle's decisions, pure: state and message (and now) in, notices out."""

from __future__ import annotations

from streamer.notify.config import Inhibition
from streamer.notify.lifecycle import (
    Command,
    Policy,
    SubjectState,
    next_due,
    on_alert,
    on_command,
    on_tick,
)

POLICY = Policy(repeat_interval_seconds=100.0)


def alert(
    rule="deal_stalled", status="firing", severity="warning", episode="e1", subject="deal:d1"
):
    kind, sid = subject.split(":")
    return {
        "alert_id": f"{rule}:{sid}:{episode}",
        "alert_key": f"{rule}:{subject}",
        "rule": rule,
        "status": status,
        "severity": severity,
        "started_at": f"2026-11-0{episode[-1]}T09:00:00Z",
        "subject": {"kind": kind, "id": sid},
    }


def kinds(notices):
    return [(n.alert_key.split(":")[0], n.kind, n.seq) for n in notices]


def test_firing_reminders_then_resolved_each_once_with_rising_seq():
    s = SubjectState.empty("deal:d1", 0)
    s, n = on_alert(s, alert(), 0, POLICY)
    assert kinds(n) == [("deal_stalled", "firing", 1)]
    s, n = on_alert(s, alert(), 1, POLICY)  # the same message again
    assert n == []
    assert on_tick(s, 99, POLICY)[1] == []
    assert next_due(s) == 100
    s, n = on_tick(s, 100, POLICY)
    assert kinds(n) == [("deal_stalled", "reminder", 2)]
    s, n = on_alert(s, alert(status="resolved"), 150, POLICY)
    assert kinds(n) == [("deal_stalled", "resolved", 3)]
    assert on_alert(s, alert(), 160, POLICY)[1] == [], "a late firing copy is ignored"
    assert next_due(s) is None


def test_replaying_the_same_messages_gives_the_same_ids():
    def run():
        s = SubjectState.empty("deal:d1", 0)
        out = []
        for msg, now in ((alert(), 0), (alert(status="resolved"), 5)):
            s, n = on_alert(s, msg, now, POLICY)
            out += [(x.alert_id, x.kind, x.seq) for x in n]
        return out, s

    first, state = run()
    assert first == run()[0]
    assert SubjectState.from_dict(state.to_dict()) == state


def test_ack_stops_reminders_but_not_the_resolution():
    s, _ = on_alert(SubjectState.empty("deal:d1", 0), alert(), 0, POLICY)
    s, n = on_command(s, Command("ack", "deal_stalled:deal:d1", "dana"), 10, POLICY)
    assert n == [] and on_tick(s, 1000, POLICY)[1] == []
    s, n = on_alert(s, alert(status="resolved"), 1001, POLICY)
    assert kinds(n) == [("deal_stalled", "resolved", 2)]


def test_snooze_is_quiet_then_tells_the_current_state_again():
    key = "deal_stalled:deal:d1"
    s, _ = on_alert(SubjectState.empty("deal:d1", 0), alert(), 0, POLICY)
    s, n = on_command(s, Command("snooze", key, "dana", until=500.0), 10, POLICY)
    assert n == [] and next_due(s) == 500
    assert on_tick(s, 499, POLICY)[1] == []
    s, n = on_tick(s, 500, POLICY)
    assert [(x.kind, x.after_snooze) for x in n] == [("firing", True)]


def test_resolved_during_snooze_is_told_when_it_ends_and_unsnooze_ends_it_now():
    key = "deal_stalled:deal:d1"
    s, _ = on_alert(SubjectState.empty("deal:d1", 0), alert(), 0, POLICY)
    s, _ = on_command(s, Command("snooze", key, "dana", until=None), 10, POLICY)
    s, n = on_alert(s, alert(status="resolved"), 20, POLICY)
    assert n == []
    s, n = on_command(s, Command("unsnooze", key, "dana"), 30, POLICY)
    assert kinds(n) == [("deal_stalled", "resolved", 2)]


def test_snoozed_before_it_fires_and_new_episode_starts_over():
    key = "deal_stalled:deal:d1"
    s, _ = on_command(
        SubjectState.empty("deal:d1", 0), Command("snooze", key, "dana", until=50.0), 0, POLICY
    )
    s, n = on_alert(s, alert(), 10, POLICY)
    assert n == []
    s, n = on_tick(s, 50, POLICY)
    assert kinds(n) == [("deal_stalled", "firing", 1)]
    s, _ = on_alert(s, alert(status="resolved"), 60, POLICY)
    s, n = on_alert(s, alert(episode="e2"), 70, POLICY)
    assert [(x.alert_id, x.kind, x.seq) for x in n] == [("deal_stalled:d1:e2", "firing", 1)]


def test_a_critical_quota_pace_mutes_the_same_reps_activity_barometer_until_it_resolves():
    policy = Policy(
        100.0,
        (Inhibition(source_rule="quota_pace", target_rules=["activity_barometer"]),),
    )
    s = SubjectState.empty("rep:r1", 0)
    s, n = on_alert(s, alert("quota_pace", severity="critical", subject="rep:r1"), 0, policy)
    assert kinds(n) == [("quota_pace", "firing", 1)]
    s, n = on_alert(s, alert("activity_barometer", subject="rep:r1"), 1, policy)
    assert n == []
    s, n = on_alert(
        s, alert("quota_pace", status="resolved", severity="critical", subject="rep:r1"), 2, policy
    )
    assert sorted(kinds(n)) == [("activity_barometer", "firing", 1), ("quota_pace", "resolved", 2)]


def test_a_warning_quota_pace_does_not_mute():
    policy = Policy(0, (Inhibition(source_rule="quota_pace", target_rules=["activity_barometer"]),))
    s = SubjectState.empty("rep:r1", 0)
    s, _ = on_alert(s, alert("quota_pace", subject="rep:r1"), 0, policy)
    s, n = on_alert(s, alert("activity_barometer", subject="rep:r1"), 1, policy)
    assert kinds(n) == [("activity_barometer", "firing", 1)]
    assert next_due(s) is None, "repeat interval 0: no reminders"


# --- old news: an episode already over when it becomes known ----------------------------

OLD_NEWS = Policy(repeat_interval_seconds=0, max_age_seconds=3600.0)


def written(status: str, emitted_at: str, **fields):
    """An alert message of episode ``e1`` (started 2026-11-01 09:00) written at ``emitted_at``."""
    return {**alert(status=status, **fields), "emitted_at": emitted_at}


def test_a_stall_revealed_together_with_its_end_is_told_to_nobody():
    s = SubjectState.empty("deal:d1", 0)
    # a backfill: the stall began on the 1st, the rules learn of it (and of its end) on the 9th
    s, n = on_alert(s, written("firing", "2026-11-09T10:00:00Z"), 100, OLD_NEWS)
    assert n == [], "old news waits one step for its resolution"
    s, n = on_alert(s, written("resolved", "2026-11-09T10:00:00Z"), 100.5, OLD_NEWS)
    assert n == [], "its resolution came right behind it: nothing to act on"
    assert on_tick(s, 200, OLD_NEWS)[1] == [] and next_due(s) is None


def test_old_news_that_still_holds_is_told_at_the_next_tick():
    s = SubjectState.empty("deal:d1", 0)
    s, n = on_alert(s, written("firing", "2026-11-09T10:00:00Z"), 100, OLD_NEWS)
    assert n == [] and next_due(s) == 100
    assert on_tick(s, 100, OLD_NEWS)[1] == [], "not in the same step"
    s, n = on_tick(s, 105, OLD_NEWS)
    assert kinds(n) == [("deal_stalled", "firing", 1)]
    s, n = on_alert(s, written("resolved", "2026-11-12T10:00:00Z"), 300, OLD_NEWS)
    assert kinds(n) == [("deal_stalled", "resolved", 2)], "told it fired, so told it ended"


def test_news_is_told_at_once_and_a_rules_for_is_not_counted_as_lateness():
    s = SubjectState.empty("deal:d1", 0)
    s, n = on_alert(s, written("firing", "2026-11-01T09:30:00Z"), 100, OLD_NEWS)
    assert kinds(n) == [("deal_stalled", "firing", 1)]
    # written a day after it began, as a rule with a day's ``for`` writes it
    with_for = Policy(0, (), 3600.0, {(None, "follow_up_gap"): 86_400.0})
    s = SubjectState.empty("deal:d2", 0)
    gap = written("firing", "2026-11-02T09:20:00Z", subject="deal:d2", rule="follow_up_gap")
    s, n = on_alert(s, gap, 100, with_for)
    assert kinds(n) == [("follow_up_gap", "firing", 1)]
    assert on_alert(SubjectState.empty("deal:d2", 0), gap, 100, OLD_NEWS)[1] == []


def test_the_notification_settings_set_how_old_an_episode_may_be():
    from streamer.notify.config import NotificationSettings
    from streamer.notify.lifecycle import policy_of

    assert policy_of(NotificationSettings(), {}).max_age_seconds == 3600.0
    lenient = policy_of(NotificationSettings(max_episode_age_seconds=30 * 86_400), {})
    s, n = on_alert(
        SubjectState.empty("deal:d1", 0), written("firing", "2026-11-09T10:00:00Z"), 1, lenient
    )
    assert kinds(n) == [("deal_stalled", "firing", 1)]


def test_skipping_reminders_leaves_the_state_on_tick_at_each_due_time_leaves():
    from streamer.notify.lifecycle import skip_reminders

    s = SubjectState.empty("deal:d1", 0)
    s, _ = on_alert(s, alert(), 0, POLICY)
    ticked, told = s, 0
    for moment in (100, 200, 300):
        ticked, n = on_tick(ticked, moment, POLICY)
        told += len(n)
    skipped, counts = skip_reminders(s, 350, POLICY)
    assert told == 3 and counts == {"deal_stalled:deal:d1": 3}
    assert skipped == ticked and next_due(skipped) == 400
    snoozed, _ = on_command(s, Command("snooze", "deal_stalled:deal:d1", "m", 1000), 1, POLICY)
    assert skip_reminders(snoozed, 350, POLICY) == (snoozed, {}), "left for on_tick"
