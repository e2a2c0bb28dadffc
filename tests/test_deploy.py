"""The seed's scripts, `make up`/`make down` (scripts/stack.sh) and scaling out (docker-compose.yml,
deploy/): fast static checks, plus the refusals and the exporter script run for real.

Compose: `docker compose config` runs when a compose CLI is installed; the structural checks run
everywhere. Kubernetes: every manifest is validated strictly against Kubernetes' own OpenAPI
schemas (kubernetes-validate ships them in its wheel: offline), then checked for what a schema
cannot see (selectors, probes, scrape ports, secrets, security context).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import tomllib
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy/compose/env.example"
K8S = ROOT / "deploy/k8s"
ROOT_SCRIPTS = sorted(ROOT.glob("*.sh")) + sorted((ROOT / "scripts").glob("*.sh"))
SECRETISH = re.compile(r"KEY|PASSWORD|SECRET|TOKEN", re.I)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything the scripts read, so the tests do not depend on the shell."""
    drop = re.compile(r"^(LITELLM_|OLLAMA_|OPENAI_|GEMINI_|WILTON_|UI_|REDIS_|PROMETHEUS_|PROXY_PORT|METRICS_)")
    env = {k: v for k, v in os.environ.items() if not drop.match(k)}
    env.update(extra)
    return env


# --- the root scripts -------------------------------------------------------------------------


def test_the_seed_scripts_exist() -> None:
    names = {p.name for p in ROOT_SCRIPTS}
    for name in ("start_dashboard.sh", "start_metrics_exporter.sh", "start_coherence_daemon.sh",
                 "install_dashboard_dependencies.sh", "stack.sh"):
        assert name in names


@pytest.mark.parametrize("script", ROOT_SCRIPTS, ids=lambda p: p.name)
def test_script_parses_and_is_executable(script: Path) -> None:
    subprocess.run(["bash", "-n", str(script)], check=True)
    assert os.access(script, os.X_OK), f"{script.name} is not executable"


@pytest.mark.parametrize("name", ["start_dashboard.sh", "start_metrics_exporter.sh", "start_coherence_daemon.sh",
                                  "scripts/install_dashboard_dependencies.sh", "scripts/stack.sh"])
def test_script_is_strict_bash(name: str) -> None:
    script = ROOT / name
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n"), script.name
    assert "set -euo pipefail" in text, script.name


@pytest.mark.parametrize("script", ROOT_SCRIPTS, ids=lambda p: p.name)
def test_script_help(script: Path) -> None:
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, env=_clean_env())
    assert result.returncode == 0, result.stderr
    assert re.search(r"usage", result.stdout, re.I), result.stdout[:200]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck() -> None:
    subprocess.run(["shellcheck", "-x", *map(str, ROOT_SCRIPTS)], check=True, cwd=ROOT)


