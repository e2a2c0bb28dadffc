"""Every Prometheus metric Wilton exports, defined in one place.

Labels are a small fixed set, pre-initialised; none carries a prompt, a key, a key hash or a user
id. The registry is injected (the proxy uses the default one, which LiteLLM serves on /metrics).
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge

from wilton_plugin.core.balancer import REASONS
from wilton_plugin.settings import TIERS

ERROR_STAGES = ("route", "install", "pre_call", "headers", "success", "failure", "state")


class Metrics:
    """The plugin's metrics on one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.decisions = Counter(
            "wilton_routing_decisions_total",
            "Routing decisions by the tier chosen and the reason.",
            ["tier", "reason"],
            registry=registry,
        )
        self.errors = Counter(
            "wilton_plugin_errors_total",
            "Exceptions caught inside Wilton (the request was routed as LiteLLM would have).",
            ["stage"],
            registry=registry,
        )
        self.phi = Gauge(
            "wilton_phi",
            "Observed local share over the window.",
            ["unit"],
            registry=registry,
            multiprocess_mode="mostrecent",
        )
        self.phi_target = Gauge(
            "wilton_phi_target", "Local share asked for.", registry=registry, multiprocess_mode="mostrecent"
        )
        for tier in TIERS:
            for reason in REASONS:
                self.decisions.labels(tier=tier, reason=reason)
        for stage in ERROR_STAGES:
            self.errors.labels(stage=stage)
