"""The rep rules of contract section 3, judged at rule boundaries.

Each rule is a pure function of the rep's state, its activity buckets, the
team's sums and ``as_of`` that returns a :class:`Verdict` when its condition
holds and ``None`` when it does not. :func:`judge_rep` turns verdicts into
alert episodes: an episode starts at the first boundary its condition holds
(its id names that boundary, so it is the same in a live worker and a replay),
fires once the condition has held for the rule's ``for``, is re-sent when its
severity changes, and resolves once its condition has failed at every boundary
for the rule's ``keep_firing_for``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from ...settings import RulesSettings
from ..figures import TeamReads, Windows, ratio
from ..state.rep import RepEpisode, RepState
from ..timeutil import DAY, iso
from .alerting import AlertDraft, Number, Severity

__all__ = ["REP_RULES", "RepInputs", "Verdict", "judge_rep"]


Words = tuple[str, str, dict[str, Number]]  # title, summary, metrics


class Verdict:
    """A rule's measurement at ``as_of``; ``holds`` says whether its condition holds.

    Its words (title, summary, metrics) are put together when first read: most
    verdicts change no episode and are never read.
    """

    __slots__ = ("_describe", "_words", "holds", "severity")

    def __init__(self, holds: bool, severity: Severity, describe: Callable[[], Words]) -> None:
        self.holds = holds
        self.severity = severity
        self._describe = describe
        self._words: Words | None = None

    @classmethod
    def said(
        cls,
        holds: bool,
        severity: Severity,
        title: str,
        summary: str,
        metrics: dict[str, Number],
    ) -> Verdict:
        words = (title, summary, metrics)
        return cls(holds, severity, lambda: words)

    def words(self) -> Words:
        if self._words is None:
            self._words = self._describe()
        return self._words

    @property
    def title(self) -> str:
        return self.words()[0]

    @property
    def summary(self) -> str:
        return self.words()[1]

    @property
    def metrics(self) -> dict[str, Number]:
        return self.words()[2]


@dataclass(frozen=True, slots=True)
class RepInputs:
    """What a rep's judging at ``as_of`` reads.

    A rule reads the rep through ``w`` (windows ending at ``as_of``) and its team through
    ``team`` (which records what was read). Whatever else makes its verdict change as
    time passes, with no new event and no window edge passing, it says with
    :meth:`changes_at`: the engine judges the rep again no later than that (see
    :class:`~streamer.core.rep_engine.RepEngine`).
    """

    state: RepState
    w: Windows
    as_of: float
    rules: RulesSettings
    team: TeamReads
    moments: list[float] = field(default_factory=list)

    def changes_at(self, moment: float) -> None:
        """The verdict may change at ``moment`` by time passing alone."""
        self.moments.append(moment)


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def quota_pace(x: RepInputs) -> Verdict | None:
    rule = x.rules.quota_pace
    progress = x.w.quota(x.as_of)
    if progress is None:
        return None
    q = progress.quota
    length = q.period_end - q.period_start
    if progress.elapsed < rule.min_elapsed or progress.pace is None:
        x.changes_at(q.period_start + rule.min_elapsed * length)
        return None
    # the pace falls as the period goes by: it crosses each line once, when the elapsed
    # share reaches attainment / line
    for line in (rule.warning_ratio, rule.critical_ratio):
        if line > 0 and progress.pace >= line:
            x.changes_at(q.period_start + progress.attainment / line * length)
    severity: Severity = "critical" if progress.pace < rule.critical_ratio else "warning"
    holds = progress.pace < rule.warning_ratio
    unit = "deals" if q.metric == "deals" else ""
    reached = (
        f"{progress.achieved:,.0f} of {q.target:,.0f}{' ' + unit if unit else ''} "
        f"({progress.attainment:.0%} of the target) reached with {progress.elapsed:.0%} of the "
        f"period gone: pace {progress.pace:.2f}"
    )
    return Verdict(
        holds,
        severity,
        lambda: (
            f"Rep {x.state.rep_id} behind quota pace"
            if holds
            else f"Rep {x.state.rep_id} back on quota pace",
            f"{reached}, below {rule.warning_ratio} (critical below {rule.critical_ratio})."
            if holds
            else f"{reached}, at or above the alert line of {rule.warning_ratio}.",
            {
                "attainment": _r(progress.attainment),
                "elapsed_fraction": _r(progress.elapsed),
                "pace": _r(progress.pace),
                "threshold": rule.warning_ratio,
                "achieved": _r(progress.achieved, 2),
                "target": q.target,
            },
        ),
    )


def low_contact_rate(x: RepInputs) -> Verdict | None:
    rule = x.rules.low_contact_rate
    t = x.w.touches(x.as_of - rule.window_days * DAY, x.as_of)
    rate = ratio(t.conversations, t.outbound_attempts)
    if t.outbound_attempts < rule.min_attempts or rate is None:
        return None
    holds = rate < rule.min_rate
    return Verdict(
        holds,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: calls rarely turn into conversations"
            if holds
            else f"Rep {x.state.rep_id}: contact rate back to normal",
            f"{_count(t.conversations, 'conversation', 'conversations')} from "
            f"{t.outbound_attempts} outbound attempts in "
            f"{rule.window_days} days: contact rate {rate:.3f}, "
            + (f"below {rule.min_rate}." if holds else f"at or above {rule.min_rate}."),
            {
                "contact_rate": _r(rate, 4),
                "threshold": rule.min_rate,
                "conversations": t.conversations,
                "outbound_attempts": t.outbound_attempts,
            },
        ),
    )


def activity_drop(x: RepInputs) -> Verdict | None:
    rule = x.rules.activity_drop
    window = rule.window_days * DAY
    base_start = x.as_of - window - rule.baseline_weeks * 7 * DAY
    if x.state.first_seen is None or x.state.first_seen > base_start:
        return None  # not enough history for a baseline
    now = x.w.touches(x.as_of - window, x.as_of).outbound_attempts
    before = x.w.touches(base_start, x.as_of - window).outbound_attempts
    weekly = before / rule.baseline_weeks * (rule.window_days / 7)
    if weekly < rule.min_baseline_weekly:
        return None
    holds = now < rule.ratio * weekly
    return Verdict(
        holds,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: outbound activity dropped"
            if holds
            else f"Rep {x.state.rep_id}: outbound activity back to normal",
            f"{now} outbound attempts in the last {rule.window_days} days against a usual "
            f"{weekly:.1f} ({rule.baseline_weeks} weeks before): {now / weekly:.0%} of normal, "
            + (f"alert below {rule.ratio:.0%}." if holds else f"at or above {rule.ratio:.0%}."),
            {
                "outbound_attempts": now,
                "baseline_weekly": _r(weekly, 1),
                "ratio": _r(now / weekly),
                "threshold": rule.ratio,
                "baseline_weeks": rule.baseline_weeks,
            },
        ),
    )


def conversion_drop(x: RepInputs) -> Verdict | None:
    rule = x.rules.conversion_drop
    w = x.w.deals(x.as_of - rule.window_days * DAY, x.as_of)
    worst: tuple[float, str, int, float, float] | None = None
    for stage, (n, fwd) in sorted(w.exits.items()):
        if n < rule.min_exits:
            continue
        team_rate = x.team.conversion(stage)
        if team_rate is None or team_rate == 0:
            continue
        rate = fwd / n
        score = rate / team_rate
        if worst is None or score < worst[0]:
            worst = (score, stage, n, rate, team_rate)
    if worst is None:
        return None
    score, stage, n, rate, team_rate = worst
    holds = score < rule.ratio
    return Verdict(
        holds,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: deals stop converting in {stage.split('/', 1)[-1]}"
            if holds
            else f"Rep {x.state.rep_id}: conversion back in line",
            f"{rate:.0%} of {n} deals leaving {stage} in {rule.window_days} days moved forward, "
            f"against {team_rate:.0%} for the team "
            + (
                f"(alert below {rule.ratio:.0%} of it)."
                if holds
                else f"(at or above the alert line of {rule.ratio:.0%} of it)."
            ),
            {
                "stage": stage,
                "conversion": _r(rate),
                "team_conversion": _r(team_rate),
                "threshold": _r(rule.ratio * team_rate),
                "exits": n,
            },
        ),
    )


def win_rate_outlier(x: RepInputs) -> Verdict | None:
    rule = x.rules.win_rate_outlier
    w = x.w.deals(x.as_of - rule.window_days * DAY, x.as_of)
    if w.closed < rule.min_closed:
        return None
    rate = w.won / w.closed
    team_rate = x.team.win_rate()

    def metrics() -> dict[str, Number]:
        return {"win_rate": _r(rate), "team_win_rate": _r(team_rate), "closed": w.closed}

    if team_rate is not None and rate < rule.low_ratio * team_rate:
        return Verdict(
            True,
            "warning",
            lambda: (
                f"Rep {x.state.rep_id}: win rate far below the team's",
                f"Won {w.won} of {w.closed} deals closed in {rule.window_days} days ({rate:.0%}), "
                f"against {team_rate:.0%} for the team (alert below {rule.low_ratio:.0%} of it).",
                {**metrics(), "threshold": _r(rule.low_ratio * team_rate)},
            ),
        )
    if rate > rule.high_rate:
        return Verdict(
            True,
            "info",
            lambda: (
                f"Rep {x.state.rep_id}: win rate unusually high",
                f"Won {w.won} of {w.closed} deals closed in {rule.window_days} days ({rate:.0%}, "
                f"above {rule.high_rate:.0%}): possibly too selective about which deals to work.",
                {**metrics(), "threshold": rule.high_rate},
            ),
        )
    return Verdict(
        False,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: win rate back in line",
            f"Won {w.won} of {w.closed} deals closed in {rule.window_days} days ({rate:.0%}): "
            + (
                f"at or above {rule.low_ratio:.0%} of the team's {team_rate:.0%} and "
                if team_rate is not None
                else ""
            )
            + f"at or below {rule.high_rate:.0%}.",
            metrics(),
        ),
    )


def pipeline_load(x: RepInputs) -> Verdict | None:
    rule = x.rules.pipeline_load
    n = x.w.open_deals_at(x.state, x.as_of)
    high = n > rule.max_open
    if rule.min_open <= n <= rule.max_open:  # what a resolution says: not "thin"
        return Verdict(
            False,
            "info",
            lambda: (
                f"Rep {x.state.rep_id}: pipeline back in range",
                f"{n} open deals, within the {rule.min_open} to {rule.max_open} a rep can work.",
                {"open_deals": n, "max_open": rule.max_open, "min_open": rule.min_open},
            ),
        )
    return Verdict(
        True,
        "warning" if high else "info",
        lambda: (
            f"Rep {x.state.rep_id}: pipeline {'overloaded' if high else 'thin'}",
            f"{n} open deals, {'above' if high else 'below'} the "
            f"{rule.max_open if high else rule.min_open} a rep can "
            f"{'work well' if high else 'live from'}.",
            {
                "open_deals": n,
                "threshold": rule.max_open if high else rule.min_open,
                "max_open": rule.max_open,
                "min_open": rule.min_open,
            },
        ),
    )


def activity_barometer(x: RepInputs) -> Verdict | None:
    rule = x.rules.activity_barometer
    progress = x.w.quota(x.as_of)
    if progress is None:
        return None
    q = progress.quota
    remaining = q.target - progress.achieved
    weeks_left = (q.period_end - x.as_of) / (7 * DAY)
    if remaining <= 0 or weeks_left <= 0:
        return None
    history = x.w.deals(x.as_of - rule.history_days * DAY, x.as_of)
    win_rate = ratio(history.won, history.closed)
    if not win_rate:
        return None
    if q.metric == "deals":
        size = 1.0
    else:
        avg = ratio(history.won_amount, history.won_with_amount)
        if not avg:
            return None
        size = avg
    needed = remaining / size / win_rate / weeks_left * (rule.window_days / 7)
    created = x.w.deals(x.as_of - rule.window_days * DAY, x.as_of).created
    holds = created < needed
    if not holds:
        # what is needed grows as the weeks left shrink: it passes ``created`` when they
        # are down to remaining / size / win rate * (window / 7) / created
        weeks = remaining / size / win_rate * (rule.window_days / 7) / created
        x.changes_at(q.period_end - weeks * 7 * DAY)
    return Verdict(
        holds,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: too few new opportunities to reach quota"
            if holds
            else f"Rep {x.state.rep_id}: enough new opportunities to reach quota",
            f"{_count(created, 'new opportunity', 'new opportunities')} in the last "
            f"{rule.window_days} days"
            + (
                f"; reaching the quota needs {needed:.1f}"
                if holds
                else f", at or above the {needed:.1f} reaching the quota needs"
            )
            + f" (remaining {remaining:,.0f} / deal size {size:,.0f} / "
            f"win rate {win_rate:.0%} / {weeks_left:.1f} weeks left).",
            {
                "new_opportunities": created,
                "needed": _r(needed, 2),
                "threshold": _r(needed, 2),
                "remaining_target": _r(remaining, 2),
                "deal_size_avg": _r(size, 2),
                "win_rate": _r(win_rate),
                "weeks_left": _r(weeks_left, 2),
                "closed_deals": history.closed,  # the sample behind win rate and deal size
            },
        ),
    )


def leads_uncontacted(x: RepInputs) -> Verdict | None:
    rule = x.rules.leads_uncontacted
    start = x.as_of - rule.window_days * DAY
    end = x.as_of - rule.within_days * DAY  # younger leads cannot be judged yet
    judged, worked = x.w.leads_contacted(x.state, start, end, rule.within_days * DAY)
    if judged < rule.min_leads:
        return None
    share = worked / judged
    holds = share < rule.min_share
    return Verdict(
        holds,
        "warning",
        lambda: (
            f"Rep {x.state.rep_id}: new leads left uncontacted"
            if holds
            else f"Rep {x.state.rep_id}: new leads worked again",
            ("Only " if holds else "")
            + f"{worked} of {judged} leads assigned in the last {rule.window_days} days "
            f"had an outbound touch within {rule.within_days:g} days ({share:.0%}, "
            + (
                f"alert below {rule.min_share:.0%})."
                if holds
                else f"at or above {rule.min_share:.0%})."
            ),
            {
                "contacted_share": _r(share),
                "threshold": rule.min_share,
                "leads": judged,
                "contacted": worked,
            },
        ),
    )


REP_RULES: Mapping[str, Callable[[RepInputs], Verdict | None]] = {
    "quota_pace": quota_pace,
    "low_contact_rate": low_contact_rate,
    "activity_drop": activity_drop,
    "conversion_drop": conversion_drop,
    "win_rate_outlier": win_rate_outlier,
    "pipeline_load": pipeline_load,
    "activity_barometer": activity_barometer,
    "leads_uncontacted": leads_uncontacted,
}


# per rule: name, function, on, for (seconds), keep_firing_for (seconds)
_Judged = tuple[tuple[str, Callable[[RepInputs], "Verdict | None"], bool, float, float], ...]
_ENABLED: dict[int, tuple[RulesSettings, _Judged]] = {}


def _rules_of(rules: RulesSettings) -> _Judged:
    """The rules with whether each is on and its ``for`` and ``keep_firing_for``, worked
    out once per (frozen) settings object."""
    found = _ENABLED.get(id(rules))
    if found is None or found[0] is not rules:
        judged = tuple(
            (name, rule, cfg.enabled, cfg.for_seconds, cfg.keep_firing_for_seconds)
            for name, rule in REP_RULES.items()
            for cfg in (getattr(rules, name),)
        )
        found = _ENABLED[id(rules)] = (rules, judged)
    return found[1]


def judge_rep(x: RepInputs, team_id: str | None) -> tuple[RepState, list[AlertDraft]]:
    """Judge every rep rule at ``x.as_of``; return the new state and the alert changes
    (the very state when nothing changed).

    A rule's condition must hold at every boundary for its ``for`` before the alert
    fires: the episode's ``started_at`` (and the moment its ``alert_id`` names) is the
    first boundary of that run, when the condition began to hold, and the firing is
    written ``for`` later. Once firing, the condition must fail at every boundary for
    ``keep_firing_for`` before it resolves; if it holds again meanwhile the episode goes
    on with no message, and ``resolved_at`` is the first boundary of the last run of
    failures. A rule switched off resolves at once.
    """
    state = x.state
    as_of = x.as_of
    episodes, pending = state.episodes, state.pending
    new_episodes: dict[str, RepEpisode] | None = None
    new_pending: dict[str, float] | None = None
    drafts: list[AlertDraft] = []
    for name, rule, enabled, hold_for, keep_for in _rules_of(x.rules):
        verdict = rule(x) if enabled else None
        episode = episodes.get(name)
        if verdict is not None and verdict.holds:
            if episode is None:
                since = pending.get(name, as_of)
                if as_of - since < hold_for:  # held, but not for long enough yet
                    if name not in pending:
                        new_pending = dict(pending) if new_pending is None else new_pending
                        new_pending[name] = as_of
                    continue
                if name in pending:
                    new_pending = dict(pending) if new_pending is None else new_pending
                    del new_pending[name]
                episode = RepEpisode(f"{name}:{state.rep_id}:{iso(since)}", since, "")
            elif episode.severity == verdict.severity and episode.false_since is None:
                continue
            resend = episode.severity != verdict.severity
            episode = RepEpisode(episode.alert_id, episode.started_at, verdict.severity)
            new_episodes = dict(episodes) if new_episodes is None else new_episodes
            new_episodes[name] = episode
            if resend:  # a new episode, or a change of severity
                drafts.append(_draft(name, state, team_id, episode, "firing", verdict, None))
            continue
        if name in pending:
            new_pending = dict(pending) if new_pending is None else new_pending
            del new_pending[name]
        if episode is None:
            continue
        false_since = episode.false_since if episode.false_since is not None else as_of
        if enabled and as_of - false_since < keep_for:  # kept firing a while longer
            if episode.false_since is None:
                new_episodes = dict(episodes) if new_episodes is None else new_episodes
                new_episodes[name] = replace(episode, false_since=as_of)
            continue
        new_episodes = dict(episodes) if new_episodes is None else new_episodes
        del new_episodes[name]
        if verdict is None:
            why = "the rule was switched off" if not enabled else "too little data to judge"
            verdict = Verdict.said(
                False,
                "info",
                f"Rep {state.rep_id}: {name.replace('_', ' ')} no longer judged",
                f"No longer judged: {why}.",
                {},
            )
        # A verdict that no longer holds words itself as a resolution; the
        # notification adds the "Resolved" of its kind.
        ended = Verdict.said(
            verdict.holds,
            episode.severity,  # type: ignore[arg-type]
            verdict.title,
            verdict.summary,
            verdict.metrics,
        )
        drafts.append(_draft(name, state, team_id, episode, "resolved", ended, false_since))
    if new_episodes is None and new_pending is None:
        return state, drafts
    return replace(
        state,
        episodes=episodes if new_episodes is None else new_episodes,
        pending=pending if new_pending is None else new_pending,
    ), drafts


def _draft(
    rule: str,
    state: RepState,
    team_id: str | None,
    episode: RepEpisode,
    status: str,
    verdict: Verdict,
    resolved_at: float | None,
) -> AlertDraft:
    return AlertDraft(
        rule=rule,
        subject_kind="rep",
        subject_id=state.rep_id,
        alert_id=episode.alert_id,
        status=status,  # type: ignore[arg-type]
        severity=verdict.severity,
        title=verdict.title,
        summary=verdict.summary,
        metrics=verdict.metrics,
        started_at=episode.started_at,
        resolved_at=resolved_at,
        rep_id=state.rep_id,
        team_id=team_id,
    )
