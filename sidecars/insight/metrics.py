"""The insight sidecar's own metrics, in its own registry (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from sidecars.common.metrics import SidecarMetrics

STAGES = ("prometheus", "decisions", "status", "llm", "write")


class InsightMetrics(SidecarMetrics):
    """The insight sidecar's metrics: runs by result, errors by stage, the last report's numbers."""

    def __init__(self, registry: CollectorRegistry | None = None):
        super().__init__(registry)
        r = self.registry
        self.runs = Counter("wilton_insight_runs", "Analysis runs, by result (ok, partial, failed)", ["result"], registry=r)
        for result in ("ok", "partial", "failed"):
            self.runs.labels(result=result)
        self.errors = Counter("wilton_insight_errors", "Errors by stage of a run", ["stage"], registry=r)
        for stage in STAGES:
            self.errors.labels(stage=stage)
        self.duration = Gauge("wilton_insight_run_duration_seconds", "Duration of the last run", registry=r)
        self.last_success = Gauge(
            "wilton_insight_last_success_timestamp_seconds", "Unix time of the last run that wrote a report", registry=r
        )
        self.recommendations = Gauge("wilton_insight_recommendations", "Recommendations in the last report", registry=r)
        self.unverified = Gauge(
            "wilton_insight_unverified_numbers", "Numbers in the last recommendations that are not among the facts", registry=r
        )
