"""The backtest's per-rule figures against a small case worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas import Alert
from streamer.core.backtest_figures import (
    DAY,
    AlertChange,
    DealOutcome,
    Population,
    episodes_of,
    figures,
    overall,
    weekly_firings,
)

T = datetime(2026, 1, 5, tzinfo=UTC).timestamp()  # a Monday
HOUR = 3600.0
POP = Population(start=T, end=T + 14 * DAY, reps=2, managers=1)


def change(
    rule: str,
    subject: str,
    status: str,
    emitted: float,
    started: float | None = None,
    resolved: float | None = None,
    manager: str | None = "m1",
    episode: str | None = None,
) -> AlertChange:
    kind = "deal" if rule in ("deal_stalled", "follow_up_gap") else "rep"
    return AlertChange(
        rule=rule,
        alert_id=episode or f"{rule}:{subject}",
        status=status,
        subject_kind=kind,
        subject_id=subject,
        manager_id=manager,
        started_at=T + (started if started is not None else emitted) * DAY,
        resolved_at=None if resolved is None else T + resolved * DAY,
        emitted_at=T + emitted * DAY,
    )


# Days from T. deal_stalled:
#   A fires at 1, resolves at 3 and is lost at 3       -> alerted, lost, lead 2 days, 2-day episode
#   B fires at 2, resolves an hour later, won at 5     -> alerted, won, a flap
#   C and D are never alerted: C lost at 6, D won at 7
#   E started at 8 but its firing is emitted at 9, after E was lost at 8.5: not alerted;
#     its episode (8 to 8.5) is a flap
#   F fires at 10 and is open at the end (14): 4 days, known not to be a flap
#   G fires at 13.5 and is open at the end: too young to tell; it names no manager
# quota_pace (a rep rule): fires at 1, re-sent critical at 2, resolves at 4.
CHANGES = [
    change("deal_stalled", "A", "firing", 1),
    change("quota_pace", "r1", "firing", 1),
    change("deal_stalled", "B", "firing", 2),
    change("quota_pace", "r1", "firing", 2, started=1),
    change("deal_stalled", "B", "resolved", 2 + 1 / 24, started=2, resolved=2 + 1 / 24),
    change("deal_stalled", "A", "resolved", 3, started=1, resolved=3),
    change("quota_pace", "r1", "resolved", 4, started=1, resolved=4),
    change("deal_stalled", "E", "firing", 9, started=8),
    change("deal_stalled", "E", "resolved", 9, started=8, resolved=8.5),
    change("deal_stalled", "F", "firing", 10),
    change("deal_stalled", "G", "firing", 13.5, manager=None),
]
OUTCOMES = {
    "A": DealOutcome(lost=True, closed_at=T + 3 * DAY),
    "B": DealOutcome(lost=False, closed_at=T + 5 * DAY),
    "C": DealOutcome(lost=True, closed_at=T + 6 * DAY),
    "D": DealOutcome(lost=False, closed_at=T + 7 * DAY),
    "E": DealOutcome(lost=True, closed_at=T + 8.5 * DAY),
}
RULES = ["deal_stalled", "quota_pace", "low_contact_rate"]


def test_deal_rule_figures_match_the_hand_computed_case() -> None:
    f = figures(RULES, CHANGES, OUTCOMES, POP, flap_seconds=DAY)["deal_stalled"]
    assert (f.firings, f.resolutions, f.episodes) == (5, 3, 5)
    assert f.firings_per_rep_week == pytest.approx(5 / 2 / 2)  # 2 reps, 2 weeks
    assert f.firings_per_manager_day == pytest.approx(4 / 1 / 14)  # G names no manager
    # ended: A 2 d, B 1 h, E 0.5 d; F open 4 d counts as no flap; G (0.5 d, open) is unknown
    assert (f.flaps, f.flap_share) == (2, pytest.approx(2 / 4))
    assert f.median_episode_days == pytest.approx(0.5)
    # 5 closed deals, 3 lost: P(lost) = 0.6; alerted before the close: A (lost) and B (won)
    assert (f.closed_deals, f.lost_deals, f.alerted_closed_deals, f.lost_alerted) == (5, 3, 2, 1)
    assert f.lost_rate == pytest.approx(0.6)
    assert f.lost_rate_alerted == pytest.approx(0.5)
    assert f.lost_rate_not_alerted == pytest.approx(2 / 3)  # C, D, E
    assert f.lift == pytest.approx(0.5 / 0.6)
    assert f.lost_alerted_share == pytest.approx(1 / 3)
    assert f.median_lead_days == pytest.approx(2.0)  # A: fired at 1, lost at 3


def test_rep_rule_figures_count_resent_firings_but_one_episode() -> None:
    all_rules = figures(RULES, CHANGES, OUTCOMES, POP, flap_seconds=DAY)
    q = all_rules["quota_pace"]
    assert (q.firings, q.resolutions, q.episodes, q.flaps) == (2, 1, 1, 0)
    assert q.flap_share == 0.0 and q.median_episode_days == pytest.approx(3.0)
    assert q.firings_per_rep_week == pytest.approx(0.5)
    assert q.lift is None and q.closed_deals is None and not q.deal_rule
    quiet = all_rules["low_contact_rate"]
    assert (quiet.firings, quiet.episodes, quiet.flap_share, quiet.median_episode_days) == (
        0,
        0,
        None,
        None,
    )
    assert list(all_rules) == RULES


def test_a_longer_flap_time_counts_more_flaps() -> None:
    f = figures(RULES, CHANGES, OUTCOMES, POP, flap_seconds=3 * DAY)["deal_stalled"]
    # A (2 d) is now a flap too; F (open 4 d) still is not; G still unknown
    assert (f.flaps, f.flap_share) == (3, pytest.approx(3 / 4))


def test_no_outcomes_no_lift_and_no_population_no_rates() -> None:
    f = figures(RULES, CHANGES, {}, Population(T, T, 0, 0), DAY)["deal_stalled"]
    assert (f.closed_deals, f.lift, f.lost_alerted_share, f.median_lead_days) == (
        0,
        None,
        None,
        None,
    )
    assert f.firings_per_rep_week is None and f.firings_per_manager_day is None


def test_overall_and_the_busiest_manager() -> None:
    total = overall(CHANGES, POP, flap_seconds=DAY)
    assert (total["firings"], total["episodes"]) == (7, 6)
    assert total["busiest_manager"] == "m1"
    assert total["busiest_manager_firings_per_day"] == pytest.approx(6 / 14, abs=1e-4)


def test_weekly_firings_by_emission_in_monday_weeks() -> None:
    weeks, counts = weekly_firings(RULES, CHANGES, POP)
    assert weeks == [T, T + 7 * DAY, T + 14 * DAY]
    assert counts["deal_stalled"] == [2, 3, 0]  # 1, 2 | 9, 10, 13.5
    assert counts["quota_pace"] == [2, 0, 0]
    assert counts["low_contact_rate"] == [0, 0, 0]


def test_episodes_keep_their_start_and_take_the_resolution_time() -> None:
    [a] = [e for e in episodes_of(CHANGES) if e.subject_id == "A"]
    assert (a.started_at, a.ended_at, a.first_emitted) == (T + DAY, T + 3 * DAY, T + DAY)
    assert a.seconds == 2 * DAY


def test_an_alert_message_becomes_a_change() -> None:
    alert = Alert.model_validate(
        {
            "alert_id": "deal_stalled:deal-9:2026-11-18T09:00:00Z",
            "alert_key": "deal_stalled:deal:deal-9",
            "rule": "deal_stalled",
            "status": "resolved",
            "severity": "warning",
            "subject": {"kind": "deal", "id": "deal-9"},
            "manager_id": "mgr-3",
            "title": "t",
            "summary": "s",
            "metrics": {},
            "started_at": "2026-12-13T04:12:00Z",
            "resolved_at": "2026-12-14T04:12:00Z",
            "emitted_at": "2026-12-19T09:00:02Z",
        }
    )
    c = AlertChange.of(alert)
    assert (c.rule, c.status, c.subject_kind, c.subject_id, c.manager_id) == (
        "deal_stalled",
        "resolved",
        "deal",
        "deal-9",
        "mgr-3",
    )
    assert c.resolved_at is not None and c.resolved_at - c.started_at == HOUR * 24


def test_what_people_were_told_counts_as_told() -> None:
    # A manager hears of B at once (half an hour in), of A only at 3.5, after A ended and
    # was lost, and of F at 11; nobody hears of E or G (left out of a digest, no manager)
    told = {
        "deal_stalled:B": T + (2 + 0.5 / 24) * DAY,
        "deal_stalled:A": T + 3.5 * DAY,
        "deal_stalled:F": T + 11 * DAY,
        "quota_pace:r1": T + 1.5 * DAY,
    }
    all_rules = figures(RULES, CHANGES, OUTCOMES, POP, flap_seconds=DAY, told=told)
    f = all_rules["deal_stalled"]
    assert f.told_episodes == 3
    # B ended half an hour after it was told, A before: flaps; F open 3 days after: none
    assert f.told_flap_share == pytest.approx(2 / 3)
    # from the first firing message: A 2 d, B 1 h, E 0 (fired after it ended); F no, G unknown
    assert f.message_flap_share == pytest.approx(2 / 4)
    # told before the close: B only (won), so no lost deal was told in time
    assert (f.told_lift, f.lost_told_share, f.median_told_lead_days) == (0.0, 0.0, None)
    assert f.lift == pytest.approx(0.5 / 0.6), "the message figures stay as they were"
    q = all_rules["quota_pace"]
    assert (q.told_episodes, q.told_flap_share) == (1, 0.0)  # told at 1.5, ended at 4
    untold = figures(RULES, CHANGES, OUTCOMES, POP, flap_seconds=DAY)["deal_stalled"]
    assert (untold.told_episodes, untold.told_flap_share, untold.told_lift) == (None, None, None)
    total = overall(CHANGES, POP, flap_seconds=DAY, told=told)
    assert total["told_episodes"] == 4 and total["told_flap_share"] == pytest.approx(2 / 4)
