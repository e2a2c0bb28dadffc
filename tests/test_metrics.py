"""Every metric and label set, scraped from a real 2-worker proxy: its /metrics and the exporter port."""

from __future__ import annotations

import collections

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from helpers import LOCAL, PROMPTS, chat, client
from wilton_plugin.fakes import free_port

pytestmark = pytest.mark.proxy

PLAIN = 80
STREAMED_PER_TIER = 3
TIERS = ("selfhost", "edge", "frontier")
DEPLOYMENT_OF = {"selfhost": "selfhost-llama3.1", "edge": "edge-llama3.2", "frontier": "frontier-gpt-4o"}


def _stream(c, tier: str) -> None:
    with c.chat.completions.with_streaming_response.create(
        model="chat",
        messages=[{"role": "user", "content": "stream please"}],
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"x-wilton-tier": tier},
    ) as response:
        assert response.headers["x-wilton-tier"] == tier
        list(response.parse())


@pytest.fixture(scope="module")
def traffic(proxies, redis_server):
    """A 2-worker proxy sharing Redis, with the exporter port; plain and streaming traffic on every tier."""
    config = proxies.config(
        router_settings={"redis_host": "127.0.0.1", "redis_port": redis_server.port},
        wilton_settings={"allow_tier_header": True, "redis_prefix": "wilton-metrics:"},
    )
    proxy = proxies.start(config, workers=2, metrics_port=free_port())
    c = client(proxy)
    tiers = collections.Counter(chat(c, i).tier for i in range(PLAIN))
    for tier in TIERS:
        for _ in range(STREAMED_PER_TIER):
            _stream(c, tier)
            tiers[tier] += 1
    exporter = httpx.get(proxy.metrics_url, timeout=10, follow_redirects=True)
    own = httpx.get(
        f"{proxy.url}/metrics", timeout=10, follow_redirects=True, headers={"Authorization": f"Bearer {proxy.master_key}"}
    )
    assert exporter.status_code == 200 and own.status_code == 200, (exporter.text[:200], own.text[:200])
    log = proxy.log_text()
    proxy.stop()
    return {"tiers": tiers, "exporter": exporter.text, "proxy": own.text, "log": log, "key": proxy.master_key}


def _samples(text: str) -> dict[str, list]:
    found: dict[str, list] = collections.defaultdict(list)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("wilton_"):
                found[sample.name].append(sample)
    return found


def _sum(samples, **labels) -> float:
    return sum(s.value for s in samples if all(s.labels.get(k) == v for k, v in labels.items()))


@pytest.mark.parametrize("source", ["exporter", "proxy"])
def test_counters_sum_to_the_requests_sent_over_both_workers(traffic, source):
    m = _samples(traffic[source])
    total = PLAIN + STREAMED_PER_TIER * len(TIERS)
    assert _sum(m["wilton_requests_total"], status="success") == total
    assert _sum(m["wilton_requests_total"], status="failure") == 0
    assert _sum(m["wilton_routing_decisions_total"]) == total
    for tier in TIERS:
        assert _sum(m["wilton_requests_total"], tier=tier, status="success") == traffic["tiers"][tier]
        assert _sum(m["wilton_requests_total"], tier=tier, deployment=DEPLOYMENT_OF[tier], model_group="chat") == traffic["tiers"][tier]
        assert _sum(m["wilton_request_latency_seconds_count"], tier=tier, deployment=DEPLOYMENT_OF[tier]) == traffic["tiers"][tier]
        for direction in ("input", "output"):
            assert _sum(m["wilton_tokens_total"], tier=tier, direction=direction, model_group="chat") > 0
        assert _sum(m["wilton_time_to_first_token_seconds_count"], tier=tier) == STREAMED_PER_TIER
    assert _sum(m["wilton_routing_decisions_total"], reason="forced") == STREAMED_PER_TIER * len(TIERS)
    assert _sum(m["wilton_routing_decisions_total"], reason="balance") + _sum(
        m["wilton_routing_decisions_total"], reason="difficulty"
    ) == PLAIN
    assert _sum(m["wilton_cost_usd_total"], tier="frontier") > 0
    assert _sum(m["wilton_cost_usd_total"], tier="selfhost") == 0
    assert _sum(m["wilton_plugin_errors_total"]) == 0
    local = sum(traffic["tiers"][t] for t in LOCAL)
    assert abs(local / total - _phi(m)) < 0.05
    assert {s.value for s in m["wilton_phi_target"]} == {0.75}


def _phi(m) -> float:
    values = [s.value for s in m["wilton_phi"] if s.labels.get("unit") == "requests"]
    assert values, "wilton_phi{unit=requests} missing"
    return values[0]


def test_every_label_set_is_declared_and_none_carries_secrets(traffic):
    m = _samples(traffic["exporter"])
    for name in ("wilton_routing_decisions_total", "wilton_plugin_errors_total", "wilton_requests_total"):
        assert m[name], name
    reasons = {s.labels["reason"] for s in m["wilton_routing_decisions_total"]}
    assert reasons == {"balance", "difficulty", "forced", "spill", "team", "fallback"}
    stages = {s.labels["stage"] for s in m["wilton_plugin_errors_total"]}
    assert {"route", "install", "success", "failure"} <= stages
    allowed = {"unit", "model_group", "deployment", "tier", "status", "direction", "reason", "stage", "le"}
    values = set()
    for samples in m.values():
        for s in samples:
            assert set(s.labels) <= allowed, s
            values.update(s.labels.values())
    joined = " ".join(values)
    assert "sk-" not in joined and traffic["key"] not in joined
    assert not any(p.split()[0] in joined for p in PROMPTS if len(p.split()[0]) > 5)


def test_no_secret_in_the_proxy_log(traffic):
    assert "sk-fake-upstream-key" not in traffic["log"]
    assert traffic["key"] not in traffic["log"]
