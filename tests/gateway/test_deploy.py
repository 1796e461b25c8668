"""The gateway in docker-compose, Kubernetes and Prometheus: there, scraped, probed on
/ready, configured only with real settings, its secrets from a Secret."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.deploy.settings_env import unknown_setting
from tests.deploy.test_k8s import documents

REPO = Path(__file__).resolve().parents[2]


def test_compose_runs_a_gateway_that_prometheus_scrapes() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["command"] == ["gateway"]
    env = {k: str(v) for k, v in gateway["environment"].items()}
    assert not [p for p in map(unknown_setting, env) if p]
    assert not any("SECRET" in k or "PASSWORD" in k for k in env)  # never in the file
    port = env["SALESPULSE_GATEWAY__PORT"]
    assert "/ready" in " ".join(gateway["healthcheck"]["test"])
    prometheus = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    targets = [t for c in jobs["salespulse-gateway"]["static_configs"] for t in c["targets"]]
    assert targets == [f"gateway:{port}"]


def test_kubernetes_gateway_deployment() -> None:
    docs = documents()
    deployment = docs["Deployment/salespulse-gateway"]
    service = docs["Service/salespulse-gateway"]
    secret = docs["Secret/salespulse-gateway"]["stringData"]
    pod = deployment["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["gateway"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    workers = docs["StatefulSet/salespulse"]["spec"]["template"]["metadata"]["labels"]
    assert not service["spec"]["selector"].items() <= workers.items()
    env = {e["name"]: e for e in container["env"]}
    for name in env:
        if name != "SALESPULSE_CONFIG":
            assert unknown_setting(name) is None, unknown_setting(name)
    port = int(env["SALESPULSE_GATEWAY__PORT"]["value"])
    assert container["ports"][0]["containerPort"] == port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
    for name, item in env.items():
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref and ref["name"] == "salespulse-gateway":
            assert ref["key"] in secret, name
    assert all(v == "" for v in secret.values()), "no secret values in the repository"
    listed = docs["Kustomization/kustomization"]["resources"]
    assert {"gateway-deployment.yaml", "gateway-service.yaml", "gateway-secret.yaml"} <= set(listed)