def test_exporter_refuses_without_a_multiproc_dir() -> None:
    port = _free_port()
    result = subprocess.run([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                            capture_output=True, text=True, timeout=60, env=_clean_env())
    assert result.returncode == 1
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in result.stderr
    assert "--prometheus_metrics_port" in result.stderr


def test_exporter_serves_the_multiproc_dir_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = _free_port()
    log = tmp_path / "exporter.log"
    multiproc = tmp_path / "multiproc"
    multiproc.mkdir()
    with log.open("wb") as out:
        proc = subprocess.Popen([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                                env=_clean_env(PROMETHEUS_MULTIPROC_DIR=str(multiproc)),
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=2) as response:
                    assert response.status == 200
                    assert response.headers["x-litellm-metrics-pid"]
                    break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the exporter did not answer in 60 s"
                time.sleep(0.3)
        # A second start sees LiteLLM's exporter on the port and has nothing to do.
        again = subprocess.run([str(ROOT / "start_metrics_exporter.sh"), "--port", str(port)],
                               capture_output=True, text=True, timeout=60, env=_clean_env())
        assert again.returncode == 0 and "nothing to do" in again.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=20)
    with socket.socket() as sock:  # the port is free again: the child went with the script
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_stack_refuses_without_the_needed_environment(tmp_path: Path) -> None:
    result = subprocess.run([str(ROOT / "scripts/stack.sh"), "up"], capture_output=True, text=True, timeout=60,
                            env=_clean_env(PROXY_PORT=str(_free_port())))
    if "already running" in result.stderr:
        pytest.skip("a stack started from this checkout is running (make down)")
    assert result.returncode == 1
    for name in ("LITELLM_MASTER_KEY", "OLLAMA_SELFHOST_URL", "OPENAI_API_KEY", "WILTON_COHERENCE_PASSWORD"):
        assert name in result.stderr
    assert "refusing to start" in result.stderr


def test_stack_status_and_bad_action() -> None:
    status = subprocess.run([str(ROOT / "scripts/stack.sh"), "status"], capture_output=True, text=True, timeout=60,
                            env=_clean_env())
    assert status.returncode == 0, status.stderr
    assert re.search(r"^proxy\s", status.stdout, re.M)
    bad = subprocess.run([str(ROOT / "scripts/stack.sh"), "sideways"], capture_output=True, text=True, env=_clean_env())
    assert bad.returncode == 1 and "expected up, down or status" in bad.stderr


def test_makefile_has_up_down_status() -> None:
    text = (ROOT / "Makefile").read_text()
    for target, command in (("up", "scripts/stack.sh up"), ("down", "scripts/stack.sh down"),
                            ("status", "scripts/stack.sh status")):
        assert re.search(rf"^{target}:.*\n\t{re.escape(command)}$", text, re.M), target


# --- docker compose ---------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _compose_cli() -> list[str] | None:
    for command in (["docker", "compose"], ["docker-compose"]):
        if shutil.which(command[0]) is None:
            continue
        if subprocess.run([*command, "version"], capture_output=True).returncode == 0:
            return command
    return None


def _documented_vars() -> set[str]:
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def _compose_vars() -> dict[str, str]:
    """Every ${VAR...} in the compose file, with its operator (':?', ':-' or '')."""
    found: dict[str, str] = {}
    for name, op in re.findall(r"(?<!\$)\$\{([A-Z][A-Z0-9_]*)(:\?|:-|\?|-)?", COMPOSE_FILE.read_text()):
        if found.get(name) != ":?":
            found[name] = op
    return found


@pytest.mark.skipif(_compose_cli() is None, reason="no docker compose / docker-compose CLI here")
def test_docker_compose_config(tmp_path: Path) -> None:  # pragma: no cover - needs the compose CLI
    cli = _compose_cli()
    assert cli is not None
    env = _clean_env(
        **{name: "19999" if name.endswith("_PORT") else "dummy-value-for-config-check" for name in _compose_vars()}
    )
    empty_env_file = tmp_path / "empty.env"  # not /dev/null: docker-compose 1.x wants a regular file
    empty_env_file.write_text("", encoding="utf-8")
    base = [*cli, "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT), "--env-file", str(empty_env_file)]
    subprocess.run([*base, "config", "-q"], check=True, env=env, cwd=tmp_path)
    missing = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=_clean_env(), cwd=tmp_path)
    assert missing.returncode != 0 and "LITELLM_MASTER_KEY" in missing.stderr + missing.stdout


def test_compose_services_are_complete() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"proxy", "redis", "prometheus", "grafana", "coherence", "insight"} <= set(services)
    named_volumes = set(compose.get("volumes") or {})
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: no image or build"
        if "image" in service and "build" not in service:
            assert re.search(r":[\w.-]+$", service["image"]) and not service["image"].endswith(":latest"), \
                f"{name}: image {service['image']!r} is not pinned"
        if "build" in service:
            assert (ROOT / service["build"]["context"] / service["build"]["dockerfile"]).is_file()
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: port {port} is not bound to loopback"
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in named_volumes, f"{name}: volume {source} is not declared"
        for dep in service.get("depends_on", []):
            assert dep in services, f"{name} depends on unknown {dep}"
    assert services["insight"]["command"][0] == "wilton-insight"
    assert services["coherence"]["entrypoint"] == ["wilton-coherence"]
    # every replica of the proxy shares Redis, and the exporter port is what Prometheus scrapes
    proxy_env = services["proxy"]["environment"]
    assert proxy_env["REDIS_HOST"] == "redis"
    command = services["proxy"]["command"]
    assert command[command.index("--prometheus_metrics_port") + 1] == "8000"
    assert command[command.index("--config") + 1] == "/etc/wilton/litellm_config.yaml"


