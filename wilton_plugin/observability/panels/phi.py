"""The dashboard's first row: φ, the local share of work, against its target and band.

φ is shown in both units: by requests (``wilton:phi:ratio_rate5m``) and by tokens
(``wilton:phi_tokens:ratio_rate5m``). The balancer holds the one of the proxy's ``phi_unit``
(``requests`` by default); the purple dotted ``wilton_phi`` series is labelled with that unit.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from wilton_plugin.observability.panels.blocks import (
    BAND,
    LOCAL_TIERS_RE,
    MODEL_GROUP,
    TARGET,
    custom,
    fixed_color,
    line_style,
    query,
    stat_panel,
    thresholds,
    timeseries_panel,
    tooltip,
)


def _phi_ratio(window: str) -> str:
    """φ from the request counters, as the recording rule ``wilton:phi:ratio_rate5m`` has it.

    The local (selfhost + edge) share of successful requests, summed across replicas, but filtered
    by ``$model_group``, a label the rule's output no longer carries.
    """
    ok = f'status="success", {MODEL_GROUP}'
    return (
        f'sum(rate(wilton_requests_total{{tier=~"{LOCAL_TIERS_RE}", {ok}}}[{window}]))'
        f" / sum(rate(wilton_requests_total{{{ok}}}[{window}]))"
    )


def _phi_tokens_ratio(window: str) -> str:
    """φ by tokens, as the recording rule ``wilton:phi_tokens:ratio_rate5m`` has it, filtered by ``$model_group``."""
    return (
        f'sum(rate(wilton_tokens_total{{tier=~"{LOCAL_TIERS_RE}", {MODEL_GROUP}}}[{window}]))'
        f" / sum(rate(wilton_tokens_total{{{MODEL_GROUP}}}[{window}]))"
    )


_UNITS = (
    " φ is shown by requests and by tokens (input + output); the balancer holds the one of the proxy's"
    " `phi_unit` (requests by default) and the φ-out-of-band alert compares that one."
)


def phi_now_panel() -> stat.Panel:
    """φ now, its target and the deviation, coloured by the band target ± 5 pp."""
    description = (
        "Local (selfhost + edge) share of successful requests over the last 5 minutes, summed across "
        "proxy replicas and filtered by model group, next to the target (`wilton_phi_target`). The "
        f"deviation is green inside the band (target ± {BAND * 100:.0f} pp) and red outside it, where "
        "the φ-out-of-band alert fires after 10 minutes." + _UNITS
    )
    return (
        stat_panel(1, "φ now vs target", description, model.GridPos(h=8, w=6, x=0, y=0), "percentunit")
        .with_target(query(_phi_ratio("5m"), "φ (5m)", "A", instant=True))
        .with_target(query(TARGET, "target", "B", instant=True))
        .with_target(query(f"{_phi_ratio('5m')} - scalar({TARGET})", "φ − target", "C", instant=True))
        .with_target(query(_phi_tokens_ratio("5m"), "φ tokens (5m)", "D", instant=True))
        .with_target(query(f"{_phi_tokens_ratio('5m')} - scalar({TARGET})", "φ tokens − target", "E", instant=True))
        .decimals(1)
        .thresholds(thresholds((None, "red"), (-BAND, "green"), (BAND, "red")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_query("A", [fixed_color("blue")])
        .override_by_query("B", [fixed_color("text")])
        .override_by_query("D", [fixed_color("orange")])
        .graph_mode(common.BigValueGraphMode.NONE)
        .orientation(common.VizOrientation.VERTICAL)
    )


def phi_history_panel() -> timeseries.Panel:
    """φ over time with the target and its band."""
    description = (
        "φ over 5 minutes from the request counters (local share of successful requests, summed "
        f"across replicas, filtered by model group), the target, and the band target ± {BAND * 100:.0f} "
        "pp (shaded). The dotted line is the plugin's own window gauge `wilton_phi` (in its unit)." + _UNITS
    )
    band = "#73BF6966"
    return (
        timeseries_panel(2, "φ history and target band", description, model.GridPos(h=8, w=18, x=6, y=0), "percentunit")
        .with_target(query(_phi_ratio("5m"), "φ (5m)", "A"))
        .with_target(query(TARGET, "target", "B"))
        .with_target(query(f"{TARGET} + {BAND}", "band high", "C"))
        .with_target(query(f"{TARGET} - {BAND}", "band low", "D"))
        .with_target(query("max by (unit) (wilton_phi)", "φ window ({{unit}})", "E"))
        .with_target(query(_phi_tokens_ratio("5m"), "φ tokens (5m)", "F"))
        .max(1)
        .line_width(2)
        .fill_opacity(0)
        .span_nulls(True)
        .override_by_query("A", [fixed_color("blue")])
        .override_by_query("B", [fixed_color("green"), line_style("dash", [10, 10])])
        .override_by_query(
            "C",
            [fixed_color(band), custom("lineWidth", 0), custom("fillBelowTo", "band low"), custom("fillOpacity", 15)],
        )
        .override_by_query("D", [fixed_color(band), custom("lineWidth", 0)])
        .override_by_query("E", [fixed_color("purple"), line_style("dot", [0, 10]), custom("lineWidth", 1)])
        .override_by_query("F", [fixed_color("orange")])
        .tooltip(tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.NONE))
    )
