"""The sidecar's own metrics, in its own registry (served on ``--metrics-port``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class CoherenceMetrics:
    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.corrections = Counter(
            "wilton_coherence_corrections", "Corrections applied to the proxy, by kind", ["kind"], registry=r
        )
        for kind in ("target", "bias", "weights"):
            self.corrections.labels(kind=kind)
        self.errors = Counter("wilton_coherence_errors", "Errors by stage of the loop", ["stage"], registry=r)
        for stage in ("prometheus", "observe", "proxy", "auth", "apply"):
            self.errors.labels(stage=stage)
        self.observed_phi = Gauge("wilton_coherence_observed_phi", "Last global φ observed", registry=r)
        self.data_age = Gauge("wilton_coherence_data_age_seconds", "Age of the last φ observation", registry=r)
        self.bias = Gauge("wilton_coherence_bias", "phi_bias the controller holds", registry=r)
        self.target = Gauge("wilton_coherence_phi_target", "φ target the controller drives to", registry=r)
        self.last_success = Gauge(
            "wilton_coherence_last_success_timestamp_seconds", "Unix time of the last successful iteration", registry=r
        )

    def serve(self, port: int, addr: str):
        """Start the /metrics HTTP server; returns the server (call ``shutdown()`` to stop)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server
