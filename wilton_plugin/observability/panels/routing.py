"""The dashboard's fourth row: how requests were routed and how the coherence sidecar corrected it."""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from wilton_plugin.observability.panels.blocks import (
    TIER,
    fixed_color,
    query,
    rate_by_bars,
    stat_panel,
    thresholds,
    timeseries_panel,
    tooltip,
)


def routing_decisions_panel() -> timeseries.Panel:
    """Routing decisions per second, stacked by reason."""
    description = (
        "Routing decisions per second by the reason the balancer gave (balance, difficulty, forced, "
        "spill, team, fallback), stacked, filtered by the tier chosen (`wilton_routing_decisions_total`)."
    )
    decisions = f"sum by (reason) (rate(wilton_routing_decisions_total{{{TIER}}}[$__rate_interval]))"
    return (
        timeseries_panel(8, "Routing decisions by reason", description, model.GridPos(h=9, w=12, x=0, y=25), "reqps")
        .with_target(query(decisions, "{{reason}}", "A"))
        .fill_opacity(40)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .tooltip(tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.DESCENDING))
    )


def coherence_corrections_panel() -> timeseries.Panel:
    """The coherence sidecar's corrections per second, by kind."""
    description = (
        "Corrections the coherence sidecar (job `wilton-coherence`) applied to the proxy's runtime "
        "settings, per second, by kind: target, bias or weights (`wilton_coherence_corrections_total`). "
        "Empty until the sidecar runs."
    )
    grid = model.GridPos(h=9, w=8, x=12, y=25)
    return rate_by_bars(9, "Coherence sidecar corrections", description, grid, "wilton_coherence_corrections_total", "kind")


def coherence_state_panel() -> stat.Panel:
    """What the coherence sidecar sees: φ and the age of its data."""
    description = (
        "The φ the coherence sidecar last read from Prometheus (`wilton_coherence_observed_phi`) and "
        "how old that data was (`wilton_coherence_data_age_seconds`; orange above 1 minute, red above "
        "5). Empty until the sidecar runs."
    )
    age_thresholds = {
        "mode": "absolute",
        "steps": [{"color": "green", "value": None}, {"color": "orange", "value": 60}, {"color": "red", "value": 300}],
    }
    title = "Coherence sidecar: observed φ and data age"
    return (
        stat_panel(10, title, description, model.GridPos(h=9, w=4, x=20, y=25), "percentunit")
        .with_target(query("max(wilton_coherence_observed_phi)", "observed φ", "A"))
        .with_target(query("max(wilton_coherence_data_age_seconds)", "data age", "B"))
        .decimals(1)
        .thresholds(thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_query("A", [fixed_color("blue")])
        .override_by_query(
            "B",
            [
                model.DynamicConfigValue(id_val="unit", value="s"),
                model.DynamicConfigValue(id_val="decimals", value=0),
                model.DynamicConfigValue(id_val="color", value={"mode": "thresholds"}),
                model.DynamicConfigValue(id_val="thresholds", value=age_thresholds),
            ],
        )
        .graph_mode(common.BigValueGraphMode.AREA)
        .orientation(common.VizOrientation.HORIZONTAL)
    )
