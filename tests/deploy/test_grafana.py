"""The Grafana dashboards: generated, committed, parseable, and only about real metrics."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .promql import (
    DEPLOY,
    concrete,
    load_module,
    metric_names,
    recorded_names,
    run_promtool,
)

GRAFANA = DEPLOY / "grafana"


@pytest.fixture(scope="module")
def generator() -> Any:
    return load_module(GRAFANA / "dashboards.py", "salespulse_dashboards")


@pytest.fixture(scope="module")
def committed() -> dict[str, dict[str, Any]]:
    return {
        path.name: json.loads(path.read_text())
        for path in sorted((GRAFANA / "dashboards").glob("*.json"))
    }


def panels(model: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in model["panels"]:
        yield panel
        yield from panel.get("panels", [])


def exprs(model: dict[str, Any]) -> list[tuple[str, str]]:
    found = [
        (panel["title"], target["expr"])
        for panel in panels(model)
        for target in panel.get("targets", [])
    ]
    for variable in model.get("templating", {}).get("list", []):
        query = variable.get("query")
        if isinstance(query, dict) and query.get("query", "").startswith("label_values("):
            inner = query["query"].removeprefix("label_values(").rsplit(",", 1)[0]
            found.append((f"variable {variable['name']}", inner))
    return found


def test_committed_json_is_what_the_generator_writes(generator, committed) -> None:
    generated = generator.build_all()
    assert sorted(generated) == sorted(committed), "run deploy/grafana/dashboards.py"
    for name, model in generated.items():
        assert committed[name] == model, (
            f"{name} is stale: run .venv/bin/python deploy/grafana/dashboards.py"
        )
        text = (GRAFANA / "dashboards" / name).read_text()
        assert text == generator.render(model), f"{name} not in the generator's formatting"


def test_every_panel_query_parses(committed, tmp_path: Path) -> None:
    """promtool parses every expression (as a recording rule) after variable substitution."""
    rules = [
        {"record": f"dashboard_check:{i}", "expr": concrete(expr)}
        for i, (_, expr) in enumerate(e for model in committed.values() for e in exprs(model))
    ]
    assert len(rules) > 30
    path = tmp_path / "dashboard-exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = run_promtool("check", "rules", path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_broken_query_is_caught(tmp_path: Path) -> None:
    """The parse check above can fail: promtool rejects a malformed expression."""
    path = tmp_path / "bad.yml"
    rule = {"record": "x:y", "expr": "sum by (rep_id (salespulse_rep_open_deals)"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [rule]}]}))
    assert run_promtool("check", "rules", path).returncode != 0


def test_queries_name_only_exported_metrics(generator, committed) -> None:
    exported = generator.exported_metric_names()
    recorded = recorded_names()
    unknown = {
        (title, name)
        for model in committed.values()
        for title, expr in exprs(model)
        for name in metric_names(expr)
        if name not in exported | recorded | {"up"}
    }
    assert not unknown, f"panels query metrics the worker does not export: {sorted(unknown)}"


def test_metric_name_extraction() -> None:
    names = metric_names(
        'sum by (rep_id) (rate(salespulse_alerts_total{rule="salespulse_x"}[5m])) '
        "/ on() salespulse:consumer_lag_messages:sum + up"
    )
    assert names == {"salespulse_alerts_total", "salespulse:consumer_lag_messages:sum", "up"}


def test_sales_pulse_shows_every_contract_kpi_with_team_and_rep_filters(committed) -> None:
    from streamer.metrics import REP_KPIS, STAGE_KPIS, TEAM_KPIS

    model = committed["sales-pulse.json"]
    shown = {n for _, e in exprs(model) for n in metric_names(e)}
    wanted = (
        {f"salespulse_rep_{k}" for k, _ in REP_KPIS}
        | {f"salespulse_team_{k}" for k, _ in TEAM_KPIS}
        | {f"salespulse_stage_{k}" for k, _ in STAGE_KPIS}
        | {"salespulse_open_alerts"}
    )
    assert not wanted - shown, f"KPIs without a panel: {sorted(wanted - shown)}"
    variables = {v["name"] for v in model["templating"]["list"]}
    assert {"team", "rep", "datasource"} <= variables
    for title, expr in exprs(model):
        if "salespulse_rep_" in expr and not title.startswith("variable"):
            assert "$rep" in expr and "$team" in expr, title
        if "salespulse_team_" in expr and not title.startswith("variable"):
            assert "$team" in expr, title
