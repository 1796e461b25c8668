"""``follow_up_gap``: an open deal with few follow-ups has gone quiet.

Fires when an open deal has had fewer than ``min_follow_ups`` follow-up
touches and no touch for ``quiet_days`` days (counted from its last touch,
or from its creation if it never had one). Resolves when the deal is
touched again or closes.

The rule is judged per *quiet spell*: every touch point (the deal's first
moment, and each touch) starts one, which ends at the next touch point or
when the deal closes. A spell that starting at ``a`` had no touch point up to
``a + quiet_days`` is a gap, whether it has ended since or not. That is
decided once the clock passes ``a + quiet_days``, when everything up to then
has arrived (within the allowed lateness), so the answer does not depend on
the order in which touches (from the rep side) and deal events (from the deal
side) reach the deal. With the rule's ``for``, the spell must also go on for
``for`` past ``a + quiet_days`` before the alert fires (and that is decided
once the clock passes ``a + quiet_days + for``); ``started_at`` is when the
condition began to hold, ``a + quiet_days``, either way, and the ``alert_id``
names the spell by its start. Pure, like every rule.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace

from ...settings import FollowUpGapRule
from ..state.deal import DealState, GapEpisode
from ..timeutil import DAY, iso
from .alerting import AlertDraft

__all__ = ["RULE", "Spell", "judge_spell", "resolve_gap", "spell_starts", "touch_points"]

RULE = "follow_up_gap"


def touch_points(deal: DealState) -> list[float]:
    """The moments that start a quiet spell: the deal's first moment, then every touch."""
    first = (
        deal.created_at
        if deal.created_at is not None
        else (deal.marks[0].at if deal.marks else None)
    )
    points = [t.at for t in deal.touches]
    if first is not None:
        points.append(first)
    return sorted(set(points))


def spell_starts(deal: DealState, after: float | None) -> list[float]:
    """Touch points after ``after`` (the spells not judged yet)."""
    return [p for p in touch_points(deal) if after is None or p > after]


@dataclass(frozen=True, slots=True)
class Spell:
    start: float
    end: float | None  # the next touch point or the close; None while it goes on
    follow_ups: int  # follow-up touches up to the start


def spell_from(deal: DealState, start: float) -> Spell:
    points = touch_points(deal)
    i = bisect_right(points, start)
    ends = [p for p in points[i : i + 1]]
    closed = deal.closed_at
    if closed is not None and closed > start:
        ends.append(closed)
    follow_ups = sum(1 for t in deal.touches if t.follow_up and t.at <= start)
    return Spell(start, min(ends) if ends else None, follow_ups)


def _metrics(
    days: float, spell: Spell, rule: FollowUpGapRule
) -> dict[str, float | int | str | None]:
    return {
        "days_since_touch": round(days, 1),
        "threshold_days": rule.quiet_days,
        "follow_ups": spell.follow_ups,
        "min_follow_ups": rule.min_follow_ups,
    }


def _follow_ups(n: int) -> str:
    return f"{n} follow-up" if n == 1 else f"{n} follow-ups"


def _draft(deal: DealState, episode: GapEpisode, **fields: object) -> AlertDraft:
    return AlertDraft(
        rule=RULE,
        subject_kind="deal",
        subject_id=deal.deal_id,
        alert_id=episode.alert_id,
        started_at=episode.started_at,
        severity="warning",
        rep_id=deal.rep_id,
        team_id=deal.team_id,
        **fields,  # type: ignore[arg-type]
    )


def _resolution(
    deal: DealState, episode: GapEpisode, at: float, spell: Spell, rule: FollowUpGapRule
) -> AlertDraft:
    closed = deal.closed_at is not None and deal.closed_at <= at
    days = (at - episode.since) / DAY
    # the follow-ups the deal has had by the time the spell ended
    spell = replace(spell, follow_ups=sum(1 for t in deal.touches if t.follow_up and t.at <= at))
    if spell.end is None:  # the spell goes on: only switching the rule off ends the episode
        return _draft(
            deal,
            episode,
            status="resolved",
            title=f"Deal {deal.deal_id}: follow-up gap no longer judged",
            summary="No longer judged: the rule was switched off.",
            metrics=_metrics(days, spell, rule),
            resolved_at=at,
        )
    return _draft(
        deal,
        episode,
        status="resolved",
        title=f"Deal {deal.deal_id} followed up again"
        if not closed
        else f"Deal {deal.deal_id} closed as {deal.stage}",
        summary=f"Deal closed as {deal.stage} after {days:.1f} quiet days."
        if closed
        else f"Deal touched again after {days:.1f} quiet days; "
        f"{_follow_ups(spell.follow_ups)} so far.",
        metrics=_metrics(days, spell, rule),
        resolved_at=at,
    )


def judge_spell(
    deal: DealState, start: float, now: float, rule: FollowUpGapRule
) -> tuple[DealState, list[AlertDraft]]:
    """Judge the spell starting at ``start`` once ``now`` is past its threshold.

    Returns the deal (with ``gap`` set for a gap still going on, and ``gap_checked``
    moved past the spell) and the alert changes: a firing, and its resolution too
    when the spell has already ended.
    """
    spell = spell_from(deal, start)
    began = start + rule.quiet_days * DAY  # when the condition holds, if nothing came
    # with ``for``, the spell must have gone on that long past the quiet days to fire
    limit = began + rule.for_seconds
    if now <= limit:
        return deal, []  # not judged yet: what happens up to the limit may still arrive
    checked = replace(deal, gap_checked=max(start, deal.gap_checked or start))
    applies = (
        rule.enabled
        and spell.follow_ups < rule.min_follow_ups
        and deal.marks
        and (deal.closed_at is None or deal.closed_at > start)
    )
    if not applies or (spell.end is not None and spell.end <= limit):
        return checked, []
    episode = GapEpisode(f"{RULE}:{deal.deal_id}:{iso(start)}", start, began)
    quiet = ((spell.end if spell.end is not None else now) - start) / DAY
    firing = _draft(
        deal,
        episode,
        status="firing",
        title=f"Deal {deal.deal_id} not followed up",
        summary=(
            f"No touch for {quiet:.1f} days "
            + (
                f"after only {_follow_ups(spell.follow_ups)}"
                if spell.follow_ups
                else "and no follow-up yet"
            )
            + f" (alert after {rule.quiet_days:g} quiet days with fewer than "
            f"{rule.min_follow_ups} follow-ups; most deals need five)."
        ),
        metrics=_metrics(quiet, spell, rule),
    )
    if spell.end is not None:
        return checked, [firing, _resolution(deal, episode, spell.end, spell, rule)]
    return replace(checked, gap=episode), [firing]


def resolve_gap(deal: DealState, rule: FollowUpGapRule) -> tuple[DealState, AlertDraft | None]:
    """End the open gap if a touch point or the close has come after its start."""
    episode = deal.gap
    if episode is None:
        return deal, None
    spell = spell_from(deal, episode.since)
    if spell.end is None and rule.enabled:
        return deal, None
    at = spell.end if spell.end is not None else episode.started_at
    return replace(deal, gap=None), _resolution(deal, episode, at, spell, rule)
