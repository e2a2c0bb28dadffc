"""Every Prometheus metric the plugin exports, defined in one place.

Naming follows Prometheus conventions: the ``wilton_`` prefix, ``_total`` on counters, base units
(``_seconds``, ``_usd``). Labels are a small fixed set, pre-initialised from the config, and none
carries a prompt, an API key, a key hash or a user id. The registry is injected; in the proxy it is
the default registry, which LiteLLM serves on ``/metrics`` and — summed over every worker — on its
``--prometheus_metrics_port`` (prometheus_client's multiprocess mode; gauges say how to combine).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

from wilton_plugin.core.balancer import REASONS
from wilton_plugin.settings import PHI_UNITS, TIERS, DeploymentSpec

ERROR_STAGES = ("route", "install", "pre_call", "headers", "success", "failure", "state", "deployment", "admin")
STATUSES = ("success", "failure")
DIRECTIONS = ("input", "output")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass(frozen=True)
class Outcome:
    """What one finished request tells the metrics (and the balancer)."""

    call_id: str
    deployment_id: str | None
    success: bool
    input_tokens: int = 0
    output_tokens: int = 0
    latency_s: float | None = None
    ttft_s: float | None = None  # time to first token, streaming only
    cost_usd: float = 0.0
    # Served from LiteLLM's cache: no upstream call, so no latency to learn; still work the deployment's
    # tier served (the balancer charged its debt when it routed), so it counts in requests, tokens and φ.
    cache_hit: bool = False

    @property
    def tokens(self) -> int:
        """Input plus output tokens."""
        return self.input_tokens + self.output_tokens


class Metrics:
    """The plugin's metrics on one registry."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.phi = Gauge(
            "wilton_phi",
            "Observed local share (selfhost+edge) over the plugin's window; global when state is shared in Redis.",
            ["unit"],
            registry=registry,
            multiprocess_mode="livemostrecent",
        )
        self.phi_target = Gauge(
            "wilton_phi_target",
            "Global local share asked for (admin API target, else phi_target); no coherence bias, no team targets.",
            registry=registry,
            multiprocess_mode="livemax",
        )
        self.requests = Counter(
            "wilton_requests_total",
            "Requests finished by a Wilton-managed deployment.",
            ["model_group", "deployment", "tier", "status"],
            registry=registry,
        )
        self.tokens = Counter(
            "wilton_tokens_total",
            "Tokens served by Wilton-managed deployments.",
            ["model_group", "tier", "direction"],
            registry=registry,
        )
        self.latency = Histogram(
            "wilton_request_latency_seconds",
            "Time from the call to the upstream until its full response.",
            ["deployment", "tier"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "wilton_time_to_first_token_seconds",
            "Time to the first streamed token (streaming requests only).",
            ["deployment", "tier"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.cost = Counter(
            "wilton_cost_usd",
            "Cost of served requests in USD, as LiteLLM computes it.",
            ["deployment", "tier"],
            registry=registry,
        )
        self.decisions = Counter(
            "wilton_routing_decisions",
            "Routing decisions by the tier chosen and the reason.",
            ["tier", "reason"],
            registry=registry,
        )
        self.errors = Counter(
            "wilton_plugin_errors",
            "Exceptions caught inside Wilton; the request was routed as LiteLLM would have.",
            ["stage"],
            registry=registry,
        )
        self.state_dropped = Counter(
            "wilton_state_dropped_records",
            "Decisions dropped, oldest first, from the replay queue of a worker while Redis was away; "
            "they never reach the shared debts and window.",
            registry=registry,
        )
        for tier in TIERS:
            for reason in REASONS:
                self.decisions.labels(tier=tier, reason=reason)
        for stage in ERROR_STAGES:
            self.errors.labels(stage=stage)

    def declare(self, specs: Iterable[DeploymentSpec], phi_unit: str) -> None:
        """Pre-initialise every label set the config implies, so series exist before traffic.

        ``wilton_phi`` is not pre-created: it would read 0 (a frontier-only φ) until the window has work.
        A spec without a deployment id (a config deployment before LiteLLM assigns its hash id) is skipped:
        its model-group name is no deployment, and its series would stay at 0 for ever.
        """
        if phi_unit not in PHI_UNITS:
            raise ValueError(f"phi_unit must be one of {', '.join(PHI_UNITS)}, got {phi_unit!r}")
        for spec in specs:
            if spec.deployment_id is None:
                continue
            deployment = spec.deployment_id
            for status in STATUSES:
                self.requests.labels(spec.model_group, deployment, spec.tier, status)
            for direction in DIRECTIONS:
                self.tokens.labels(spec.model_group, spec.tier, direction)
            self.latency.labels(deployment, spec.tier)
            self.ttft.labels(deployment, spec.tier)
            self.cost.labels(deployment, spec.tier)

    def observe(self, outcome: Outcome, spec: DeploymentSpec) -> None:
        """Count one finished request of a managed deployment."""
        deployment = spec.deployment_id or spec.model_group
        self.requests.labels(spec.model_group, deployment, spec.tier, "success" if outcome.success else "failure").inc()
        if not outcome.success:
            return
        if outcome.input_tokens > 0:
            self.tokens.labels(spec.model_group, spec.tier, "input").inc(outcome.input_tokens)
        if outcome.output_tokens > 0:
            self.tokens.labels(spec.model_group, spec.tier, "output").inc(outcome.output_tokens)
        if outcome.cache_hit:
            return  # no upstream call: no latency, no time to first token, no cost of its own
        if outcome.latency_s is not None and outcome.latency_s >= 0:
            self.latency.labels(deployment, spec.tier).observe(outcome.latency_s)
        if outcome.ttft_s is not None and outcome.ttft_s >= 0:
            self.ttft.labels(deployment, spec.tier).observe(outcome.ttft_s)
        if outcome.cost_usd > 0:
            self.cost.labels(deployment, spec.tier).inc(outcome.cost_usd)


def series_names(registry: CollectorRegistry) -> set[str]:
    """Every series name a registry exposes (``_total``, ``_bucket``, ``_sum``, ``_count`` included)."""
    names: set[str] = set()
    for family in registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def plugin_series_names() -> set[str]:
    """The series the plugin exports, read from the metric definitions themselves."""
    registry = CollectorRegistry()
    Metrics(registry)
    return series_names(registry)