def test_compose_secrets_come_from_the_environment() -> None:
    variables = _compose_vars()
    documented = _documented_vars()
    assert set(variables) <= documented, f"undocumented in env.example: {set(variables) - documented}"
    for name, service in _compose()["services"].items():
        env = service.get("environment") or {}
        for key, value in env.items():
            if SECRETISH.search(key):
                assert isinstance(value, str) and value.startswith("${"), f"{name}.{key} has a literal value"
    for required in ("LITELLM_MASTER_KEY", "REDIS_PASSWORD", "WILTON_JWT_SECRET", "WILTON_ADMIN_PASSWORD",
                     "GRAFANA_ADMIN_PASSWORD", "OPENAI_API_KEY"):
        assert variables[required] == ":?", f"{required} must be ${{{required}:?message}}"
    # env.example carries no value for any secret
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z0-9_]+)=(.*)$", line)
        if match and SECRETISH.search(match.group(1)) and not match.group(1).endswith("_USERNAME"):
            assert match.group(2) == "", f"env.example sets {match.group(1)}"


def test_image_pins_the_projects_litellm() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pin = next(d for d in pyproject["project"]["dependencies"] if d.startswith("litellm"))
    version = pin.split("==")[1]
    dockerfile = (ROOT / "deploy/docker/Dockerfile").read_text()
    assert f"ARG LITELLM_IMAGE=ghcr.io/berriai/litellm:main-v{version}\n" in dockerfile
    assert f"ghcr.io/berriai/litellm:main-v{version}" in COMPOSE_FILE.read_text()
    assert re.search(r"^USER 10001$", dockerfile, re.M)


def test_compose_prometheus_config() -> None:
    config = yaml.safe_load((ROOT / "deploy/compose/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["wilton-proxy"]["dns_sd_configs"][0] == {"names": ["proxy"], "type": "A", "port": 8000,
                                                          "refresh_interval": "15s"}
    assert jobs["wilton-coherence"]["static_configs"][0]["targets"] == ["coherence:9464"]
    assert jobs["wilton-insight"]["static_configs"][0]["targets"] == ["insight:9465"]
    assert config["rule_files"] == ["wilton.rules.yml"]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_compose_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    # laid out as the compose file mounts it: the rules beside the config
    shutil.copy(ROOT / "deploy/compose/prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copy(ROOT / "prometheus/wilton.rules.yml", tmp_path / "wilton.rules.yml")
    subprocess.run(["promtool", "check", "config", str(tmp_path / "prometheus.yml")], check=True,
                   capture_output=True)


# --- the deployed LiteLLM config --------------------------------------------------------------


def _configmap_config() -> str:
    docs = list(yaml.safe_load_all((K8S / "configmap.yaml").read_text()))
    return next(d for d in docs if d["metadata"]["name"] == "wilton-litellm-config")["data"]["litellm_config.yaml"]


def test_deployed_config_is_the_repo_config_with_redis() -> None:
    base = yaml.safe_load((ROOT / "config/litellm_config.yaml").read_text())
    compose_text = (ROOT / "deploy/compose/litellm_config.yaml").read_text()
    assert _configmap_config() == compose_text, "deploy/k8s/configmap.yaml and deploy/compose/litellm_config.yaml differ"
    deployed = yaml.safe_load(compose_text)
    assert deployed["router_settings"] == {**base["router_settings"], "redis_host": "os.environ/REDIS_HOST",
                                           "redis_port": "os.environ/REDIS_PORT",
                                           "redis_password": "os.environ/REDIS_PASSWORD"}
    assert {k: v for k, v in deployed.items() if k != "router_settings"} == \
        {k: v for k, v in base.items() if k != "router_settings"}


def test_deployed_config_passes_wiltons_validation() -> None:
    from wilton_plugin.config_file import load_config_file

    settings, groups = load_config_file(str(ROOT / "deploy/compose/litellm_config.yaml"), {})
    assert settings.phi_target == 0.75
    assert "chat" in groups


# --- Kubernetes -------------------------------------------------------------------------------


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

