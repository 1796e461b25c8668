"""Kubernetes manifests: valid against the Kubernetes schemas, and they mean what they say."""

from __future__ import annotations

from typing import Any

import kubernetes_validate
import pytest
import yaml

from .promql import DEPLOY
from .settings_env import load_with_env, unknown_setting

K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.30"


def documents() -> dict[str, dict[str, Any]]:
    docs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs[f"{doc['kind']}/{doc.get('metadata', {}).get('name', path.stem)}"] = doc
    return docs


@pytest.fixture(scope="module")
def manifests() -> dict[str, dict[str, Any]]:
    return documents()


def test_every_manifest_is_valid_kubernetes(manifests) -> None:
    checked = 0
    for doc in manifests.values():
        if doc["apiVersion"].startswith(("kustomize.", "monitoring.coreos.com")):
            continue  # not core Kubernetes kinds
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 6


def test_the_validation_can_fail(manifests) -> None:
    bad = yaml.safe_load(yaml.safe_dump(manifests["StatefulSet/salespulse"]))
    bad["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_the_files(manifests) -> None:
    listed = set(manifests["Kustomization/kustomization"]["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {
        "kustomization.yaml",
        "servicemonitor.yaml",
    }


def test_workers_are_a_statefulset_with_state_probes_and_scraping(
    manifests, monkeypatch, tmp_path
) -> None:
    sts = manifests["StatefulSet/salespulse"]
    pod = sts["spec"]["template"]
    container = pod["spec"]["containers"][0]
    assert sts["spec"]["serviceName"] == manifests["Service/salespulse"]["metadata"]["name"]
    assert sts["spec"]["selector"]["matchLabels"].items() <= pod["metadata"]["labels"].items()
    claims = {c["metadata"]["name"] for c in sts["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert "state" in claims and "state" in mounts

    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/live"  # stuck, not just up
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"

    # the configuration the pod really gets: the ConfigMap's TOML plus the env
    toml_text = manifests["ConfigMap/salespulse-config"]["data"]["salespulse.toml"]
    env = {e["name"]: e for e in container["env"]}
    config_path = env["SALESPULSE_CONFIG"]["value"]
    config_mount = next(m for m in container["volumeMounts"] if m["name"] == "config")
    assert config_mount["mountPath"] == config_path
    for name in env:
        if name != "SALESPULSE_CONFIG":
            assert unknown_setting(name) is None, unknown_setting(name)
    secret = manifests["Secret/salespulse-kafka"]["stringData"]
    for item in env.values():
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        if ref:
            assert ref["name"] == "salespulse-kafka" and ref["key"] in secret

    toml_file = tmp_path / "salespulse.toml"
    toml_file.write_text(toml_text)
    values = {"SALESPULSE_KAFKA__SASL_USERNAME": "u", "SALESPULSE_KAFKA__SASL_PASSWORD": "p"}
    settings = load_with_env(monkeypatch, values, toml_file)
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "p"
    assert settings.kafka.security_protocol == "SASL_SSL"
    assert str(settings.data_dir).startswith(mounts["state"])
    assert container["ports"][0]["containerPort"] == settings.web_port
    assert annotations["prometheus.io/port"] == str(settings.web_port)
    ca_mount = next(m for m in container["volumeMounts"] if m["name"] == "kafka-ca")
    assert str(settings.kafka.ssl_cafile).startswith(ca_mount["mountPath"])
    assert settings.partitions >= sts["spec"]["replicas"], "a worker without partitions idles"
