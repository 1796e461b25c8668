"""Prometheus configuration and rules: valid for promtool, unit-tested, about real metrics."""

from __future__ import annotations

import yaml

from .promql import DEPLOY, RULES_DIR, load_module, metric_names, recorded_names, run_promtool

PROMETHEUS = DEPLOY / "prometheus"


def test_config_is_valid() -> None:
    result = run_promtool("check", "config", PROMETHEUS / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    assert "salespulse" in jobs, "the alert rules select job=salespulse"
    loaded = {PROMETHEUS / path for path in config["rule_files"]}
    assert loaded == set(RULES_DIR.glob("*.yml")), "every rules file is loaded"


def test_rules_are_valid() -> None:
    files = sorted(RULES_DIR.glob("*.yml"))
    assert len(files) == 2
    result = run_promtool("check", "rules", *files)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rules_unit_tests_pass() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.test.yml"))
    assert tests
    result = run_promtool("test", "rules", *tests)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_and_an_operator_doc() -> None:
    alerts = {
        rule["alert"]
        for path in RULES_DIR.glob("*.yml")
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert {
        "SalespulseWorkerDown",
        "SalespulseNotReady",
        "SalespulseConsumerLagGrowing",
        "SalespulseDeadLetterRate",
    } <= alerts
    tested = {
        case["alertname"]
        for path in (PROMETHEUS / "tests").glob("*.test.yml")
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    }
    assert alerts <= tested, f"alerts without a promtool unit test: {sorted(alerts - tested)}"
    docs = (DEPLOY.parent / "docs" / "operations.md").read_text()
    assert all(f"### {name}" in docs for name in alerts), "docs/operations.md explains each alert"


def test_rules_name_only_exported_metrics() -> None:
    dashboards = load_module(DEPLOY / "grafana" / "dashboards.py", "salespulse_dashboards_r")
    known = dashboards.exported_metric_names() | recorded_names() | {"up"}
    unknown = set()
    for path in RULES_DIR.glob("*.yml"):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                unknown |= {(path.name, n) for n in metric_names(rule["expr"]) if n not in known}
    assert not unknown, f"rules query metrics the worker does not export: {sorted(unknown)}"
