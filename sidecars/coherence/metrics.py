"""The sidecar's own metrics, in its own registry (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from sidecars.common.metrics import SidecarMetrics


class CoherenceMetrics(SidecarMetrics):
    """The coherence sidecar's metrics: corrections, errors by stage, holds, the φ it sees and the bias it holds."""

    def __init__(self, registry: CollectorRegistry | None = None):
        super().__init__(registry)
        r = self.registry
        self.corrections = Counter(
            "wilton_coherence_corrections", "Corrections applied to the proxy, by kind", ["kind"], registry=r
        )
        for kind in ("target", "bias", "weights"):
            self.corrections.labels(kind=kind)
        self.errors = Counter("wilton_coherence_errors", "Errors by stage of the loop", ["stage"], registry=r)
        for stage in ("prometheus", "proxy", "auth", "status", "observe", "apply", "loop"):
            self.errors.labels(stage=stage)
        self.holds = Counter(
            "wilton_coherence_holds", "Iterations that held the bias without it being an error, by reason: "
            "no_data (Prometheus has no φ value: no traffic), repeat (no newer φ sample)", ["reason"], registry=r
        )
        for reason in ("no_data", "repeat"):
            self.holds.labels(reason=reason)
        self.observed_phi = Gauge("wilton_coherence_observed_phi", "Last global φ observed", registry=r)
        self.data_age = Gauge("wilton_coherence_data_age_seconds", "Age of the last φ observation", registry=r)
        self.bias = Gauge("wilton_coherence_bias", "phi_bias the controller holds", registry=r)
        self.target = Gauge("wilton_coherence_phi_target", "φ target the controller drives to", registry=r)
        self.last_success = Gauge(
            "wilton_coherence_last_success_timestamp_seconds", "Unix time of the last successful iteration", registry=r
        )
