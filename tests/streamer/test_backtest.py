"""``salespulse backtest``: the replay's alerts, measured per rule, for one configuration or two."""

from __future__ import annotations

import io
import json
from collections import Counter
from pathlib import Path

import pytest

from streamer.backtest import EventFacts, event_lines, report, rule_names, run_backtest, table
from streamer.backtest_report import render_html
from streamer.cli import main
from streamer.devtools.simulate import SimConfig, write_jsonl
from streamer.replay import Replay
from streamer.settings import load_settings


@pytest.fixture(scope="module")
def events_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("backtest") / "sim.jsonl"
    write_jsonl(SimConfig(days=40, reps=4, seed=3), path)
    return path


@pytest.fixture()
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    import os

    for name in [k for k in os.environ if k.startswith("SALESPULSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no salespulse.toml around
    return tmp_path


def test_firings_are_the_replays_and_outcomes_are_the_files(events_file: Path) -> None:
    settings = load_settings()
    run = run_backtest(settings, event_lines(events_file)(), label="current", flap_seconds=86_400)
    seen: Counter[tuple[str, str]] = Counter()
    replay = Replay(settings, emit=lambda alert: seen.update([(alert.rule, alert.status)]))
    for line in event_lines(events_file)():
        replay.feed_line(line)
    replay.finish()
    assert list(run.rules) == rule_names()
    for name, f in run.rules.items():
        assert (f.firings, f.resolutions) == (seen[(name, "firing")], seen[(name, "resolved")])
    assert run.overall["firings"] == sum(n for (_, status), n in seen.items() if status == "firing")

    facts = EventFacts()
    closed: dict[str, str] = {}
    for line in event_lines(events_file)():
        facts.read(line)
        event = json.loads(line)
        if event["event_type"] in ("deal.won", "deal.lost"):
            closed[event["deal_id"]] = event["event_type"]
    assert run.outcomes == len(closed) > 0
    assert run.lost == sum(1 for kind in closed.values() if kind == "deal.lost")
    assert (run.population.reps, run.population.managers) == (4, 3)
    assert 39 < run.population.days <= 40
    stalled = run.rules["deal_stalled"]
    assert stalled.firings > 0 and stalled.closed_deals == run.outcomes
    assert stalled.lift is not None and stalled.lost_alerted_share is not None
    assert run.rules["quota_pace"].lift is None  # a rep rule has no deal outcomes


def test_the_command_prints_the_table_and_writes_json_and_html(
    events_file: Path, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tuned = clean_env / "tuned.toml"
    tuned.write_text("[rules.follow_up_gap]\nenabled = false\n[rules.deal_stalled]\nfactor = 3.0\n")
    out_json, out_html = clean_env / "bt.json", clean_env / "bt.html"
    code = main(
        [
            "backtest",
            str(events_file),
            "--against",
            str(tuned),
            "--flap-minutes",
            "720",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    data = json.loads(out_json.read_text())
    assert data["flap_minutes"] == 720
    current, other = data["runs"]
    assert (current["label"], other["label"]) == ("current", "tuned.toml")
    assert other["disabled_rules"] == ["follow_up_gap"]
    assert other["rules"]["follow_up_gap"]["firings"] == 0
    assert current["rules"]["follow_up_gap"]["firings"] > 0
    # a higher factor waits longer before calling a deal stalled: fewer firings
    assert other["rules"]["deal_stalled"]["firings"] < current["rules"]["deal_stalled"]["firings"]
    assert len(current["weekly"]["weeks"]) == 6  # 40 days from a Monday: 5 weeks and 5 days
    assert (
        sum(current["weekly"]["firings"]["deal_stalled"])
        == (current["rules"]["deal_stalled"]["firings"])
    )
    for name in rule_names():
        assert name in printed
    assert "tuned.toml (off)" in printed and "all rules" in printed
    assert "shorter than 720 minutes" in printed
    page = out_html.read_text()
    assert page.startswith("<!doctype html>") and "tuned.toml" in page


def test_the_table_lines_up_and_says_what_is_missing(events_file: Path) -> None:
    run = run_backtest(
        load_settings(), event_lines(events_file)(), label="current", flap_seconds=86_400
    )
    text = table("sim.jsonl", 1440, [run])
    header = next(line for line in text.splitlines() if line.startswith("rule"))
    assert "config" not in header  # one configuration: no config column
    row = next(line for line in text.splitlines() if line.startswith("quota_pace"))
    assert row.split()[-3:] == ["–", "–", "–"]  # no lift, share or lead time for a rep rule
    assert len(row) <= len(header)


def test_bad_input_is_refused_with_a_message(
    events_file: Path, clean_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["backtest", str(clean_env / "absent.jsonl")]) == 2
    assert "neither a file of events" in capsys.readouterr().err
    bad = clean_env / "bad.toml"
    bad.write_text("[rules.deal_stalled]\nfactor = 0.5\n")
    assert main(["backtest", str(events_file), "--against", str(bad)]) == 2
    assert "rules.deal_stalled.factor" in capsys.readouterr().err
    assert main(["backtest", str(events_file), "--flap-minutes", "0"]) == 2


def test_rejected_lines_are_counted_not_measured(clean_env: Path) -> None:
    path = clean_env / "few.jsonl"
    path.write_text(
        '{"event_id":"r1","event_type":"rep.upserted","occurred_at":"2026-01-05T09:00:00Z",'
        '"source":"t","rep_id":"rep-1","name":"A","team_id":"t","manager_id":"m"}\n'
        "not json\n"
    )
    out = io.StringIO()
    run = run_backtest(load_settings(), event_lines(path)(), label="x", flap_seconds=60)
    assert run.events == {"read": 2, "accepted": 1, "duplicates": 0, "late": 0, "rejected": 1}
    assert (run.population.reps, run.population.managers, run.population.days) == (1, 1, 0.0)
    assert run.rules["deal_stalled"].firings_per_rep_week is None  # no span of time
    out.write(table("few.jsonl", 1, [run]))
    assert "1 reps, 1 managers" in out.getvalue()


def test_alerts_are_written_when_a_live_worker_would_write_them(events_file: Path) -> None:
    """The backtest replays the file as live traffic: a deal rule's firing is written
    within a few events of the moment it could be, not when a backlog's slowest
    partition lets time through (the alerts themselves are the same either way)."""
    settings = load_settings(rules={"deal_stalled": {"for_seconds": 0}})
    live: list = []
    backlog: list = []
    for caught_up, out in ((True, live), (False, backlog)):
        replay = Replay(settings, emit=out.append, advance_every=8, caught_up=caught_up)
        for line in event_lines(events_file)():
            replay.feed_line(line)
        replay.finish()
    assert {(a.alert_id, a.status) for a in live} == {(a.alert_id, a.status) for a in backlog}

    def median_lag(alerts: list) -> float:
        lags = sorted(
            (a.emitted_at - a.started_at).total_seconds()
            for a in alerts
            if a.rule == "deal_stalled" and a.status == "firing"
        )
        return lags[len(lags) // 2]

    # within the night the simulated reps sleep through (event time moves with events)
    assert median_lag(live) < 12 * 3600 < median_lag(backlog)


def test_the_notifications_managers_would_get_are_counted(events_file: Path) -> None:
    every = load_settings(notifications={"digest": {"manager_rules": [], "manager_kinds": []}})
    run = run_backtest(every, event_lines(events_file)(), label="x", flap_seconds=86_400)
    digested = run_backtest(
        load_settings(), event_lines(events_file)(), label="y", flap_seconds=86_400
    )
    n, d = run.notifications, digested.notifications
    told = sum(sum(kinds.values()) for kinds in n["told"].values())
    assert n["sent"] > 0 and n["sent"] <= told  # alerts without a manager reach nobody
    assert d["sent"] < n["sent"], "the default digest gathers a manager's deal alerts"
    assert d["per_manager_day"] == pytest.approx(
        d["sent"] / run.population.managers / run.population.days, abs=1e-3
    )
    assert f"{d['per_manager_day']:.2f} per manager a day" in table("f", 1440, [digested])
    page = render_html(report("f", 1440, [digested]))
    assert f"managers would have been told {d['per_manager_day']:.2f} times a day" in page
