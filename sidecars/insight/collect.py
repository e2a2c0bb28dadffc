"""Collect the facts' raw material: Prometheus range queries and the proxy's decision log.

Thin glue over HTTP. Every source may fail on its own: its problem is recorded as one line in
``problems`` (which the job logs, once while it lasts) and the rest is still collected, so a report
can always be written.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx

from sidecars.common.http import REQUEST_ERRORS, PrometheusError, SidecarError, prometheus_data, request_error
from sidecars.common.redact import redact_urls

from sidecars.coherence.clients import AdminClient
from sidecars.insight.analysis import summed_increases

LOCAL = 'tier=~"selfhost|edge"'
#: the most points a range query asks for (Prometheus allows 11,000)
MAX_POINTS = 600


class InsightAdminClient(AdminClient):
    """The coherence sidecar's admin client, plus the decision log (needs only ``wilton:read``)."""

    def decisions(self, limit: int) -> dict[str, Any]:
        """GET /wilton/decisions?limit=N."""
        body = self._request("GET", f"/wilton/decisions?limit={int(limit)}")
        if not isinstance(body, dict) or not isinstance(body.get("decisions"), list):
            raise SidecarError("GET /wilton/decisions: unexpected body")
        return body


def _series(data: Any) -> list[dict[str, Any]]:
    """The series of a query's ``data``; none when its ``result`` is not a list."""
    result = data["result"]
    return result if isinstance(result, list) else []


class RangeReader:
    """Prometheus range and instant queries (``/api/v1/query_range``, ``/api/v1/query``)."""

    def __init__(self, base_url: str, client: httpx.Client):
        self.base_url = base_url.rstrip("/")
        self.client = client

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        try:
            response = self.client.get(f"{self.base_url}{path}", params=params)
        except REQUEST_ERRORS as exc:
            where = redact_urls(self.base_url)
            raise PrometheusError(f"Prometheus unreachable at {where} ({request_error(exc)})") from exc
        return prometheus_data(response, _series)

    def range(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """``[{"metric": {...}, "values": [[t, "v"], ...]}, ...]``."""
        return self._get("/api/v1/query_range", {"query": query, "start": start, "end": end, "step": step})


def collect_prometheus(reader: RangeReader, hours: float, now: float) -> dict[str, Any]:
    """Every Prometheus-sourced input of the analysis over the last ``hours``."""
    end = now
    start = end - hours * 3600
    step = max(1.0, math.ceil(hours * 3600 / MAX_POINTS))
    rate_window = f"{int(max(60, 4 * step))}s"
    out: dict[str, Any] = {"window": {"start": round(start, 3), "end": round(end, 3), "step": step, "hours": hours,
                                      "rate_window": rate_window}}

    def series(query: str) -> list[dict[str, Any]]:
        return reader.range(query, start, end, step)

    def single(query: str) -> list[list[float]]:
        result = series(query)
        return [[float(t), float(v)] for t, v in result[0]["values"]] if result else []

    out["phi_history"] = [
        p for p in single(
            f'(sum(rate(wilton_requests_total{{status="success",{LOCAL}}}[{rate_window}])) or vector(0))'
            f' / (sum(rate(wilton_requests_total{{status="success"}}[{rate_window}])) > 0)'
        ) if math.isfinite(p[1])
    ]
    out["target_history"] = single("max(wilton_phi_target)")

    # Counters are read raw, one series per replica (its own instance/job labels), and each series'
    # increase is taken before they are added up: a sum over replicas drops when ONE replica restarts
    # or misses a scrape, and that drop is not a reset of the whole traffic.
    def increases(metric: str, labels: tuple[str, ...], value: str = "count") -> list[dict[str, Any]]:
        return summed_increases(series(metric), labels, start, step, value)

    out["requests"] = increases("wilton_requests_total", ("deployment", "tier", "status"))
    out["tokens"] = increases("wilton_tokens_total", ("tier", "direction"))
    out["cost"] = increases("wilton_cost_usd_total", ("deployment", "tier"), "usd")
    out["decisions_by_reason"] = increases("wilton_routing_decisions_total", ("tier", "reason"))
    buckets: dict[str, dict[str, Any]] = {}
    for row in increases("wilton_request_latency_seconds_bucket", ("deployment", "tier", "le")):
        entry = buckets.setdefault(row["deployment"], {"tier": row["tier"], "counts": {}})
        le = float(row["le"])  # "1" and "1.0" are one bucket
        entry["counts"][le] = entry["counts"].get(le, 0.0) + row["count"]
    out["latency_buckets"] = {
        name: {"tier": entry["tier"], "buckets": [[le, count] for le, count in sorted(entry["counts"].items())]}
        for name, entry in buckets.items()
    }
    corrections = series("wilton_coherence_corrections_total")
    out["corrections"] = summed_increases(corrections, ("kind",), start, step, "count") if corrections else None
    return out


def collect(
    reader: RangeReader | None,
    admin: InsightAdminClient | None,
    *,
    hours: float,
    max_tasks: int,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Collect from every source; a failing source adds one line to ``problems``."""
    now = clock()
    collected: dict[str, Any] = {"problems": [], "prometheus_ok": False, "decisions_ok": False, "team_targets_ok": False,
                                 "window": {"start": round(now - hours * 3600, 3), "end": round(now, 3), "hours": hours}}
    if reader is None:
        collected["problems"].append("Prometheus: not configured (--prometheus-url is empty); no φ history, counts or latency")
    else:
        try:
            collected.update(collect_prometheus(reader, hours, now))
            collected["prometheus_ok"] = True
        except SidecarError as exc:
            collected["problems"].append(f"Prometheus: {exc}; no φ history, counts or latency in this report")
    if admin is not None and max_tasks > 0:
        try:
            body = admin.decisions(max_tasks)
            # the prompt text never leaves the collector, even when the proxy logs it
            collected["decisions"] = [{k: v for k, v in d.items() if k != "prompt"} for d in body["decisions"] if isinstance(d, dict)]
            collected["decisions_ok"] = True
        except SidecarError as exc:
            collected["problems"].append(f"decision log: {exc}")
        else:
            _collect_team_targets(admin, collected)
    return collected


def _collect_team_targets(admin: InsightAdminClient, collected: dict[str, Any]) -> None:
    """The effective team targets and the target from /wilton/status; a failure adds a line to ``problems``."""
    try:
        status = admin.status()
    except SidecarError as exc:
        problem = str(exc)
    else:
        collected["status_target"] = status.get("phi_target")
        targets = status.get("team_targets")
        if targets is None or isinstance(targets, dict):
            collected["team_targets"] = targets or {}
            collected["team_targets_ok"] = True
            return
        problem = f"GET /wilton/status: team_targets is a {type(targets).__name__}, not an object"
    collected["problems"].append(f"team targets: {problem}; no team is judged against its target in this report")
