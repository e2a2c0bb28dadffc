"""``wiltonctl doctor`` against the fake upstreams and a real Redis: all good, then every kind of problem."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from wilton_plugin.devstack import demo_config, write_config
from wilton_plugin.fakes import free_port


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WILTON_", "DOCTOR_TEST_"))}
    return subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", "doctor", *args], capture_output=True,
                          text=True, env={**clean, **(env or {})}, timeout=60)


@pytest.fixture
def config(ollama, openai_upstream):
    return demo_config(ollama.url, openai_upstream.url)


def test_all_good_on_the_fakes_and_redis(config, redis_server, tmp_path):
    config["router_settings"].update(redis_host="127.0.0.1", redis_port="os.environ/DOCTOR_TEST_REDIS_PORT")
    config["model_list"][2]["litellm_params"]["api_key"] = "os.environ/DOCTOR_TEST_KEY"
    path = write_config(config, tmp_path)
    result = doctor("--config", str(path), env={"DOCTOR_TEST_REDIS_PORT": str(redis_server.port),
                                                "DOCTOR_TEST_KEY": "sk-doctor-secret-value"})
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"ok       config {path} is valid"
    assert any("selfhost-llama3.1" in line and "serves llama3.1" in line for line in lines)
    assert any("edge-llama3.2" in line and "serves llama3.2:1b" in line for line in lines)
    assert any("frontier-gpt-4o" in line and "/v1/models answers" in line for line in lines)
    assert f"ok       Redis at 127.0.0.1:{redis_server.port} answers PING" in lines
    assert lines[-1] == "doctor: all good" and "PROBLEM" not in result.stdout
    assert "sk-doctor-secret-value" not in result.stdout + result.stderr


def test_each_problem_is_one_line_with_its_fix(config, ollama, tmp_path):
    dead = free_port()
    config["model_list"][0]["litellm_params"]["model"] = "ollama_chat/mistral"  # not on the host
    config["model_list"][1]["litellm_params"]["api_base"] = f"http://127.0.0.1:{dead}"  # nothing listens
    config["model_list"][2]["litellm_params"]["api_key"] = "os.environ/DOCTOR_TEST_UNSET_KEY"
    config["router_settings"].update(redis_host="127.0.0.1", redis_port=free_port())
    path = write_config(config, tmp_path)
    result = doctor("--config", str(path), "--prometheus-url", f"http://127.0.0.1:{dead}", "--timeout", "1")
    assert result.returncode == 1, result.stdout
    problems = [line for line in result.stdout.splitlines() if line.startswith("PROBLEM")]
    assert len(problems) == 5, result.stdout
    assert all(". Fix: " in line and line.endswith(".") for line in problems)
    by_id = {key: [line for line in problems if key in line] for key in
             ("selfhost-llama3.1", "edge-llama3.2", "frontier-gpt-4o", "Redis", "Prometheus")}
    assert all(len(found) == 1 for found in by_id.values()), by_id
    assert "does not have model 'mistral'" in by_id["selfhost-llama3.1"][0] and "Fix: ollama pull mistral." in by_id["selfhost-llama3.1"][0]
    assert f"Ollama at http://127.0.0.1:{dead} does not answer" in by_id["edge-llama3.2"][0]
    assert "$DOCTOR_TEST_UNSET_KEY, which is unset" in by_id["frontier-gpt-4o"][0]
    assert "Fix: export DOCTOR_TEST_UNSET_KEY=<your key>" in by_id["frontier-gpt-4o"][0]
    assert "start redis-server" in by_id["Redis"][0] and "start Prometheus" in by_id["Prometheus"][0]
    assert result.stdout.splitlines()[-1] == "doctor: 5 problem(s)"


@pytest.mark.parametrize("url, reason", [
    ("foo://x", "Redis URL must specify one of the following schemes"),
    ("redis://:doctor-secret-pw@127.0.0.1:notaport", "Port could not be cast to integer value"),
], ids=["scheme", "port"])
def test_an_unreadable_redis_url_is_a_problem_line(config, tmp_path, url, reason):
    """redis-py's ValueError is one problem line; the other checks still run and the summary prints."""
    path = write_config(config, tmp_path)
    dead = free_port()
    result = doctor("--config", str(path), "--redis-url", url, "--prometheus-url", f"http://127.0.0.1:{dead}",
                    "--timeout", "1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    redis_lines = [line for line in lines if "Redis" in line]
    assert len(redis_lines) == 1 and redis_lines[0].startswith("PROBLEM  Redis: --redis-url is not a Redis URL (")
    assert reason in redis_lines[0] and "Fix: give it as redis://" in redis_lines[0]
    assert any("frontier-gpt-4o" in line and "answers" in line for line in lines)  # checked before Redis
    assert any(line.startswith("PROBLEM  Prometheus:") for line in lines)  # and after it
    assert lines[-1] == "doctor: 2 problem(s)"
    assert "doctor-secret-pw" not in result.stdout


def test_an_invalid_config_is_a_problem_too(config, tmp_path):
    config["wilton_settings"] = {"phi_target": 1.5}
    path = write_config(config, tmp_path)
    result = doctor("--config", str(path))
    assert result.returncode == 1
    assert "PROBLEM  config" in result.stdout and "'phi_target' has value 1.5" in result.stdout
    assert "Traceback" not in result.stderr


def test_an_unreadable_scorer_artifact_is_a_problem(config, tmp_path):
    """The proxy would stop at start-up on it, so the doctor says so before."""
    config["wilton_settings"] = {"scorer": {"name": "learned", "artifact": str(tmp_path / "gone.json")}}
    result = doctor("--config", str(write_config(config, tmp_path)))
    assert result.returncode == 1
    line = next(x for x in result.stdout.splitlines() if x.startswith("PROBLEM"))
    assert "'scorer.artifact' has value" in line and "gone.json" in line and ".." not in line
