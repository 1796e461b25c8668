"""The rep side judges a rep only where its judging can come out otherwise
(:class:`~streamer.core.rep_engine.RepEngine`): held against judging every rep at every
boundary, on simulated histories that exercise every reason a rep is judged again.

Each case replays the same file twice, once judging every boundary and once on the
schedule, and asks for the very same alerts, field for field and in the same order.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import streamer.core.rep_engine as rep_engine
from streamer.core.deal_engine import SharedView
from streamer.core.timeutil import DAY
from streamer.devtools.simulate import SimConfig, write_jsonl
from streamer.replay import Replay
from streamer.settings import load_settings
from tests.streamer.core.test_figures import closed_deals


@dataclass
class Judged:
    """How often reps were judged, and the alerts by rule."""

    calls: int = 0
    rules: Counter[str] = field(default_factory=Counter)


def replay(lines: list[bytes], settings_: Any, every: bool) -> tuple[list, Judged]:
    alerts: list[dict] = []
    run = Replay(settings_, emit=lambda a: alerts.append(json.loads(a.to_json_bytes())))
    run.reps.every_boundary = every
    run.replay(lambda: lines)
    return alerts, Judged(run.reps.judged, Counter(a["rule"] for a in alerts))


def simulated(tmp_path: Path, config: SimConfig) -> list[bytes]:
    path = tmp_path / "events.jsonl"
    write_jsonl(config, path)
    return [line for line in path.read_bytes().splitlines() if line.strip()]


def with_org_change_and_late_events(lines: list[bytes]) -> list[bytes]:
    """Move rep-01 to another team halfway, and deliver every 40th activity of the
    second half 40 lines late (late events, processed where their partition stands)."""
    out = list(lines)
    half = len(out) // 2
    event = json.loads(out[half])
    moved = {
        "event_id": "test-move-rep-01",
        "event_type": "rep.upserted",
        "occurred_at": event["occurred_at"],
        "source": "test",
        "schema_version": 1,
        "rep_id": "rep-01",
        "name": "Anna Snelling",
        "team_id": "west",
        "manager_id": "mgr-dustin-brinkmann",
    }
    out.insert(half, json.dumps(moved).encode())
    for i in range(half + 10, len(out) - 50, 40):
        if b'"activity.logged"' in out[i]:
            out.insert(i + 40, out.pop(i))
    return out


TEAM_RULES = {
    "east": {
        "rules": {
            "win_rate_outlier": {"window_days": 30, "min_closed": 4, "for_seconds": 0},
            "conversion_drop": {"window_days": 30, "min_exits": 4, "ratio": 0.9},
            "low_contact_rate": {"window_days": 14, "min_attempts": 5},
            "quota_pace": {"for_seconds": 0, "keep_firing_for_seconds": 0},
        }
    },
    "west": {
        "rules": {
            "activity_barometer": {"window_days": 3, "keep_firing_for_seconds": 0},
            "leads_uncontacted": {"within_days": 1.0, "min_leads": 2},
        }
    },
}


REP_RULES = {"quota_pace", "activity_barometer", "low_contact_rate"}
TEAM_RULES_FIRED = {"win_rate_outlier", "conversion_drop"}


@pytest.mark.parametrize(
    ("config", "overrides", "edit", "fired"),
    [
        pytest.param(SimConfig(seed=11, reps=12, days=45), {}, None, REP_RULES, id="defaults"),
        pytest.param(
            SimConfig(seed=12, reps=40, days=100, cold_touches_per_day=0.5, deals_per_rep_week=1),
            {"teams": TEAM_RULES, "rep_rules_interval_seconds": 7200},
            None,
            REP_RULES | TEAM_RULES_FIRED,
            id="low-activity-team-overrides-2h",
        ),
        pytest.param(
            SimConfig(seed=13, reps=12, days=40),
            {"teams": TEAM_RULES},
            with_org_change_and_late_events,
            REP_RULES,
            id="org-change-late-events",
        ),
    ],
)
def test_the_schedule_says_what_judging_every_boundary_says(
    tmp_path, config, overrides, edit, fired
):
    lines = simulated(tmp_path, config)
    if edit is not None:
        lines = edit(lines)
    settings_ = load_settings(**overrides)
    every, every_judged = replay(lines, settings_, True)
    scheduled, scheduled_judged = replay(lines, settings_, False)

    assert fired <= set(every_judged.rules), every_judged.rules  # the case exercises them
    assert scheduled == every
    # and it got there judging less (the point of the schedule)
    assert scheduled_judged.calls < every_judged.calls


def test_a_year_of_low_activity_is_judged_far_less_often(tmp_path):
    """Judging follows the events: a long quiet history is not judged hour by hour."""
    config = SimConfig(seed=14, reps=20, days=365, cold_touches_per_day=0.3, deals_per_rep_week=0.3)
    lines = simulated(tmp_path, config)
    settings_ = load_settings()
    every, every_judged = replay(lines, settings_, True)
    scheduled, scheduled_judged = replay(lines, settings_, False)
    assert scheduled == every
    assert every_judged.calls > 20 * 300 * 24  # every rep, every hour
    assert scheduled_judged.calls * 3 < every_judged.calls


def test_a_rep_is_judged_again_when_only_its_teams_figure_moves():
    """rep-a's own deals do not change; its team mate's deals closing move the team's
    win rate across rep-a's line, and rep-a's win_rate_outlier fires then, on the
    schedule as at every boundary; it resolves when the mate's deals age out."""
    settings_ = load_settings()
    start = 1_790_000_000.0 // 3600 * 3600
    runs = []
    for every in (True, False):
        e = rep_engine.RepEngine(settings_, {}, {}, {}, SharedView(), judge_every_boundary=every)
        for s in closed_deals("rep-a", 4, 16, start):  # 20% won
            e.on_summary("rep-a", s, 0, start)
        drafts = e.on_ticks([0, 1], start + 5 * DAY)
        for s in closed_deals("rep-b", 16, 0, start + 5 * DAY + 1800):  # the mate, 100% won
            e.on_summary("rep-b", s, 1, start + 5 * DAY + 1800)
        for day in range(6, 100):
            drafts += e.on_ticks([0, 1], start + day * DAY)
        runs.append([d for d in drafts if d.rep_id == "rep-a" and d.rule == "win_rate_outlier"])
    every, scheduled = runs
    # alone, 20% is its own team's rate; with the mate the team is at 55%: 20% < half of it
    assert [d.status for d in every] == ["firing", "resolved"]
    assert every[0].started_at == start + 6 * DAY - 23 * 3600  # the first hour after the close
    assert scheduled == every
