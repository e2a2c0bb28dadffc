"""The dashboard's second row: tokens per tier, frontier spend and the plugin's own errors."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import piechart, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import piechart as piechart_model

from wilton_plugin.observability.panels.blocks import (
    DATASOURCE,
    MODEL_GROUP,
    TIER,
    last_value,
    query,
    rate_by_bars,
    stat_panel,
    thresholds,
    tooltip,
)


def token_distribution_panel() -> piechart.Panel:
    """Tokens per tier over the dashboard's time range: the 75/25 local/frontier split."""
    tokens = f"sum by (tier) (increase(wilton_tokens_total{{{MODEL_GROUP}, {TIER}}}[$__range]))"
    return (
        piechart.Panel()
        .id(3)
        .datasource(DATASOURCE)
        .title("Token distribution per tier")
        .description(
            "Input + output tokens per tier over the selected time range, filtered by model group and "
            "tier. With the default target the local tiers (selfhost + edge) hold about 75% and "
            "frontier about 25% (φ counts requests unless `phi_unit: tokens`)."
        )
        .grid_pos(model.GridPos(h=8, w=8, x=0, y=8))
        .with_target(query(tokens, "{{tier}}", "A", instant=True))
        .unit("short")
        .decimals(0)
        .thresholds(thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
        .pie_type(piechart_model.PieChartType.DONUT)
        .display_labels([piechart_model.PieChartLabels.NAME, piechart_model.PieChartLabels.PERCENT])
        .reduce_options(last_value())
        .legend(
            piechart.PieChartLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .values([piechart_model.PieChartLegendValues.VALUE, piechart_model.PieChartLegendValues.PERCENT])
        )
        .tooltip(tooltip(common.TooltipDisplayMode.SINGLE, common.SortOrder.NONE))
    )


def frontier_cost_panel() -> stat.Panel:
    """Frontier spend: the rate in USD per hour and the total over the time range."""
    description = (
        "Spend on the frontier tier from `wilton_cost_usd_total`: the rate over the last hour in USD "
        "per hour (what the spend-budget alert compares), and the total spent over the selected "
        "time range."
    )
    spend = 'wilton_cost_usd_total{tier="frontier"}'
    return (
        stat_panel(4, "Frontier cost (USD)", description, model.GridPos(h=8, w=8, x=8, y=8), "currencyUSD")
        .with_target(query(f"sum(rate({spend}[1h])) * 3600", "USD per hour (1h rate)", "A"))
        .with_target(query(f"sum(increase({spend}[$__range]))", "USD over the range", "B", instant=True))
        .decimals(2)
        .thresholds(thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.FIXED).fixed_color("orange"))
        .graph_mode(common.BigValueGraphMode.AREA)
        .orientation(common.VizOrientation.VERTICAL)
    )


def plugin_errors_panel() -> timeseries.Panel:
    """Exceptions caught inside the plugin, per second, by stage."""
    description = (
        "Exceptions Wilton caught, per second, by the stage they happened in "
        "(`wilton_plugin_errors_total`). The request was still routed the way LiteLLM would have "
        "routed it; anything above zero deserves a look at the proxy log."
    )
    grid = model.GridPos(h=8, w=8, x=16, y=8)
    return rate_by_bars(5, "Plugin errors by stage", description, grid, "wilton_plugin_errors_total", "stage")
