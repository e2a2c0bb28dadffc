"""Scaling out with Docker Compose (docker-compose.yml, deploy/compose/), and the LiteLLM config that
the deployments run.

`docker compose config` runs when a compose CLI is installed; the structural checks run everywhere.
The Kubernetes manifests are checked in test_deploy_k8s.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from helpers import K8S, ROOT, SECRETISH, clean_env

COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / "deploy/compose/env.example"


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
    env = clean_env(
        **{name: "19999" if name.endswith("_PORT") else "dummy-value-for-config-check" for name in _compose_vars()}
    )
    empty_env_file = tmp_path / "empty.env"  # not /dev/null: docker-compose 1.x wants a regular file
    empty_env_file.write_text("", encoding="utf-8")
    base = [*cli, "-f", str(COMPOSE_FILE), "--project-directory", str(ROOT), "--env-file", str(empty_env_file)]
    subprocess.run([*base, "config", "-q"], check=True, env=env, cwd=tmp_path)
    missing = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, env=clean_env(), cwd=tmp_path)
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


def test_every_proxy_launcher_uses_the_bundled_cost_map() -> None:
    """Without LITELLM_LOCAL_MODEL_COST_MAP=True every LiteLLM start fetches the cost map from GitHub: the
    network at run time, and costs that change under the version pin. (stack.sh, the exporter script and
    the Kubernetes proxy are checked in test_deploy_scripts.py and test_deploy_k8s.py.)"""
    from wilton_plugin.devstack import ProxyProcess

    assert _compose()["services"]["proxy"]["environment"].get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
    # the image: set before the build's own `import litellm` and for every container started from it
    lines = (ROOT / "deploy/docker/Dockerfile").read_text().splitlines()
    env_line = lines.index("ENV LITELLM_LOCAL_MODEL_COST_MAP=True")
    assert env_line > max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    assert env_line < min(i for i, line in enumerate(lines) if line.startswith("RUN "))  # the first imports litellm
    assert ProxyProcess("unused.yaml").environment()["LITELLM_LOCAL_MODEL_COST_MAP"] == "True"


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
