"""The KPI report of contract section 7, from the engines' state at ``as_of``.

One function serves ``replay --report`` and the worker's Prometheus export,
so both show the same figures for the same state.
"""

from __future__ import annotations

from typing import Any

from .deal_engine import DealEngine
from .figures import TeamSums, ratio
from .rep_engine import RepEngine
from .timeutil import DAY, iso

__all__ = ["NO_TEAM", "build_report"]

NO_TEAM = "_none"


def build_report(deals: DealEngine, reps: RepEngine, as_of: float) -> dict[str, Any]:
    """KPIs of the reps this process owns, and of every team and stage (shared view)."""
    rep_out: dict[str, Any] = {}
    teams: dict[str, TeamSums] = {}
    for partition in sorted(reps.owned):
        for rep_id in sorted(reps.rep_ids[partition]):
            state = reps.rep(rep_id)
            if state is None or state.first_seen is None or state.first_seen > as_of:
                continue
            figures = reps.figures(state, as_of)
            team = reps.team_of(state) or NO_TEAM
            rep_out[rep_id] = {"team_id": None if team == NO_TEAM else team, **figures.kpis()}
            teams.setdefault(team, TeamSums()).add_rep(figures)
    for partition, snapshot in reps.view.rep_snapshots.items():
        if partition in reps.owned:
            continue
        for team, sums in snapshot.teams.items():
            teams.setdefault(team or NO_TEAM, TeamSums()).add(sums)
    total = TeamSums()
    for sums in teams.values():
        total.add(sums)
    stats = deals.stage_stats()
    stages: dict[str, Any] = {}
    for key in sorted(set(stats) | set(total.open_by_stage) | set(total.exits)):
        count, amount = total.open_by_stage.get(key, (0, 0.0))
        stat = stats.get(key)
        avg = stat.avg_seconds if stat is not None else None
        left, forward = total.exits.get(key, (0, 0))
        stages[key] = {
            "open_deals": int(count),
            "open_amount": amount if count else None,
            "stage_avg_days": avg / DAY if avg is not None else None,
            "samples": stat.count if stat is not None else 0,
            "stage_conversion": ratio(forward, left),
        }
    by: dict[str, dict[str, dict[str, float]]] = {"source_channel": {}, "product": {}}
    for kind, source in (
        ("open_amount", total.open_amount_by),
        ("won_amount", total.won_amount_by),
    ):
        for dim_value, amount in sorted(source.items()):
            dim, value = dim_value.split("|", 1)
            by[dim].setdefault(value, {})[kind] = amount
    return {
        "as_of": iso(as_of),
        "reps": rep_out,
        "teams": {team: sums.kpis() for team, sums in sorted(teams.items())},
        "stages": stages,
        "source_channels": by["source_channel"],
        "products": by["product"],
    }
