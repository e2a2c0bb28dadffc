"""The insight sidecar's collector against a mocked Prometheus and proxy (httpx.MockTransport).

The fake Prometheus holds raw series, one per replica, and answers a bare metric name with them and
``sum by (labels) (metric)`` with their sum per timestamp, as Prometheus would: the counts must be
right whichever of the two the collector asks, so a replica restarting or missing a scrape must not
be counted as new traffic.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from sidecars.common.http import PrometheusError
from sidecars.insight import llm
from sidecars.insight.analysis import analyse
from sidecars.insight.collect import InsightAdminClient, RangeReader, collect, collect_prometheus
from sidecars.insight.loop import OK, PARTIAL, InsightJob
from sidecars.insight.metrics import InsightMetrics

NOW = 100_000.0
HOURS = 10.0  # 36,000 s over at most 600 points: a 60 s step
STEP = 60.0
START = NOW - HOURS * 3600
GAP = None  # a step where the replica was not scraped (Prometheus marks it stale: absent)
EDGE = {"model_group": "chat", "deployment": "edge-1", "tier": "edge", "status": "success"}


class FakePrometheus:
    """Raw series by metric name; answers ``name`` and ``sum by (a, b) (name)`` range queries."""

    def __init__(self) -> None:
        self.series: dict[str, list[dict[str, Any]]] = {}

    def add(self, name: str, labels: dict[str, str], values: list[float | None]) -> None:
        points = [[START + i * STEP, str(v)] for i, v in enumerate(values) if v is not GAP]
        self.series.setdefault(name, []).append({"metric": {"__name__": name, **labels}, "values": points})

    def _answer(self, query: str) -> list[dict[str, Any]]:
        if re.fullmatch(r"\w+", query):
            return self.series.get(query, [])
        match = re.fullmatch(r"sum by \(([\w, ]+)\) \((\w+)\)", query)
        if not match:
            return []  # φ and target queries: not what these tests are about
        by = [name.strip() for name in match.group(1).split(",")]
        sums: dict[tuple[str, ...], dict[float, float]] = {}
        for item in self.series.get(match.group(2), []):
            key = tuple(item["metric"].get(name, "") for name in by)
            for t, v in item["values"]:
                sums.setdefault(key, {})[t] = sums.get(key, {}).get(t, 0.0) + float(v)
        return [{"metric": dict(zip(by, key)), "values": [[t, str(v)] for t, v in sorted(points.items())]}
                for key, points in sums.items()]

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path != "/api/v1/query_range":
            return httpx.Response(404)
        result = self._answer(request.url.params["query"])
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix", "result": result}})


# Two replicas, each +10 per step. The auditor's cases: their sums are 2000, 2020, 2040, 1030, 1050, 1070
# (B restarts; true increase 90) and 2000, 2020, 1020, 2060 (B misses one scrape; true increase 60).
RESTART = ([1000, 1010, 1020, 1030, 1040, 1050], [1000, 1010, 1020, 0, 10, 20], 90)
MISSED_SCRAPE = ([1000, 1010, 1020, 1030], [1000, 1010, GAP, 1030], 60)


def _replicas(fake: FakePrometheus, name: str, labels: dict[str, str], a: list, b: list) -> None:
    fake.add(name, {**labels, "instance": "10.0.0.1:8000", "job": "wilton-proxy"}, a)
    fake.add(name, {**labels, "instance": "10.0.0.2:8000", "job": "wilton-proxy"}, b)


def _collect(fake: FakePrometheus) -> dict[str, Any]:
    with httpx.Client(transport=httpx.MockTransport(fake.handler)) as client:
        return collect_prometheus(RangeReader("http://prometheus", client), HOURS, NOW)


def _counts(out: dict[str, Any]) -> dict[str, Any]:
    """The increase collected for the one label set each metric was given."""
    return {
        "requests": [r["count"] for r in out["requests"] if (r["deployment"], r["tier"], r["status"]) == ("edge-1", "edge", "success")],
        "tokens": [r["count"] for r in out["tokens"] if (r["tier"], r["direction"]) == ("edge", "input")],
        "cost": [r["usd"] for r in out["cost"] if (r["deployment"], r["tier"]) == ("edge-1", "edge")],
        "decisions": [r["count"] for r in out["decisions_by_reason"] if (r["tier"], r["reason"]) == ("edge", "balance")],
        "latency": [count for le, count in out["latency_buckets"]["edge-1"]["buckets"] if le == 0.5],
        "corrections": [r["count"] for r in out["corrections"] if r["kind"] == "bias"],
    }


def _every_counter(a: list, b: list) -> FakePrometheus:
    fake = FakePrometheus()
    _replicas(fake, "wilton_requests_total", EDGE, a, b)
    _replicas(fake, "wilton_tokens_total", {"model_group": "chat", "tier": "edge", "direction": "input"}, a, b)
    _replicas(fake, "wilton_cost_usd_total", {"deployment": "edge-1", "tier": "edge"}, a, b)
    _replicas(fake, "wilton_routing_decisions_total", {"tier": "edge", "reason": "balance"}, a, b)
    _replicas(fake, "wilton_request_latency_seconds_bucket", {"deployment": "edge-1", "tier": "edge", "le": "0.5"}, a, b)
    _replicas(fake, "wilton_coherence_corrections_total", {"kind": "bias"}, a, b)
    return fake


@pytest.mark.parametrize("a, b, true_increase", [RESTART, MISSED_SCRAPE], ids=["one-replica-restarts", "one-replica-misses-a-scrape"])
def test_a_replica_restarting_or_missing_a_scrape_is_not_counted_as_traffic(a, b, true_increase):
    out = _collect(_every_counter(a, b))
    assert _counts(out) == {key: [pytest.approx(true_increase)] for key in
                            ("requests", "tokens", "cost", "decisions", "latency", "corrections")}


def test_the_report_serves_the_true_request_count_when_a_replica_restarts():
    fake = FakePrometheus()
    a, b, true_increase = RESTART
    _replicas(fake, "wilton_requests_total", EDGE, a, b)
    _replicas(fake, "wilton_requests_total", {**EDGE, "deployment": "gpt", "tier": "frontier"}, [0, 5, 10, 15, 20, 30], [0] * 6)
    facts = analyse({**_collect(fake), "prometheus_ok": True})
    assert facts["requests"] == {"served": true_increase + 30, "local": true_increase, "frontier": 30, "failed_attempts": 0}
    assert facts["deployments"]["edge-1"]["requests"] == true_increase


def test_a_replacement_replica_with_new_labels_counts_from_zero_and_model_groups_add_up():
    fake = FakePrometheus()
    labels = {"deployment": "edge-1", "tier": "edge", "status": "success"}
    fake.add("wilton_requests_total", {**labels, "model_group": "chat", "instance": "pod-a"}, [100, 110, 120, GAP, GAP, GAP])
    fake.add("wilton_requests_total", {**labels, "model_group": "chat", "instance": "pod-b"}, [GAP, GAP, GAP, 0, 7, 9])
    fake.add("wilton_requests_total", {**labels, "model_group": "code", "instance": "pod-a"}, [50, 51, 52, 53, 54, 55])
    [row] = _collect(fake)["requests"]
    assert row == {**labels, "count": 20 + 9 + 5}


def test_latency_buckets_from_replicas_merge_by_their_bound():
    fake = FakePrometheus()
    for le, counts in (("0.5", [0, 4]), ("1.0", [0, 6]), ("+Inf", [0, 8])):
        fake.add("wilton_request_latency_seconds_bucket", {"deployment": "edge-1", "tier": "edge", "le": le, "instance": "a"}, counts)
    fake.add("wilton_request_latency_seconds_bucket", {"deployment": "edge-1", "tier": "edge", "le": "1", "instance": "b"}, [0, 2])
    buckets = _collect(fake)["latency_buckets"]
    assert buckets == {"edge-1": {"tier": "edge", "buckets": [[0.5, 4.0], [1.0, 8.0], [float("inf"), 8.0]]}}


# --- team targets from /wilton/status ------------------------------------------------------------


def _proxy(status: httpx.Response | None):
    decisions = ([{"tier": "frontier", "team_id": "t1", "status": "success", "difficulty": 0.9}] * 12
                 + [{"tier": "frontier", "team_id": "t2", "status": "success", "difficulty": 0.9}] * 12)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/wilton/token":
            return httpx.Response(200, json={"access_token": "tok", "expires_in": 300})
        if request.url.path == "/wilton/decisions":
            return httpx.Response(200, json={"decisions": decisions})
        if request.url.path == "/wilton/status" and status is not None:
            return status
        raise httpx.ConnectError("refused", request=request)

    return handler


def _collect_admin(status: httpx.Response | None) -> dict[str, Any]:
    with httpx.Client(transport=httpx.MockTransport(_proxy(status))) as client:
        admin = InsightAdminClient("http://proxy", "insight", "pw-not-logged", client)
        return collect(None, admin, hours=1, max_tasks=100, clock=lambda: NOW)


def test_teams_are_judged_against_the_effective_team_targets_of_wilton_status():
    collected = _collect_admin(httpx.Response(200, json={"phi_target": 0.75, "team_targets": {"t1": 0.0}}))
    assert collected["team_targets"] == {"t1": 0.0} and collected["team_targets_ok"] is True
    assert not any("team targets" in p for p in collected["problems"])
    facts = analyse(collected)
    # t1 is all frontier but its own target is 0.0: on target. t2 has no known target: not judged.
    assert facts["teams_far_from_target"] == []
    assert facts["teams_target_unknown"] == [{"team": "t2", "requests": 12, "local_share": 0.0}]
    assert facts["sources"]["team_targets"] is True


@pytest.mark.parametrize("status, why", [
    (None, "GET /wilton/status: proxy unreachable (ConnectError)"),
    (httpx.Response(500, json={}), "HTTP 500"),
    (httpx.Response(200, json={"phi_target": 0.75, "team_targets": ["t1"]}), "team_targets is a list, not an object"),
])
def test_a_failed_wilton_status_is_a_problem_in_the_report_and_no_team_is_judged(status, why):
    collected = _collect_admin(status)
    assert collected["decisions_ok"] is True and collected["team_targets_ok"] is False
    prometheus_not_configured, problem = collected["problems"]  # the reader is None here
    assert prometheus_not_configured.startswith("Prometheus: not configured")
    assert problem.startswith("team targets: ") and why in problem and "no team is judged" in problem
    facts = analyse(collected)
    assert problem in facts["notes"] and facts["teams_far_from_target"] == []
    assert [t["team"] for t in facts["teams_target_unknown"]] == ["t1", "t2"]


def test_a_run_without_team_targets_is_partial_and_counts_a_status_error(tmp_path, caplog):
    def run(status: httpx.Response | None, out: str) -> tuple[int, float | None, str]:
        proxy, prometheus = _proxy(status), FakePrometheus()  # Prometheus answers, with no series

        def handler(request: httpx.Request) -> httpx.Response:
            return prometheus.handler(request) if request.url.path.startswith("/api/") else proxy(request)

        with httpx.Client(transport=httpx.MockTransport(handler)) as client:
            metrics = InsightMetrics()
            job = InsightJob(client=client, reader=RangeReader("http://prometheus", client),
                             admin=InsightAdminClient("http://proxy", "insight", "pw-not-logged", client),
                             proxy_url="http://proxy", api_key=None, model_group="chat", out=tmp_path / out,
                             hours=1, max_tasks=100, metrics=metrics, clock=lambda: NOW)
            result = job.run_once()
        errors = metrics.registry.get_sample_value("wilton_insight_errors_total", {"stage": "status"})
        return result, errors, (tmp_path / out / "latest.md").read_text()

    assert run(httpx.Response(200, json={"phi_target": 0.75, "team_targets": {"t1": 0.75}}), "ok")[:2] == (OK, 0.0)
    status, errors, text = run(None, "failed")
    assert (status, errors) == (PARTIAL, 1.0)
    assert "team targets: GET /wilton/status: proxy unreachable (ConnectError)" in text
    assert "Teams not judged, target unknown" in text and "t1 (local share 0.0, 12 requests)" in text
    assert any(r.levelname == "WARNING" and "partial report: team targets: GET /wilton/status: proxy unreachable"
               in r.getMessage() for r in caplog.records)


INVALID_PORT = "InvalidURL: Invalid port: 'notaport'"


def _invalid_url(request: httpx.Request) -> httpx.Response:
    raise httpx.InvalidURL("Invalid port: 'notaport'")  # not an httpx.HTTPError


def test_an_invalid_url_is_a_prometheus_error_and_an_llm_unavailable():
    with httpx.Client(transport=httpx.MockTransport(_invalid_url)) as client:
        with pytest.raises(PrometheusError) as prometheus:
            RangeReader("http://prometheus", client).range("up", START, NOW, STEP)
        with pytest.raises(llm.LlmUnavailable) as unavailable:
            llm.ask(client, "http://proxy", "sk-test", "chat", {}, timeout=5)
    assert str(prometheus.value) == f"Prometheus unreachable at http://prometheus ({INVALID_PORT})"
    assert str(unavailable.value) == f"the LLM could not be reached through the proxy ({INVALID_PORT})"


def test_a_run_whose_requests_meet_an_invalid_url_writes_a_partial_report_saying_so(tmp_path):
    proxy = _proxy(httpx.Response(200, json={"phi_target": 0.75, "team_targets": {}}))

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/api/") or request.url.path == "/v1/chat/completions":
            return _invalid_url(request)
        return proxy(request)  # the decision log and the status answer

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        job = InsightJob(client=client, reader=RangeReader("http://prometheus", client),
                         admin=InsightAdminClient("http://proxy", "insight", "pw-not-logged", client),
                         proxy_url="http://proxy", api_key="sk-test", model_group="chat", out=tmp_path, hours=1,
                         max_tasks=100, metrics=InsightMetrics(), clock=lambda: NOW)
        assert job.run_once() == PARTIAL
    report = json.loads((tmp_path / "latest.json").read_text(encoding="utf-8"))
    assert report["facts"]["notes"] == [
        f"Prometheus: Prometheus unreachable at http://prometheus ({INVALID_PORT}); no φ history, counts or latency "
        "in this report"]
    assert report["llm"]["why_none"] == f"the LLM could not be reached through the proxy ({INVALID_PORT})"
