"""Scaling out on Kubernetes (deploy/k8s/): every manifest is validated strictly against Kubernetes'
own OpenAPI schemas (kubernetes-validate ships them in its wheel: offline), then checked for what a
schema cannot see (selectors, probes, scrape ports, secrets, security context).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import K8S, SECRETISH


def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _resources() -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for name in _kustomization()["resources"]:
        docs.extend(d for d in yaml.safe_load_all((K8S / name).read_text()) if d)
    return docs


def _of(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in _resources() if d["kind"] == kind}


def _containers() -> list[tuple[str, dict[str, Any]]]:
    return [(name, c) for name, d in _of("Deployment").items() for c in d["spec"]["template"]["spec"]["containers"]]


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    listed = set(_kustomization()["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}
    assert listed == present
    kinds = {(d["kind"], d["metadata"]["name"]) for d in _resources()}
    assert ("Secret", "wilton-secrets") not in kinds
    for expected in (("Namespace", "wilton"), ("Deployment", "wilton-proxy"), ("Service", "wilton-proxy"),
                     ("PodDisruptionBudget", "wilton-proxy"), ("Deployment", "wilton-redis"),
                     ("Service", "wilton-redis"), ("Deployment", "wilton-coherence"),
                     ("Deployment", "wilton-insight"), ("ConfigMap", "wilton-litellm-config")):
        assert expected in kinds, expected


@pytest.mark.parametrize("path", sorted(set(K8S.glob("*.yaml")) - {K8S / "kustomization.yaml"}), ids=lambda p: p.name)
def test_manifest_passes_the_kubernetes_schema(path: Path) -> None:
    import kubernetes_validate

    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            assert {"apiVersion", "kind", "metadata"} <= set(doc)
            kubernetes_validate.validate(doc, "1.30.0", strict=True)


def test_the_schema_lint_catches_a_mistake() -> None:
    import kubernetes_validate

    proxy = _of("Deployment")["wilton-proxy"]
    broken = yaml.safe_load(yaml.safe_dump(proxy))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessprobe"] = {}  # wrong case
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)
    broken = yaml.safe_load(yaml.safe_dump(proxy))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.30.0", strict=True)


def test_selectors_match_labels() -> None:
    deployments = _of("Deployment")
    for name, d in deployments.items():
        selector = d["spec"]["selector"]["matchLabels"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in deployments.values()]
    for name, service in _of("Service").items():
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), f"Service {name} selects nothing"
        target = _of("Deployment")[name]["spec"]["template"]["spec"]["containers"][0]
        port_names = {p["name"] for p in target["ports"]}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"Service {name}: {port['targetPort']}"
    pdb = _of("PodDisruptionBudget")["wilton-proxy"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= \
        deployments["wilton-proxy"]["spec"]["template"]["metadata"]["labels"].items()
    assert pdb["spec"]["minAvailable"] < deployments["wilton-proxy"]["spec"]["replicas"]


def test_proxy_replicas_probes_and_scraping() -> None:
    proxy = _of("Deployment")["wilton-proxy"]
    assert proxy["spec"]["replicas"] == 3
    container = proxy["spec"]["template"]["spec"]["containers"][0]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 4000, "metrics": 8000}
    args = container["args"]
    assert args[args.index("--port") + 1] == "4000"
    assert args[args.index("--prometheus_metrics_port") + 1] == "8000"
    assert args[args.index("--config") + 1] == "/etc/wilton/litellm_config.yaml"
    assert container["readinessProbe"]["httpGet"] == {"path": "/health/readiness", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/health/liveliness", "port": "http"}
    env = {e["name"]: e for e in container["env"]}
    assert {"LITELLM_MASTER_KEY", "REDIS_PASSWORD", "WILTON_JWT_SECRET"} <= set(env)
    assert any(ref["configMapRef"]["name"] == "wilton-env" for ref in container["envFrom"])
    assert _of("ConfigMap")["wilton-env"]["data"]["REDIS_HOST"] == "wilton-redis"


def test_proxy_starts_with_the_bundled_cost_map() -> None:
    """LITELLM_LOCAL_MODEL_COST_MAP=True in the proxy's environment (its env, or a ConfigMap it loads
    whole): otherwise every replica fetches LiteLLM's cost map from GitHub at start-up."""
    container = _of("Deployment")["wilton-proxy"]["spec"]["template"]["spec"]["containers"][0]
    resolved: dict[str, str] = {}
    for ref in container.get("envFrom", []):
        resolved.update(_of("ConfigMap")[ref["configMapRef"]["name"]]["data"])
    resolved.update({e["name"]: e["value"] for e in container.get("env", []) if "value" in e})
    assert resolved.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"


def test_every_workload_is_scraped_on_its_metrics_port() -> None:
    for name, d in _of("Deployment").items():
        if name == "wilton-redis":
            continue
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        ports = {p["name"]: p["containerPort"] for p in d["spec"]["template"]["spec"]["containers"][0]["ports"]}
        assert annotations["prometheus.io/port"] == str(ports["metrics"]), name
    assert _of("Deployment")["wilton-insight"]["spec"]["template"]["spec"]["containers"][0]["command"] == \
        ["wilton-insight"]


def test_security_context_and_resources() -> None:
    for name, d in _of("Deployment").items():
        pod = d["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod.get("automountServiceAccountToken") is False, name
    for name, c in _containers():
        assert c["securityContext"]["allowPrivilegeEscalation"] is False, name
        assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
        for part in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(c["resources"][part]), f"{name}: {part}"
        assert "image" in c and ":" in c["image"], name


def test_no_secret_values_in_the_manifests() -> None:
    template = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    assert template["kind"] == "Secret" and "data" not in template
    assert all(value == "" for value in template["stringData"].values()), "secret.example.yaml holds a value"
    keys = set(template["stringData"])
    for name, c in _containers():
        for env in c.get("env", []):
            if "value" in env:
                assert not SECRETISH.search(env["name"]) or env["name"].endswith("_ADDR"), f"{name}: {env['name']}"
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                assert ref["name"] == "wilton-secrets" and ref["key"] in keys, f"{name}: {ref}"
    for cm in _of("ConfigMap").values():
        for key, value in cm["data"].items():
            assert not (SECRETISH.search(key) and value), f"ConfigMap {key} looks like a secret"


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kustomize_renders() -> None:
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S)], check=True, capture_output=True, text=True,
                              timeout=60).stdout
    docs = [d for d in yaml.safe_load_all(rendered) if d]
    assert all(d["metadata"].get("namespace", "wilton") == "wilton" for d in docs)
    assert all(d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "wilton" for d in docs)
    assert len(docs) == len(_resources())
