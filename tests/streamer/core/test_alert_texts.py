"""Every rule's title and summary, firing and resolved, say what happened with the numbers
that changed: a resolution never repeats the firing sentence, and never says "Resolved"
itself (the notification says it once)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streamer.core.rules.alerting import AlertDraft
from streamer.core.rules.deal_stalled import baseline, evaluate_stalled
from streamer.core.rules.follow_up_gap import judge_spell, resolve_gap
from streamer.core.rules.rep_rules import REP_RULES, RepInputs, judge_rep
from streamer.core.state import StageStat, apply_deal_event
from streamer.core.state.deal import apply_touch
from streamer.core.timeutil import DAY, to_epoch
from streamer.settings import DealStalledRule, FollowUpGapRule
from tests.factories import activity, at, created, lost, moved, won
from tests.streamer.core.test_rep_rules import (
    AS_OF,
    BASE_START,
    NOV20,
    RULES,
    TEAM_HALF,
    WEEK_START,
    attempts,
    barometer_state,
    closed,
    engine,
    exits_deals,
    from_engine,
    inputs,
    leads_engine,
    only,
    open_deals,
    pace_state,
    rep,
    spread,
)

HOUR = 3600.0


def episode(rule: str, firing: RepInputs, resolving: RepInputs) -> tuple[AlertDraft, AlertDraft]:
    """The firing judge_rep makes of ``firing``, and the resolution of ``resolving`` after it."""
    rules = only(rule)
    state, [fired] = judge_rep(replace(firing, rules=rules), "emea")
    later = replace(
        resolving,
        state=replace(resolving.state, episodes=state.episodes),
        rules=rules,
        as_of=max(resolving.as_of, firing.as_of),
    )
    _, [ended] = judge_rep(later, "emea")
    assert (fired.status, ended.status) == ("firing", "resolved")
    assert ended.alert_id == fired.alert_id
    assert not ended.title.startswith("Resolved"), "the notification says it, once"
    assert ended.summary != fired.summary
    return fired, ended


def words(draft: AlertDraft) -> tuple[str, str]:
    return draft.title, draft.summary


# --- rep rules -------------------------------------------------------------------------


def test_quota_pace() -> None:
    fired, ended = episode(
        "quota_pace", inputs(pace_state(30_000)), inputs(pace_state(80_000), AS_OF + 3 * HOUR)
    )
    assert words(fired) == (
        "Rep rep-1 behind quota pace",
        "30,000 of 100,000 (30% of the target) reached with 50% of the period gone: "
        "pace 0.60, below 0.8 (critical below 0.5).",
    )
    assert words(ended) == (
        "Rep rep-1 back on quota pace",
        "80,000 of 100,000 (80% of the target) reached with 50% of the period gone: "
        "pace 1.60, at or above the alert line of 0.8.",
    )


def test_low_contact_rate() -> None:
    low, recovered = engine(), engine()
    attempts(low, 1000, 31)
    attempts(recovered, 1000, 34)
    fired, ended = episode("low_contact_rate", from_engine(low), from_engine(recovered))
    assert words(fired) == (
        "Rep rep-1: calls rarely turn into conversations",
        "31 conversations from 1000 outbound attempts in 7 days: contact rate 0.031, below 0.032.",
    )
    assert words(ended) == (
        "Rep rep-1: contact rate back to normal",
        "34 conversations from 1000 outbound attempts in 7 days: contact rate 0.034, "
        "at or above 0.032.",
    )


def test_activity_drop() -> None:
    dropped, back = engine(), engine()
    for e, now in ((dropped, 9), (back, 10)):
        spread(e, 80, BASE_START, WEEK_START)  # 20 a week
        spread(e, now, WEEK_START, AS_OF)
    fired, ended = episode("activity_drop", from_engine(dropped), from_engine(back))
    assert words(fired) == (
        "Rep rep-1: outbound activity dropped",
        "9 outbound attempts in the last 7 days against a usual 20.0 (4 weeks before): "
        "45% of normal, alert below 50%.",
    )
    assert words(ended) == (
        "Rep rep-1: outbound activity back to normal",
        "10 outbound attempts in the last 7 days against a usual 20.0 (4 weeks before): "
        "50% of normal, at or above 50%.",
    )


def test_conversion_drop() -> None:
    fired, ended = episode(
        "conversion_drop",
        inputs(rep(exits_deals(20, 4)), team=TEAM_HALF),
        inputs(rep(exits_deals(20, 5)), team=TEAM_HALF),
    )
    assert words(fired) == (
        "Rep rep-1: deals stop converting in proposal",
        "20% of 20 deals leaving default/proposal in 90 days moved forward, against 50% for "
        "the team (alert below 50% of it).",
    )
    assert words(ended) == (
        "Rep rep-1: conversion back in line",
        "25% of 20 deals leaving default/proposal in 90 days moved forward, against 50% for "
        "the team (at or above the alert line of 50% of it).",
    )


def test_win_rate_outlier_low_high_and_back() -> None:
    fired, ended = episode(
        "win_rate_outlier",
        inputs(closed(4, 16), team=TEAM_HALF),
        inputs(closed(10, 10), team=TEAM_HALF),
    )
    assert words(fired) == (
        "Rep rep-1: win rate far below the team's",
        "Won 4 of 20 deals closed in 90 days (20%), against 50% for the team "
        "(alert below 50% of it).",
    )
    assert words(ended) == (
        "Rep rep-1: win rate back in line",
        "Won 10 of 20 deals closed in 90 days (50%): at or above 50% of the team's 50% "
        "and at or below 60%.",
    )
    high, back = episode(
        "win_rate_outlier", inputs(closed(13, 7), team=None), inputs(closed(10, 10), team=None)
    )
    assert (high.severity, *words(high)) == (
        "info",
        "Rep rep-1: win rate unusually high",
        "Won 13 of 20 deals closed in 90 days (65%, above 60%): possibly too selective about "
        "which deals to work.",
    )
    # without a team figure only the high side is judged
    assert back.summary == "Won 10 of 20 deals closed in 90 days (50%): at or below 60%."


def test_pipeline_load_overloaded_thin_and_back() -> None:
    fired, ended = episode("pipeline_load", inputs(open_deals(61)), inputs(open_deals(30)))
    assert words(fired) == (
        "Rep rep-1: pipeline overloaded",
        "61 open deals, above the 60 a rep can work well.",
    )
    assert words(ended) == (
        "Rep rep-1: pipeline back in range",
        "30 open deals, within the 5 to 60 a rep can work.",
    )
    thin, _ = episode("pipeline_load", inputs(open_deals(4)), inputs(open_deals(30)))
    assert words(thin) == (
        "Rep rep-1: pipeline thin",
        "4 open deals, below the 5 a rep can live from.",
    )


def test_activity_barometer() -> None:
    fired, ended = episode(
        "activity_barometer",
        inputs(barometer_state(1), NOV20),
        inputs(barometer_state(2), NOV20),
    )
    # remaining 80,000 - 20,000 won / deal size 10,000 / win rate 0.5 / 6 weeks = 2 a week
    assert words(fired) == (
        "Rep rep-1: too few new opportunities to reach quota",
        "1 new opportunity in the last 7 days; reaching the quota needs 2.0 (remaining "
        "60,000 / deal size 10,000 / win rate 50% / 6.0 weeks left).",
    )
    assert words(ended) == (
        "Rep rep-1: enough new opportunities to reach quota",
        "2 new opportunities in the last 7 days, at or above the 2.0 reaching the quota needs "
        "(remaining 60,000 / deal size 10,000 / win rate 50% / 6.0 weeks left).",
    )


def test_leads_uncontacted() -> None:
    fired, ended = episode(
        "leads_uncontacted",
        from_engine(leads_engine(10, 4, young=3)),
        from_engine(leads_engine(10, 5, young=3)),
    )
    assert words(fired) == (
        "Rep rep-1: new leads left uncontacted",
        "Only 4 of 10 leads assigned in the last 30 days had an outbound touch within 2 days "
        "(40%, alert below 50%).",
    )
    assert words(ended) == (
        "Rep rep-1: new leads worked again",
        "5 of 10 leads assigned in the last 30 days had an outbound touch within 2 days "
        "(50%, at or above 50%).",
    )


@pytest.mark.parametrize(
    ("why", "summary"),
    [
        ("off", "No longer judged: the rule was switched off."),
        ("no data", "No longer judged: too little data to judge."),
    ],
)
def test_a_rep_episode_that_can_no_longer_be_judged_says_so(why: str, summary: str) -> None:
    rules = only("quota_pace")
    state, _ = judge_rep(inputs(pace_state(30_000), rules=rules), None)
    later = replace(pace_state(30_000), episodes=state.episodes)
    if why == "off":
        off = RULES.for_team({name: {"enabled": False} for name in REP_RULES})
        x = inputs(later, AS_OF + HOUR, rules=off)
    else:
        x = inputs(replace(later, quotas={}), AS_OF + HOUR, rules=rules)
    _, [ended] = judge_rep(x, None)
    assert words(ended) == ("Rep rep-1: quota pace no longer judged", summary)


# --- deal_stalled ----------------------------------------------------------------------

STALLED = DealStalledRule()


def stalled_since_day_0(base_samples: int = 0):  # type: ignore[no-untyped-def]
    deal, _ = apply_deal_event(None, created("d9", 0, "proposal", rep_id="rep-17"), 0)
    base = baseline(None, "proposal", STALLED)
    deal, draft = evaluate_stalled(deal, to_epoch(at(30)), base, STALLED)
    assert draft is not None
    return deal, draft


def test_deal_stalled_firing_with_an_assumed_and_a_learned_average() -> None:
    _, fired = stalled_since_day_0()
    assert words(fired) == (
        "Deal d9 stalled in proposal",
        "In proposal for 30.0 days; no learned average for proposal yet (0 of the 5 completed "
        "stays needed), assuming 14.0 days (threshold 28.0 days).",
    )
    deal, _ = apply_deal_event(None, created("d9", 0, "proposal"), 0)
    learned = baseline(StageStat(57 * 12.4 * DAY, 57), "proposal", STALLED)
    _, fired = evaluate_stalled(deal, to_epoch(at(31)), learned, STALLED)
    assert fired is not None
    assert fired.summary == (
        "In proposal for 31.0 days; deals usually leave proposal after 12.4 days "
        "(threshold 24.8 days)."
    )


def test_deal_stalled_resolved_by_a_move() -> None:
    deal, _ = stalled_since_day_0()
    deal, _ = apply_deal_event(deal, moved("d9", 33, "proposal", "negotiation"), 0)
    _, ended = evaluate_stalled(
        deal, to_epoch(at(34)), baseline(None, "negotiation", STALLED), STALLED
    )
    assert ended is not None and ended.status == "resolved"
    assert words(ended) == (
        "Deal d9 moved on from proposal",
        "Deal moved to negotiation after 33.0 days in proposal, 5.0 days past the threshold "
        "of 28.0 days.",
    )


@pytest.mark.parametrize("outcome", ["won", "lost"])
def test_deal_stalled_resolved_by_the_close(outcome: str) -> None:
    deal, _ = stalled_since_day_0()
    close = won("d9", 31) if outcome == "won" else lost("d9", 31)
    deal, _ = apply_deal_event(deal, close, 0)
    _, ended = evaluate_stalled(
        deal, to_epoch(at(31)), baseline(None, "proposal", STALLED), STALLED
    )
    assert ended is not None
    assert words(ended) == (
        f"Deal d9 closed as {outcome}",
        f"Deal closed as {outcome} after 31.0 days in proposal, 3.0 days past the threshold "
        "of 28.0 days.",
    )


def test_deal_stalled_resolved_because_the_norm_grew_or_the_rule_was_switched_off() -> None:
    deal, _ = stalled_since_day_0()
    grown = baseline(StageStat(10 * 20 * DAY, 10), "proposal", STALLED)  # threshold 40 days
    _, ended = evaluate_stalled(deal, to_epoch(at(31)), grown, STALLED)
    assert ended is not None
    assert words(ended) == (
        "Deal d9 no longer stalled in proposal",
        "In proposal for 31.0 days, now within the threshold of 40.0 days (deals usually leave "
        "proposal after 20.0 days).",
    )
    off = DealStalledRule(enabled=False)
    _, ended = evaluate_stalled(deal, to_epoch(at(31)), baseline(None, "proposal", off), off)
    assert ended is not None
    assert words(ended) == (
        "Deal d9: deal stalled no longer judged",
        "No longer judged: the rule was switched off (in proposal for 31.0 days).",
    )


# --- follow_up_gap ---------------------------------------------------------------------

GAP = FollowUpGapRule(for_seconds=0)  # fires as soon as the spell is over the quiet days


def quiet_deal(follow_ups: int):  # type: ignore[no-untyped-def]
    """A deal created on day 0, touched on days 1..n+1 (the first touch is no follow-up)."""
    deal, _ = apply_deal_event(None, created("g1", 0, "proposal"), 0)
    for i in range(follow_ups + 1):
        touch = activity(1 + i, deal_id="g1", follow_up=i > 0)
        deal, _ = apply_touch(deal, touch, 0)
    return deal


@pytest.mark.parametrize(
    ("follow_ups", "phrase"),
    [(0, "and no follow-up yet"), (1, "after only 1 follow-up"), (3, "after only 3 follow-ups")],
)
def test_follow_up_gap_firing(follow_ups: int, phrase: str) -> None:
    deal = quiet_deal(follow_ups)
    last = float(1 + follow_ups)
    _, [fired] = judge_spell(deal, to_epoch(at(last)), to_epoch(at(last + 7.5)), GAP)
    assert words(fired) == (
        "Deal g1 not followed up",
        f"No touch for 7.5 days {phrase} (alert after 7 quiet days with fewer than 5 "
        "follow-ups; most deals need five).",
    )


def test_follow_up_gap_resolved_by_a_touch() -> None:
    deal = quiet_deal(1)
    deal, [_] = judge_spell(deal, to_epoch(at(2)), to_epoch(at(10)), GAP)
    deal, _ = apply_touch(deal, activity(11, deal_id="g1", follow_up=True), 0)
    _, ended = resolve_gap(deal, GAP)
    assert ended is not None
    assert words(ended) == (
        "Deal g1 followed up again",
        "Deal touched again after 9.0 quiet days; 2 follow-ups so far.",
    )


def test_follow_up_gap_resolved_by_the_close() -> None:
    deal = quiet_deal(0)
    deal, [_] = judge_spell(deal, to_epoch(at(1)), to_epoch(at(9)), GAP)
    deal, _ = apply_deal_event(deal, lost("g1", 12), 0)
    _, ended = resolve_gap(deal, GAP)
    assert ended is not None
    assert words(ended) == ("Deal g1 closed as lost", "Deal closed as lost after 11.0 quiet days.")


def test_follow_up_gap_resolved_by_switching_the_rule_off() -> None:
    deal = quiet_deal(0)
    deal, [_] = judge_spell(deal, to_epoch(at(1)), to_epoch(at(9)), GAP)
    _, ended = resolve_gap(deal, FollowUpGapRule(enabled=False))
    assert ended is not None
    assert words(ended) == (
        "Deal g1: follow-up gap no longer judged",
        "No longer judged: the rule was switched off.",
    )


def test_a_gap_already_over_when_judged_fires_and_resolves_with_its_length() -> None:
    deal = quiet_deal(0)
    deal, _ = apply_touch(deal, activity(10, deal_id="g1", follow_up=True), 0)
    _, [fired, ended] = judge_spell(deal, to_epoch(at(1)), to_epoch(at(12)), GAP)
    assert fired.summary.startswith("No touch for 9.0 days and no follow-up yet")
    assert words(ended) == (
        "Deal g1 followed up again",
        "Deal touched again after 9.0 quiet days; 1 follow-up so far.",
    )
