"""A real Prometheus scraping a real 2-worker proxy: every PromQL expression in the rules and in the
dashboard runs, and returns data (a misspelt metric name fails here)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
import yaml

from helpers import chat, client
from wilton_plugin.devstack import PrometheusServer
from wilton_plugin.observability.rules import probe_expressions
from wilton_plugin.fakes import free_port

pytestmark = pytest.mark.proxy

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "prometheus" / "wilton.rules.yml"
DASHBOARD = ROOT / "grafana" / "dashboards" / "wilton-quantum-balance.json"
# Series exported by the sidecars, which this test does not run: their expressions must be valid
# PromQL, but cannot have data here. The coherence sidecar's own end-to-end test covers them.
SIDECAR_SERIES = re.compile(r"wilton_coherence_|wilton_insight_|job=~?\"wilton-(coherence|insight)")
METRIC_NAME = re.compile(r"(?<![\w:\"'])((?:wilton[a-zA-Z0-9_:]*)|up)(?=\s*(?:\{|\[|\)|$|\s|offset|[-+*/><=!]))")


@pytest.fixture(scope="module")
def prometheus(proxies, redis_server):
    """Proxy (2 workers, exporter port) + Prometheus with the project's rules, after real traffic."""
    config = proxies.config(
        router_settings={"redis_host": "127.0.0.1", "redis_port": redis_server.port},
        wilton_settings={"allow_tier_header": True, "redis_prefix": "wilton-prom:"},
    )
    proxy = proxies.start(config, workers=2, metrics_port=free_port())
    server = PrometheusServer({"wilton-proxy": f"127.0.0.1:{proxy.metrics_port}"}, rule_files=(RULES,))
    server.start()
    try:
        c = client(proxy)
        for round_ in range(4):  # traffic spread over several scrapes, so rate() has points
            for i in range(25):
                chat(c, round_ * 25 + i)
            with c.chat.completions.with_streaming_response.create(
                model="chat", messages=[{"role": "user", "content": "stream"}], stream=True,
                extra_headers={"x-wilton-tier": "frontier"},
            ) as response:
                list(response.parse())
            time.sleep(1.5)
        _wait_for(server, "wilton:phi:ratio_rate5m")
        yield server
    finally:
        server.close()
        proxy.stop()


def _wait_for(server: PrometheusServer, expr: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.query(expr):
            return
        time.sleep(0.5)
    pytest.fail(f"{expr} never had data:\n{server.log_text()[-2000:]}")


def _has_data(result: list[dict]) -> bool:
    """At least one sample that is a number (a missing series inside scalar() gives NaN, not nothing)."""
    return any(str(r["value"][1]).lower() != "nan" for r in result)


def _rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def _dashboard_expressions() -> list[str]:
    from wilton_plugin.observability.dashboard import all_expressions, substitute

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    values = {"model_group": "chat", "tier": "selfhost|edge|frontier", "datasource": "prometheus"}
    return [substitute(expr, values) for expr in all_expressions(dashboard)]


def _series_names(expr: str) -> set[str]:
    return {name for name in METRIC_NAME.findall(expr)}


def test_every_rule_expression_is_valid_promql_here(prometheus):
    for rule in _rules():
        prometheus.query(rule["expr"])  # raises on a PromQL error


def test_every_rule_reads_data_the_proxy_exports(prometheus):
    """Recording rules as written, alerts by the quantity they compare (their own expression is
    empty while all is well); sidecar rules are covered by the sidecars' tests."""
    probes = probe_expressions({"proxy", "streaming"})
    assert {r.get("record") or r.get("alert") for r in _rules()} - set(probes) <= {
        "wilton:coherence_corrections:rate5m", "WiltonSidecarDown", "WiltonCoherenceSidecarAbsent"
    }
    for name, expr in probes.items():
        assert _has_data(prometheus.query(expr)), f"{name} has no data: {expr}"
    for rule in (r for r in _rules() if "record" in r and r["record"] in probes):
        assert prometheus.query(rule["record"]), f"recorded series {rule['record']} missing"


def test_every_dashboard_expression_returns_data(prometheus):
    expressions = _dashboard_expressions()
    assert len(expressions) >= 10
    for expr in expressions:
        result = prometheus.query(expr)
        if SIDECAR_SERIES.search(expr):
            continue
        assert _has_data(result), f"dashboard expression has no data: {expr}"


def test_a_misspelt_metric_name_is_caught(prometheus):
    """The data check above is not vacuous: with one name misspelt, each expression returns nothing."""
    checked = 0
    for expr in _dashboard_expressions() + list(probe_expressions({"proxy", "streaming"}).values()):
        names = sorted(n for n in _series_names(expr) if n.startswith("wilton") and n != "wilton")
        if SIDECAR_SERIES.search(expr) or not names:
            continue
        broken = expr.replace(names[0], "wiltn" + names[0][len("wilton"):])
        assert not _has_data(prometheus.query(broken)), f"still returns data with {names[0]} misspelt: {broken}"
        checked += 1
    assert checked >= 10


def test_phi_from_the_counters_matches_what_was_served(prometheus):
    phi = float(prometheus.query("wilton:phi:ratio_rate5m")[0]["value"][1])
    local = sum(float(s["value"][1]) for s in prometheus.query(
        'sum by (tier) (wilton_requests_total{status="success",tier=~"selfhost|edge"})'))
    total = float(prometheus.query('sum(wilton_requests_total{status="success"})')[0]["value"][1])
    assert total == 104
    assert abs(phi - local / total) < 0.05
