"""End to end: a real proxy with the plugin, fake upstreams, a real Prometheus with the project's
rules, real traffic, then ``wilton-insight --once`` as a subprocess.

The frontier fake answers the insight request (model group ``insight``, frontier only, not managed
by Wilton so it does not count as traffic) with a JSON recommendation; then with garbage; then
Prometheus is unreachable.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from helpers import chat, client
from wilton_plugin.admin.passwords import hash_password
from wilton_plugin.devstack import PrometheusServer, demo_config
from wilton_plugin.fakes import FakeUpstreamProcess, free_port

pytestmark = [pytest.mark.proxy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "wilton.rules.yml"
PASSWORD = "insight-e2e-password-7781"
SECRET = "e2e-insight-jwt-secret-0123456789abcdef0123"
PNG = b"\x89PNG\r\n\x1a\n"
ADVICE = json.dumps({"recommendations": [{
    "change": "Keep phi_target at 0.75 and raise the edge weight",
    "why": "phi is on target; frontier spend could drop by 43.21% with more edge capacity",
    "expected_effect": "same share, lower frontier cost",
    "confidence": 0.6,
}]})


@pytest.fixture(scope="module")
def stack(proxies, ollama, tmp_path_factory):
    """Frontier fake + proxy (exporter port) + Prometheus with the rules, after 48 requests."""
    with FakeUpstreamProcess("frontier", ["gpt-4o"], reply_text=ADVICE) as frontier:
        config = demo_config(ollama.url, frontier.url, wilton_settings={"phi_target": 0.75})
        config["model_list"].append({
            "model_name": "insight",
            "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{frontier.url}/v1", "api_key": "sk-fake-upstream-key"},
            "model_info": {"id": "insight-gpt-4o"},
        })
        env = {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"insight:{hash_password(PASSWORD, n=2**12)}:read"}
        proxy = proxies.start(config, env=env, metrics_port=free_port())
        prom = PrometheusServer({"wilton-proxy": f"127.0.0.1:{proxy.metrics_port}"}, rule_files=(RULES,)).start()
        try:
            time.sleep(2)  # a first scrape before any traffic: every series starts at 0
            c = client(proxy)
            tiers: Counter[str] = Counter()
            for round_ in range(3):
                for i in range(16):
                    tiers[chat(c, round_ * 16 + i).tier] += 1
                time.sleep(1.5)
            c.close()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                seen = prom.query('sum(wilton_requests_total{status="success"})')
                if seen and float(seen[0]["value"][1]) == 48:
                    break
                time.sleep(0.5)
            password_file = tmp_path_factory.mktemp("insight") / "password"
            password_file.write_text(PASSWORD, encoding="utf-8")
            yield {"proxy": proxy, "prom": prom, "frontier": frontier, "tiers": tiers, "password_file": password_file}
        finally:
            prom.close()
            proxy.stop()


def _run(stack, out: Path, prometheus_url: str | None = None) -> subprocess.CompletedProcess[str]:
    proxy = stack["proxy"]
    return subprocess.run(
        [sys.executable, "-m", "sidecars.insight", "--once", "--history", "0.25", "--max-tasks", "100",
         "--proxy-url", proxy.url, "--prometheus-url", prometheus_url or stack["prom"].url, "--out", str(out),
         "--username", "insight", "--password-file", str(stack["password_file"]), "--model-group-openai", "insight"],
        cwd=ROOT, env={**os.environ, "WILTON_INSIGHT_API_KEY": proxy.master_key}, capture_output=True, text=True,
        timeout=120,
    )


def _no_secrets(stack, *texts: str) -> None:
    for text in texts:
        assert PASSWORD not in text and stack["proxy"].master_key not in text and SECRET not in text
        assert "Traceback" not in text


def test_a_report_matches_the_traffic_and_carries_the_llm_recommendations(stack, tmp_path):
    result = _run(stack, tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    latest_md, latest_json = tmp_path / "latest.md", tmp_path / "latest.json"
    assert latest_md.exists() and latest_json.exists()
    assert len(list(tmp_path.glob("report-*.md"))) == 1 and len(list(tmp_path.glob("report-*.json"))) == 1
    report = json.loads(latest_json.read_text())
    facts, sent = report["facts"], stack["tiers"]
    assert {t: facts["tiers"][t]["requests"] for t in ("selfhost", "edge", "frontier")} == {
        t: sent[t] for t in ("selfhost", "edge", "frontier")}
    local = sent["selfhost"] + sent["edge"]
    assert facts["requests"]["served"] == 48
    assert facts["phi"]["observed"] == round(local / 48, 4)
    assert facts["phi"]["target"] == 0.75
    assert facts["decisions_analysed"] == 48
    assert facts["difficulty"]["local"]["n"] + facts["difficulty"]["frontier"]["n"] == 48
    assert facts["notes"] == []
    assert facts["sources"] == {"prometheus": True, "decision_log": True, "team_targets": True}  # /wilton/status read
    for name in report["charts"].values():
        data = (tmp_path / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 1000
    text = latest_md.read_text()
    assert "## Recommendations" in text and "raise the edge weight" in text
    [rec] = report["llm"]["recommendations"]
    assert rec["confidence"] == 0.6 and "43.21%" in rec["unverified_numbers"]  # not among the facts: flagged
    assert f"| frontier | {sent['frontier']} |" in text
    _no_secrets(stack, text, latest_json.read_text(), result.stderr)


def test_garbage_from_the_llm_still_gives_a_report_saying_why_there_are_no_recommendations(stack, tmp_path):
    url = f"{stack['frontier'].url}/_fake/config"
    httpx.post(url, json={"reply_text": "I think you should buy more GPUs."}, timeout=5).raise_for_status()
    try:
        result = _run(stack, tmp_path)
    finally:
        httpx.post(url, json={"reply_text": ADVICE}, timeout=5).raise_for_status()
    assert result.returncode == 0, result.stderr[-3000:]
    text = (tmp_path / "latest.md").read_text()
    assert "No recommendations: the LLM did not answer JSON; its answer was ignored." in text
    assert "| observed φ |" in text and json.loads((tmp_path / "latest.json").read_text())["llm"]["recommendations"] == []
    _no_secrets(stack, text, result.stderr)


def test_prometheus_down_gives_a_partial_report_with_a_note_and_status_3(stack, tmp_path):
    result = _run(stack, tmp_path, prometheus_url=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3, result.stderr[-3000:]
    text = (tmp_path / "latest.md").read_text()
    assert "Prometheus: Prometheus unreachable" in text and "no φ history, counts or latency" in text
    report = json.loads((tmp_path / "latest.json").read_text())
    assert report["facts"]["decisions_analysed"] == 48  # the decision log was still read
    assert (tmp_path / report["charts"]["phi"]).read_bytes().startswith(PNG)
    _no_secrets(stack, text, result.stderr)


def test_nothing_reachable_still_writes_a_report_and_exits_1(tmp_path):
    dead = f"http://127.0.0.1:{free_port()}"
    result = subprocess.run(
        [sys.executable, "-m", "sidecars.insight", "--once", "--proxy-url", dead, "--prometheus-url", dead,
         "--out", str(tmp_path), "--password", "not-the-password-1234"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env={**os.environ, "WILTON_INSIGHT_API_KEY": "sk-nothing-1234"},
    )
    assert result.returncode == 1, result.stderr[-3000:]
    text = (tmp_path / "latest.md").read_text()
    assert "No recommendations: nothing could be collected" in text
    assert "Traceback" not in result.stderr
    assert "not-the-password-1234" not in result.stderr + text and "sk-nothing-1234" not in result.stderr + text


def test_get_decisions_needs_a_token_and_a_bounded_limit(stack):
    proxy = stack["proxy"]
    url = f"{proxy.url}/wilton/decisions"
    assert httpx.get(url, params={"limit": 5}, timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {proxy.master_key}"}
    for bad in ("0", "10001", "x"):
        assert httpx.get(url, params={"limit": bad}, headers=auth, timeout=10).status_code == 422
    body = httpx.get(url, params={"limit": 5}, headers=auth, timeout=10).json()
    assert body["count"] == 5 and body["prompts"] is False
    assert all("prompt" not in d and d["tier"] in ("selfhost", "edge", "frontier") for d in body["decisions"])
