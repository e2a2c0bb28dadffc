"""``wiltonctl`` against one real proxy with fakes: schedule-task, status, target, weights, doctor --proxy-url."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from wilton_plugin.admin.passwords import hash_password
from wilton_plugin.devstack import write_config

pytestmark = pytest.mark.proxy

SECRET = "cli-test-secret-0123456789abcdef-xyz"
PASSWORD = "cli-ops-password-not-the-seed"
PROMPTS = ["hello there", "Summarise: the meeting moved to Tuesday.", "Write a Python function that reverses a list.",
           "What is 17 * 23?", "Prove that there are infinitely many primes."]


@pytest.fixture(scope="module")
def proxy(proxies):
    config = proxies.config(wilton_settings={"allow_tier_header": True})
    config["model_list"][2]["model_info"]["id"] = "frontier-simulated-gpt-4o"
    env = {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"ops:{hash_password(PASSWORD, n=2**12)}"}
    started = proxies.start(config, env=env)
    started.config = config
    yield started
    started.stop()


def wiltonctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("WILTON_", "LITELLM_MASTER_KEY"))}
    return subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", *args], capture_output=True, text=True,
                          env={**clean, **(env or {})}, timeout=120)


def _tasks(tmp_path, n: int, extra: list[dict] | None = None) -> str:
    tasks = [{"id": f"t{i}", "prompt": f"{PROMPTS[i % len(PROMPTS)]} (#{i})", "max_tokens": 16} for i in range(n)]
    tasks += extra or []
    path = tmp_path / "tasks.json"
    path.write_text(json.dumps({"tasks": tasks}), encoding="utf-8")
    return str(path)


def test_schedule_task_json_counts_tiers_and_phi(proxy, tmp_path):
    forced = [{"id": "forced", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8, "tier": "frontier"}]
    path = _tasks(tmp_path, 40, forced)
    result = wiltonctl("hpc", "schedule-task", "--file", path, "--proxy-url", proxy.url, "--json", "--concurrency", "4",
                       env={"LITELLM_MASTER_KEY": proxy.master_key})
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert (summary["tasks"], summary["succeeded"], summary["failed"]) == (41, 41, 0)
    assert set(summary) >= {"tasks", "succeeded", "failed", "phi", "rows", "tokens", "cost_usd", "latency_ms",
                            "failures", "elapsed_s", "concurrency"}
    assert sum(row["requests"] for row in summary["rows"]) == 41
    rows = {row["deployment"]: row for row in summary["rows"]}
    assert set(rows) <= {"selfhost-llama3.1", "edge-llama3.2", "frontier-simulated-gpt-4o"}
    frontier = rows["frontier-simulated-gpt-4o"]
    assert frontier["tier"] == "frontier" and frontier["simulated"] is True and frontier["cost_usd"] > 0
    assert all(row["tokens"] > 0 and row["latency_ms"]["p95"] >= row["latency_ms"]["p50"] > 0 for row in rows.values())
    phi = summary["phi"]
    assert phi["target"] == 0.75 and phi["target_source"] == "proxy" and phi["total"] == 41
    # 40 free requests held to 3:1 within the band (±2 requests) plus one forced to the frontier
    assert 28 <= phi["local"] <= 32 and phi["observed"] == round(phi["local"] / 41, 4)


def test_schedule_task_table_and_progress(proxy, tmp_path):
    path = _tasks(tmp_path, 20)
    result = wiltonctl("hpc", "schedule-task", "--file", path, "--proxy-url", proxy.url, "--api-key", proxy.master_key,
                       "--concurrency", "3")
    assert result.returncode == 0, result.stdout + result.stderr
    progress = result.stderr.splitlines()
    assert progress[0].startswith("progress: 1/20") and progress[-1] == "progress: 20/20 done, 0 failed"
    out = result.stdout
    assert out.splitlines()[0].split() == ["tier", "deployment", "requests", "tokens", "p50", "ms", "p95", "ms", "cost", "USD"]
    assert "frontier-simulated-gpt-4o (simulated)" in out and "selfhost-llama3.1" in out
    assert "vs target 0.750 (proxy)" in out and "20 tasks, 20 succeeded, 0 failed" in out
    assert "simulated upstreams, not real models" in out


def test_failed_tasks_exit_1_with_the_summary(proxy, tmp_path):
    bad = [{"id": "no-group", "prompt": "hi", "model": "no-such-group"},
           {"id": "bad-key", "prompt": "hi", "team_key": "sk-not-a-real-team-key"}]
    path = _tasks(tmp_path, 6, bad)
    result = wiltonctl("hpc", "schedule-task", "--file", path, "--proxy-url", proxy.url, "--api-key", proxy.master_key,
                       "--json")
    assert result.returncode == 1, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["tasks"], summary["succeeded"], summary["failed"]) == (8, 6, 2)
    failures = {f["id"]: f for f in summary["failures"]}
    assert failures["no-group"]["status"] == 400 and failures["bad-key"]["status"] in (400, 401)  # no DB: LiteLLM answers 400
    assert "sk-not-a-real-team-key" not in result.stdout + result.stderr
    text = wiltonctl("hpc", "schedule-task", "--file", path, "--proxy-url", proxy.url, "--api-key", proxy.master_key)
    assert text.returncode == 1 and "8 tasks, 6 succeeded, 2 failed" in text.stdout
    assert "failed: task 'no-group': 400:" in text.stdout


def test_status_target_and_weights_as_a_user(proxy, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n", encoding="utf-8")
    env = {"WILTON_PROXY_URL": proxy.url, "WILTON_ADMIN_USERNAME": "ops", "WILTON_ADMIN_PASSWORD_FILE": str(secret)}
    status = wiltonctl("status", env=env)
    assert status.returncode == 0, status.stderr
    assert "phi target   0.750" in status.stdout and "shared state none" in status.stdout

    changed = wiltonctl("target", "set", "0.8", env=env)
    assert changed.returncode == 0 and changed.stdout.strip() == "global phi target: 0.750 -> 0.800"
    team = wiltonctl("target", "set", "0.9", "--team", "research", "--json", env=env)
    assert json.loads(team.stdout) == {"phi_target": 0.9, "team": "research", "previous": None}
    as_json = json.loads(wiltonctl("status", "--json", env=env).stdout)
    assert as_json["phi_target"] == 0.8 and as_json["team_targets"] == {"research": 0.9}
    assert as_json["last_changes"][0]["who"] == "ops"

    weights = wiltonctl("weights", "set", "edge-llama3.2=0.5", "--bias", "0.05", env=env)
    assert weights.returncode == 0, weights.stderr
    assert "edge-llama3.2  0.5" in weights.stdout and "phi_bias  +0.05" in weights.stdout
    shown = wiltonctl("weights", "show", "--json", env=env)
    assert json.loads(shown.stdout) == {"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.05}

    # with the master key instead of a user; put everything back
    key = {"WILTON_PROXY_URL": proxy.url, "LITELLM_MASTER_KEY": proxy.master_key}
    assert wiltonctl("target", "set", "reset", env=key).stdout.strip() == "global phi target: 0.800 -> 0.750"
    assert wiltonctl("target", "set", "reset", "--team", "research", env=key).returncode == 0
    assert wiltonctl("weights", "set", "edge-llama3.2=1", "--bias", "0", env=key).returncode == 0


def test_admin_errors_are_one_line_and_exit_1(proxy, tmp_path):
    wrong = wiltonctl("status", "--proxy-url", proxy.url, "--username", "ops", "--password", "wrong-password")
    assert wrong.returncode == 1 and wrong.stdout == ""
    assert wrong.stderr == "wiltonctl: login refused: HTTP 401 bad username or password (check the username/password or key)\n"
    assert "wrong-password" not in wrong.stderr

    bad_key = wiltonctl("weights", "show", "--proxy-url", proxy.url, "--api-key", "sk-wrong")
    assert bad_key.returncode == 1 and bad_key.stderr.count("\n") == 1 and "HTTP 401" in bad_key.stderr

    unknown = wiltonctl("weights", "set", "nope=1", "--proxy-url", proxy.url, "--api-key", proxy.master_key)
    assert unknown.returncode == 1 and unknown.stderr.count("\n") == 1
    assert "HTTP 422 unknown deployment id(s): nope" in unknown.stderr and "nothing was changed" in unknown.stderr

    bias = wiltonctl("weights", "set", "--bias", "0.9", "--proxy-url", proxy.url, "--api-key", proxy.master_key)
    assert bias.returncode == 1 and bias.stderr.count("\n") == 1 and "HTTP 422 phi_bias" in bias.stderr

    out_of_range = wiltonctl("target", "set", "1.5", "--proxy-url", proxy.url, "--api-key", proxy.master_key)
    assert out_of_range.returncode == 1 and out_of_range.stderr == (
        "wiltonctl: target value '1.5': expected a number in [0, 1] or 'reset'\n")

    none = wiltonctl("status", "--proxy-url", proxy.url)
    assert none.returncode == 1 and "no credentials" in none.stderr

    dead = wiltonctl("status", "--proxy-url", "http://127.0.0.1:9", "--api-key", "sk-x")
    assert dead.returncode == 1 and dead.stderr.count("\n") == 1 and "cannot reach the proxy" in dead.stderr


def test_doctor_checks_the_proxy_too(proxy, tmp_path):
    path = write_config(proxy.config, tmp_path)
    result = wiltonctl("doctor", "--config", str(path), "--proxy-url", proxy.url)
    assert result.returncode == 0, result.stdout
    assert f"ok       proxy: {proxy.url}/health/liveliness answers" in result.stdout
    assert result.stdout.splitlines()[-1] == "doctor: all good"
