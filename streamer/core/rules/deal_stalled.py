"""``deal_stalled``: an open deal has been in its stage longer than usual.

Fires when the time in the current stage exceeds ``factor`` x the average
time deals of the same pipeline spend in that stage, learned from completed
visits; until ``min_samples`` visits are known, a configured default per
stage stands in. With the rule's ``for``, the alert fires only once the deal
has been over the threshold that long; ``started_at`` is when the condition
began to hold (entry + threshold) either way, so a firing is written at or
after ``started_at + for``, and the ``alert_id`` names the stay by its entry.
Resolves when the deal moves or closes, or when the learned average grows so
the deal is no longer over the threshold.

Pure: deal state, baseline and ``now`` in; new deal state and at most one
alert draft out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ...settings import DealStalledRule
from ..state.deal import DealState, StalledEpisode
from ..state.stage_stats import StageStat
from ..timeutil import DAY, iso
from .alerting import AlertDraft

__all__ = ["RULE", "StageBaseline", "baseline", "evaluate_stalled"]

RULE = "deal_stalled"


@dataclass(frozen=True, slots=True)
class StageBaseline:
    """What is normal for one stage: the average stay and how it was obtained."""

    avg_days: float
    samples: int
    learned: bool
    factor: float

    @property
    def threshold_days(self) -> float:
        return self.factor * self.avg_days

    @property
    def threshold_seconds(self) -> float:
        return self.threshold_days * DAY


def baseline(stat: StageStat | None, stage: str, rule: DealStalledRule) -> StageBaseline:
    samples = stat.count if stat is not None else 0
    if stat is not None and samples >= rule.min_samples and stat.total_seconds > 0:
        return StageBaseline(stat.total_seconds / samples / DAY, samples, True, rule.factor)
    return StageBaseline(rule.default_days_for(stage), samples, False, rule.factor)


def _metrics(days: float, base: StageBaseline) -> dict[str, float | int | str | None]:
    return {
        "days_in_stage": round(days, 1),
        "stage_avg_days": round(base.avg_days, 1),
        "threshold_days": round(base.threshold_days, 1),
        "samples": base.samples,
    }


def _normal(stage: str, base: StageBaseline, rule: DealStalledRule) -> str:
    if base.learned:
        return f"deals usually leave {stage} after {base.avg_days:.1f} days"
    return (
        f"no learned average for {stage} yet ({base.samples} of the {rule.min_samples} "
        f"completed stays needed), assuming {base.avg_days:.1f} days"
    )


def _draft(deal: DealState, episode: StalledEpisode, **fields: object) -> AlertDraft:
    return AlertDraft(
        rule=RULE,
        subject_kind="deal",
        subject_id=deal.deal_id,
        alert_id=episode.alert_id,
        started_at=episode.started_at,
        rep_id=deal.rep_id,
        team_id=deal.team_id,
        **fields,  # type: ignore[arg-type]
    )


def _resolution(
    deal: DealState,
    episode: StalledEpisode,
    now: float,
    base: StageBaseline,
    rule: DealStalledRule,
) -> tuple[str, str]:
    """Title and summary of an episode's end: the deal moved, closed, the norm grew, or
    the rule was switched off."""
    if deal.stage != episode.stage or deal.entered_at != episode.entered:
        moved = deal.is_open
        verb = f"moved to {deal.stage}" if moved else f"closed as {deal.stage}"
        days = ((deal.entered_at or now) - episode.entered) / DAY
        # the threshold the episode was judged by: its start is entry + threshold
        threshold = (episode.started_at - episode.entered) / DAY
        title = (
            f"Deal {deal.deal_id} moved on from {episode.stage}"
            if moved
            else f"Deal {deal.deal_id} closed as {deal.stage}"
        )
        return title, (
            f"Deal {verb} after {days:.1f} days in {episode.stage}, "
            f"{max(days - threshold, 0.0):.1f} days past the threshold of {threshold:.1f} days."
        )
    days = (now - episode.entered) / DAY
    if not rule.enabled:
        return f"Deal {deal.deal_id}: deal stalled no longer judged", (
            f"No longer judged: the rule was switched off (in {episode.stage} for {days:.1f} days)."
        )
    return f"Deal {deal.deal_id} no longer stalled in {episode.stage}", (
        f"In {episode.stage} for {days:.1f} days, now within the threshold of "
        f"{base.threshold_days:.1f} days ({_normal(episode.stage, base, rule)})."
    )


def evaluate_stalled(
    deal: DealState, now: float, base: StageBaseline, rule: DealStalledRule
) -> tuple[DealState, AlertDraft | None]:
    """Decide the deal's ``deal_stalled`` state as of ``now``.

    ``base`` is the baseline of the stage the deal is in now (for a deal that
    has moved on, the baseline is only used to describe the resolution).
    """
    entered = deal.entered_at
    stage = deal.stage
    episode = deal.stalled
    over = (
        rule.enabled
        and deal.is_open
        and entered is not None
        and now - entered > base.threshold_seconds
    )
    if episode is not None:
        same_visit = stage == episode.stage and entered == episode.entered
        if same_visit and (over or now < episode.started_at):
            # Still over; or the clock reads earlier than the episode's start (an event
            # clock rebuilt after a restart): that is no news about the deal.
            return deal, None
        resolved_at = entered if not same_visit and entered is not None else now
        days = (resolved_at - episode.entered) / DAY
        title, summary = _resolution(deal, episode, now, base, rule)
        draft = _draft(
            deal,
            episode,
            status="resolved",
            severity="warning",
            title=title,
            summary=summary,
            metrics=_metrics(days, base),
            resolved_at=resolved_at,
        )
        # A deal that moved may cross its new stage's threshold later: the next
        # evaluation starts a new episode with its own id.
        return replace(deal, stalled=None), draft
    if not over or stage is None or entered is None:
        return deal, None
    if now - entered <= base.threshold_seconds + rule.for_seconds:
        return deal, None  # over, but not for ``for`` yet
    days = (now - entered) / DAY
    episode = StalledEpisode(
        alert_id=f"{RULE}:{deal.deal_id}:{iso(entered)}",
        stage=stage,
        entered=entered,
        started_at=entered + base.threshold_seconds,
    )
    draft = _draft(
        deal,
        episode,
        status="firing",
        severity="warning",
        title=f"Deal {deal.deal_id} stalled in {stage}",
        summary=(
            f"In {stage} for {days:.1f} days; {_normal(stage, base, rule)} "
            f"(threshold {base.threshold_days:.1f} days)."
        ),
        metrics=_metrics(days, base),
    )
    return replace(deal, stalled=episode), draft
