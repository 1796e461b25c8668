"""docker-compose.yml: valid against the Compose Specification, settings in step with the code.

No Docker engine runs where the tests run, so the file is checked against the
Compose Specification's JSON schema (fetched from PyPI into the pytest cache the
first time, never committed) and its SALESPULSE_* variables against the settings
model.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from .promql import REPO
from .settings_env import load_with_env, unknown_setting

COMPOSE = REPO / "docker-compose.yml"
SPEC_WHEEL = "docker-compose==1.29.2"  # its wheel ships compose/config/compose_spec.json


@pytest.fixture(scope="module")
def compose_schema(request: pytest.FixtureRequest) -> dict[str, Any]:
    cache = Path(request.config.cache.mkdir("compose-spec"))
    wheels = sorted(cache.glob("docker_compose-*.whl"))
    if not wheels:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(cache)]
            + ["--only-binary", ":all:", SPEC_WHEEL],
            check=True,
            timeout=300,
        )
        wheels = sorted(cache.glob("docker_compose-*.whl"))
    with zipfile.ZipFile(wheels[-1]) as wheel:
        return json.loads(wheel.read("compose/config/compose_spec.json"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_valid_against_the_compose_specification(compose_schema, compose) -> None:
    jsonschema.Draft201909Validator(compose_schema).validate(compose)


def test_the_schema_check_can_fail(compose_schema, compose) -> None:
    broken = json.loads(json.dumps(compose))
    broken["services"]["worker-1"]["restart_policy"] = "always"  # not a service key
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft201909Validator(compose_schema).validate(broken)


def test_the_whole_stack_is_there(compose) -> None:
    services = compose["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    workers = [s for s in services.values() if s.get("command") == ["worker"]]
    assert len(workers) == 2
    assert services["simulator"]["command"][0] == "simulate"
    assert {"prometheus", "grafana", "mailpit"} <= set(services)
    prometheus_cfg = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t
        for job in prometheus_cfg["scrape_configs"]
        if job["job_name"] == "salespulse"  # the workers' job; the gateway has its own
        for c in job["static_configs"]
        for t in c["targets"]
    }
    assert targets == {
        f"{name}:6066" for name, s in services.items() if s.get("command") == ["worker"]
    }
    # every worker has a state volume of its own (never share a data directory)
    volumes = [tuple(s["volumes"]) for s in workers]
    assert len(set(volumes)) == len(volumes)
    for mount in ("./deploy/grafana/provisioning", "./deploy/grafana/dashboards"):
        assert any(v.startswith(mount + ":") for v in services["grafana"]["volumes"])
        assert (REPO / mount).is_dir()
    assert (REPO / "Dockerfile").is_file()


def test_settings_are_real_and_valid(compose, monkeypatch) -> None:
    for name, service in compose["services"].items():
        env = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        ours = {k: v for k, v in env.items() if k.startswith("SALESPULSE_")}
        if service.get("image", "").startswith("salespulse") or "build" in service:
            assert ours, f"{name} configures salespulse"
        problems = [p for p in map(unknown_setting, ours) if p]
        assert not problems, problems
        settings = load_with_env(monkeypatch, ours)
        for key, value in ours.items():
            path = key.removeprefix("SALESPULSE_").lower().split("__")
            current: Any = settings
            for part in path:
                current = getattr(current, part)
            assert str(current) == value or str(current) == str(type(current)(value)), key
        if "worker" in service.get("command", []):
            assert settings.kafka_bootstrap == "kafka:9092"
            assert settings.web_port == 6066


def test_unknown_setting_is_reported() -> None:
    assert unknown_setting("SALESPULSE_KAFKA_BOOTSTRAP") is None
    assert unknown_setting("SALESPULSE_RULES__DEAL_STALLED__FACTOR") is None
    assert unknown_setting("SALESPULSE_KAFKA_BOOTSTRAPS")
    assert unknown_setting("SALESPULSE_PARTITIONS__X")
