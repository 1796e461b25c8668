"""``follow_up_gap``: an open deal with few follow-ups has gone quiet.

Fires when an open deal has had fewer than ``min_follow_ups`` follow-up
touches and no touch for ``quiet_days`` days (counted from its last touch,
or from its creation if it never had one). Resolves when the deal is
touched, closes, or reaches ``min_follow_ups``. Pure, like every rule.
"""

from __future__ import annotations

from dataclasses import replace

from ..settings import FollowUpGapRule
from ..state.deal import DealState, GapEpisode
from ..timeutil import DAY, iso
from .alerting import AlertDraft

__all__ = ["RULE", "evaluate_gap", "gap_anchor"]

RULE = "follow_up_gap"


def gap_anchor(deal: DealState, rule: FollowUpGapRule) -> float | None:
    """When the deal's quiet spell began, if the rule applies to it at all."""
    if not rule.enabled or not deal.is_open or deal.follow_ups >= rule.min_follow_ups:
        return None
    return deal.last_touch_at


def _metrics(
    deal: DealState, days: float, rule: FollowUpGapRule
) -> dict[str, float | int | str | None]:
    return {
        "days_since_touch": round(days, 1),
        "threshold_days": rule.quiet_days,
        "follow_ups": deal.follow_ups,
        "min_follow_ups": rule.min_follow_ups,
    }


def evaluate_gap(
    deal: DealState, now: float, rule: FollowUpGapRule
) -> tuple[DealState, AlertDraft | None]:
    anchor = gap_anchor(deal, rule)
    episode = deal.gap
    over = anchor is not None and now - anchor > rule.quiet_days * DAY
    common = {
        "rule": RULE,
        "subject_kind": "deal",
        "subject_id": deal.deal_id,
        "rep_id": deal.rep_id,
        "team_id": deal.team_id,
    }
    if episode is not None:
        same = anchor == episode.since
        if same and (over or now < episode.started_at):
            return deal, None
        if anchor is not None and not same:
            reason = f"touched again after {(anchor - episode.since) / DAY:.1f} days"
            resolved_at = anchor
        elif not deal.is_open:
            reason, resolved_at = f"closed as {deal.stage}", now
        elif deal.follow_ups >= rule.min_follow_ups:
            reason, resolved_at = f"reached {deal.follow_ups} follow-ups", now
        else:
            reason, resolved_at = "no longer over the threshold", now
        draft = AlertDraft(
            **common,  # type: ignore[arg-type]
            alert_id=episode.alert_id,
            status="resolved",
            severity="warning",
            title=f"Deal {deal.deal_id} followed up again",
            summary=f"Deal {reason}.",
            metrics=_metrics(deal, (resolved_at - episode.since) / DAY, rule),
            started_at=episode.started_at,
            resolved_at=resolved_at,
        )
        return replace(deal, gap=None), draft
    if not over or anchor is None:
        return deal, None
    days = (now - anchor) / DAY
    episode = GapEpisode(
        f"{RULE}:{deal.deal_id}:{iso(anchor)}", anchor, anchor + rule.quiet_days * DAY
    )
    draft = AlertDraft(
        **common,  # type: ignore[arg-type]
        alert_id=episode.alert_id,
        status="firing",
        severity="warning",
        title=f"Deal {deal.deal_id} not followed up",
        summary=(
            f"No touch for {days:.1f} days after only {deal.follow_ups} follow-ups "
            f"(alert after {rule.quiet_days:g} quiet days with fewer than "
            f"{rule.min_follow_ups} follow-ups; most deals need five)."
        ),
        metrics=_metrics(deal, days, rule),
        started_at=episode.started_at,
    )
    return replace(deal, gap=episode), draft
