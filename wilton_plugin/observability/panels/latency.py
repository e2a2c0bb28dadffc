"""The dashboard's third row: request latency and time to first token per deployment."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from wilton_plugin.observability.panels.blocks import TIER, legend, line_style, query, timeseries_panel, tooltip


def _p95(histogram: str) -> str:
    """The 95th percentile per deployment from ``histogram``'s buckets, filtered by ``$tier``."""
    return (
        "histogram_quantile(0.95, sum by (le, deployment) "
        f"(rate({histogram}_bucket{{{TIER}}}[$__rate_interval])))"
    )


def latency_panel() -> timeseries.Panel:
    """Mean and p95 request latency per deployment."""
    description = (
        "End-to-end request latency from `wilton_request_latency_seconds`, per deployment and "
        "filtered by tier: the 95th percentile (solid) from the histogram buckets and the mean "
        "(dashed) from sum / count."
    )
    histogram = "wilton_request_latency_seconds"
    mean = (
        f"sum by (deployment) (rate({histogram}_sum{{{TIER}}}[$__rate_interval]))"
        f" / sum by (deployment) (rate({histogram}_count{{{TIER}}}[$__rate_interval]))"
    )
    title = "Request latency per deployment (mean, p95)"
    return (
        timeseries_panel(6, title, description, model.GridPos(h=9, w=12, x=0, y=16), "s")
        .with_target(query(_p95(histogram), "p95 {{deployment}}", "A"))
        .with_target(query(mean, "mean {{deployment}}", "B"))
        .line_width(2)
        .override_by_query("B", [line_style("dash", [10, 10])])
        .legend(legend(common.LegendDisplayMode.TABLE, common.LegendPlacement.RIGHT).calcs(["mean", "max"]))
        .tooltip(tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.DESCENDING))
    )


def time_to_first_token_panel() -> timeseries.Panel:
    """p95 time to first token per deployment (streaming requests)."""
    description = (
        "95th percentile of the time from the request to the first streamed token "
        "(`wilton_time_to_first_token_seconds`), per deployment and filtered by tier. Only streaming "
        "requests are counted."
    )
    title = "Time to first token per deployment (p95, streaming)"
    return (
        timeseries_panel(7, title, description, model.GridPos(h=9, w=12, x=12, y=16), "s")
        .with_target(query(_p95("wilton_time_to_first_token_seconds"), "p95 {{deployment}}", "A"))
        .line_width(2)
        .legend(legend(common.LegendDisplayMode.TABLE, common.LegendPlacement.RIGHT).calcs(["mean", "max"]))
    )
