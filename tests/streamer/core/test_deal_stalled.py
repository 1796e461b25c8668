"""deal_stalled at the edges of its threshold, with default and learned baselines."""

from __future__ import annotations

import pytest

from streamer.core.rules.deal_stalled import baseline, evaluate_stalled
from streamer.core.state import StageStat, apply_deal_event
from streamer.core.timeutil import DAY, to_epoch
from streamer.settings import DealStalledRule
from tests.factories import at, created, moved, won

RULE = DealStalledRule()


def deal_in_proposal_since(day: float = 0):
    deal, _ = apply_deal_event(None, created("d9", day, "proposal", rep_id="rep-17"), 0)
    return deal


def test_default_baseline_until_min_samples():
    base = baseline(StageStat(4 * 5 * DAY, 4), "proposal", RULE)
    assert not base.learned
    assert base.avg_days == 14.0
    assert base.threshold_days == 28.0
    assert base.samples == 4


def test_learned_baseline_from_min_samples_on():
    base = baseline(StageStat(5 * 12.4 * DAY, 5), "proposal", RULE)
    assert base.learned
    assert base.avg_days == pytest.approx(12.4)
    assert base.threshold_days == pytest.approx(24.8)


def test_per_stage_default_overrides_the_global_one():
    rule = DealStalledRule(stage_default_days={"proposal": 10})
    assert baseline(None, "proposal", rule).threshold_days == 20
    assert baseline(None, "negotiation", rule).threshold_days == 28


@pytest.mark.parametrize(("days", "fires"), [(27.99, False), (28.0, False), (28.01, True)])
def test_fires_only_strictly_over_factor_times_average(days, fires):
    deal = deal_in_proposal_since(0)
    now = to_epoch(at(days))
    new, draft = evaluate_stalled(deal, now, baseline(None, "proposal", RULE), RULE)
    assert (draft is not None) == fires
    assert (new.stalled is not None) == fires


def test_firing_alert_explains_itself_with_numbers():
    deal = deal_in_proposal_since(0)
    base = baseline(StageStat(57 * 12.4 * DAY, 57), "proposal", RULE)
    _, draft = evaluate_stalled(deal, to_epoch(at(31)), base, RULE)
    assert draft is not None
    assert draft.status == "firing"
    assert draft.alert_id == "deal_stalled:d9:2026-11-01T09:00:00Z"
    assert draft.alert_key == "deal_stalled:deal:d9"
    assert draft.metrics == {
        "days_in_stage": 31.0,
        "stage_avg_days": 12.4,
        "threshold_days": 24.8,
        "samples": 57,
    }
    assert draft.started_at == pytest.approx(to_epoch(at(24.8)))
    assert "deals usually leave proposal after 12.4 days" in draft.summary
    assert draft.rep_id == "rep-17"


def test_fires_once_per_episode():
    deal = deal_in_proposal_since(0)
    base = baseline(None, "proposal", RULE)
    deal, first = evaluate_stalled(deal, to_epoch(at(30)), base, RULE)
    deal, second = evaluate_stalled(deal, to_epoch(at(31)), base, RULE)
    assert first is not None and second is None


def test_resolves_when_the_deal_moves_at_the_move_time():
    base = baseline(None, "proposal", RULE)
    deal, _ = evaluate_stalled(deal_in_proposal_since(0), to_epoch(at(30)), base, RULE)
    deal, _ = apply_deal_event(deal, moved("d9", 33, "proposal", "negotiation"), 0)
    deal, draft = evaluate_stalled(deal, to_epoch(at(34)), base, RULE)
    assert draft is not None and draft.status == "resolved"
    assert draft.alert_id == "deal_stalled:d9:2026-11-01T09:00:00Z"
    assert draft.resolved_at == to_epoch(at(33))
    assert "moved to negotiation after 33.0 days in proposal" in draft.summary
    assert deal.stalled is None


def test_resolves_when_the_deal_closes():
    base = baseline(None, "proposal", RULE)
    deal, _ = evaluate_stalled(deal_in_proposal_since(0), to_epoch(at(30)), base, RULE)
    deal, _ = apply_deal_event(deal, won("d9", 31), 0)
    _, draft = evaluate_stalled(deal, to_epoch(at(31)), base, RULE)
    assert draft is not None and draft.status == "resolved"
    assert "closed as won" in draft.summary


def test_resolves_when_the_learned_average_grows_past_the_deal():
    deal, _ = evaluate_stalled(
        deal_in_proposal_since(0), to_epoch(at(30)), baseline(None, "proposal", RULE), RULE
    )
    grown = baseline(StageStat(10 * 20 * DAY, 10), "proposal", RULE)  # threshold 40 days
    _, draft = evaluate_stalled(deal, to_epoch(at(31)), grown, RULE)
    assert draft is not None and draft.status == "resolved"


def test_switched_off_rule_never_fires():
    rule = DealStalledRule(enabled=False)
    _, draft = evaluate_stalled(
        deal_in_proposal_since(0), to_epoch(at(300)), baseline(None, "proposal", rule), rule
    )
    assert draft is None


def test_a_clock_that_reads_earlier_than_the_episode_start_does_not_resolve_it():
    base = baseline(None, "proposal", RULE)
    deal, _ = evaluate_stalled(deal_in_proposal_since(0), to_epoch(at(30)), base, RULE)
    same, draft = evaluate_stalled(deal, to_epoch(at(1)), base, RULE)
    assert draft is None and same.stalled is not None
