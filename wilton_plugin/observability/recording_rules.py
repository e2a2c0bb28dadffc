"""Wilton's Prometheus recording rules, and what each rule needs running to return data.

Recording rules follow the ``level:metric:operations`` convention and read only the raw metrics
(never another recording rule), so each one can be evaluated on its own. φ is always computed
from the counters summed over every proxy replica and worker, never from the per-process
``wilton_phi`` gauge: that sum is what the coherence sidecar reads. The rules file is written by
:mod:`wilton_plugin.observability.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

LOCAL_TIERS = ("selfhost", "edge")
FRONTIER_TIER = "frontier"

# What must be true for a rule's probe expression (see rules.probe_expressions) to return data:
NEEDS_PROXY = "proxy"  # the proxy job is scraped and has served requests on the local and frontier tiers
NEEDS_STREAMING = "streaming"  # ... including streaming requests (time to first token)
NEEDS_COHERENCE = "coherence"  # the coherence sidecar is scraped
NEEDS_SIDECAR_JOBS = "sidecar_jobs"  # Prometheus is configured with the sidecar jobs (up{} exists)
ALL_NEEDS = frozenset({NEEDS_PROXY, NEEDS_STREAMING, NEEDS_COHERENCE, NEEDS_SIDECAR_JOBS})

_LOCAL = 'tier=~"' + "|".join(LOCAL_TIERS) + '"'


@dataclass(frozen=True)
class Recording:
    """One recording rule. ``needs`` says what must be running for it to return data."""

    record: str
    expr: str
    needs: str = NEEDS_PROXY


def _rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def _share(part: str, whole: str, window: str) -> str:
    """sum(part)/sum(whole) over the window: 0 when only `whole` has traffic, absent (not NaN)
    when there is no traffic at all."""
    return f"(sum({_rate(part, window)}) or vector(0)) / (sum({_rate(whole, window)}) > 0)"


def _p95(histogram: str, by: str) -> str:
    """p95 from a histogram, absent (not NaN) for a series with no observations in 5m."""
    return (
        f"histogram_quantile(0.95, sum by ({by}, le) ({_rate(histogram + '_bucket', '5m')}))"
        f" and on ({by}) (sum by ({by}) ({_rate(histogram + '_count', '5m')}) > 0)"
    )


def _mean(histogram: str, by: str) -> str:
    return (
        f"sum by ({by}) ({_rate(histogram + '_sum', '5m')})"
        f" / (sum by ({by}) ({_rate(histogram + '_count', '5m')}) > 0)"
    )


def recording_rules() -> list[Recording]:
    """Every recording rule, in evaluation order."""
    ok = 'wilton_requests_total{status="success"}'
    ok_local = f'wilton_requests_total{{status="success",{_LOCAL}}}'
    tokens_local = f"wilton_tokens_total{{{_LOCAL}}}"
    frontier_cost = f'wilton_cost_usd_total{{tier="{FRONTIER_TIER}"}}'
    by_deployment = "deployment, tier"
    return [
        # φ: successful local requests / all successful requests, every replica summed.
        Recording("wilton:phi:ratio_rate5m", _share(ok_local, ok, "5m")),
        Recording("wilton:phi:ratio_rate1h", _share(ok_local, ok, "1h")),
        Recording("wilton:phi_tokens:ratio_rate5m", _share(tokens_local, "wilton_tokens_total", "5m")),
        Recording("wilton:phi_target:max", "max(wilton_phi_target)"),
        Recording(
            "wilton:requests:rate5m",
            f"sum by (model_group, tier, status) ({_rate('wilton_requests_total', '5m')})",
        ),
        Recording(
            "wilton:tokens:rate5m",
            f"sum by (model_group, tier, direction) ({_rate('wilton_tokens_total', '5m')})",
        ),
        Recording(
            "wilton:tokens:share_rate5m",
            f"sum by (tier) ({_rate('wilton_tokens_total', '5m')})"
            f" / ignoring (tier) group_left () (sum({_rate('wilton_tokens_total', '5m')}) > 0)",
        ),
        Recording(
            "wilton:request_latency_seconds:p95_rate5m", _p95("wilton_request_latency_seconds", by_deployment)
        ),
        Recording(
            "wilton:request_latency_seconds:mean_rate5m", _mean("wilton_request_latency_seconds", by_deployment)
        ),
        Recording(
            "wilton:time_to_first_token_seconds:p95_rate5m",
            _p95("wilton_time_to_first_token_seconds", by_deployment),
            NEEDS_STREAMING,
        ),
        Recording(
            "wilton:time_to_first_token_seconds:mean_rate5m",
            _mean("wilton_time_to_first_token_seconds", by_deployment),
            NEEDS_STREAMING,
        ),
        # USD per hour (the per-second rate over 1h, times 3600), every replica summed.
        Recording(
            "wilton:frontier_spend_usd:rate1h",
            f"sum({_rate(frontier_cost, '1h')}) * 3600",
        ),
        Recording(
            "wilton:routing_decisions:rate5m",
            f"sum by (tier, reason) ({_rate('wilton_routing_decisions_total', '5m')})",
        ),
        Recording(
            "wilton:plugin_errors:rate5m", f"sum by (stage) ({_rate('wilton_plugin_errors_total', '5m')})"
        ),
        Recording(
            "wilton:coherence_corrections:rate5m",
            f"sum by (kind) ({_rate('wilton_coherence_corrections_total', '5m')})",
            NEEDS_COHERENCE,
        ),
    ]
