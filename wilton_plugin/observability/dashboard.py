"""The "WiltonOS Quantum Balance" Grafana dashboard, as code.

One function per panel, each built with ``grafana_foundation_sdk`` (Grafana 11.6's schema);
:func:`build` assembles them into the dashboard JSON model, and the command line writes it to (or
checks it against) the committed ``grafana/dashboards/wilton-quantum-balance.json``::

    python -m wilton_plugin.observability.dashboard --out grafana/dashboards/wilton-quantum-balance.json
    python -m wilton_plugin.observability.dashboard --check

Every panel and query uses the ``$datasource`` variable (a Prometheus data source). The metric
names are those of ``wilton_plugin/metrics.py`` (job ``wilton-proxy``) and of the coherence
sidecar (job ``wilton-coherence``). :func:`all_expressions` lists every PromQL expression in the
JSON and :func:`substitute` fills in the template variables, so that a test can run each one
against a real Prometheus.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import piechart, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model
from grafana_foundation_sdk.models import piechart as piechart_model

UID = "wilton-quantum-balance"
TITLE = "WiltonOS Quantum Balance"
DEFAULT_OUT = Path("grafana/dashboards/wilton-quantum-balance.json")

BAND = 0.05  # φ's band around its target, as the alert rules hold it: ± 5 percentage points
LOCAL_TIERS_RE = "selfhost|edge"

# Metrics that only the coherence sidecar (job `wilton-coherence`) exports: a test that runs the
# dashboard's queries against a proxy alone may expect these to return no data.
SIDECAR_METRICS = (
    "wilton_coherence_corrections_total",
    "wilton_coherence_observed_phi",
    "wilton_coherence_data_age_seconds",
)

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
MODEL_GROUP = 'model_group=~"$model_group"'  # label filters driven by the template variables
TIER = 'tier=~"$tier"'
TARGET = "max(wilton_phi_target)"


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


# --- building blocks ----------------------------------------------------------------------------


def _query(expr: str, legend: str, ref_id: str, *, instant: bool = False) -> prometheus.Dataquery:
    query = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)
    return query.instant() if instant else query.range()


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def _fixed_color(color: str) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def _line_style(fill: str, dash_pattern: list[int]) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": fill, "dash": dash_pattern})


def _custom(key: str, value: object) -> model.DynamicConfigValue:
    return model.DynamicConfigValue(id_val=f"custom.{key}", value=value)


def _legend(mode: common.LegendDisplayMode, placement: common.LegendPlacement) -> common_builders.VizLegendOptions:
    return common_builders.VizLegendOptions().show_legend(True).display_mode(mode).placement(placement)


def _tooltip(mode: common.TooltipDisplayMode, sort: common.SortOrder) -> common_builders.VizTooltipOptions:
    return common_builders.VizTooltipOptions().mode(mode).sort(sort)


def _last_value() -> common_builders.ReduceDataOptions:
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


def _timeseries(panel_id: int, title: str, description: str, grid: model.GridPos, unit: str) -> timeseries.Panel:
    """A time series panel on ``$datasource`` starting at zero, palette colours, legend below."""
    return (
        timeseries.Panel()
        .id(panel_id)
        .datasource(DATASOURCE)
        .title(title)
        .description(description)
        .grid_pos(grid)
        .unit(unit)
        .min(0)
        .thresholds(_thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
        .legend(_legend(common.LegendDisplayMode.LIST, common.LegendPlacement.BOTTOM))
    )


def _stat(panel_id: int, title: str, description: str, grid: model.GridPos, unit: str) -> stat.Panel:
    """A stat panel on ``$datasource`` showing each series' last value with its name."""
    return (
        stat.Panel()
        .id(panel_id)
        .datasource(DATASOURCE)
        .title(title)
        .description(description)
        .grid_pos(grid)
        .unit(unit)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(_last_value())
    )


def _stacked_bars(panel: timeseries.Panel) -> timeseries.Panel:
    return (
        panel.draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    )


# --- panels -------------------------------------------------------------------------------------


def phi_now_panel() -> stat.Panel:
    """φ now, its target and the deviation, coloured by the band target ± 5 pp."""
    description = (
        "Local (selfhost + edge) share of successful requests over the last 5 minutes, summed across "
        "proxy replicas and filtered by model group, next to the target (`wilton_phi_target`). The "
        f"deviation is green inside the band (target ± {BAND * 100:.0f} pp) and red outside it, where "
        "the φ-out-of-band alert fires after 10 minutes."
    )
    return (
        _stat(1, "φ now vs target", description, model.GridPos(h=8, w=6, x=0, y=0), "percentunit")
        .with_target(_query(_phi_ratio("5m"), "φ (5m)", "A", instant=True))
        .with_target(_query(TARGET, "target", "B", instant=True))
        .with_target(_query(f"{_phi_ratio('5m')} - scalar({TARGET})", "φ − target", "C", instant=True))
        .decimals(1)
        .thresholds(_thresholds((None, "red"), (-BAND, "green"), (BAND, "red")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_query("A", [_fixed_color("blue")])
        .override_by_query("B", [_fixed_color("text")])
        .graph_mode(common.BigValueGraphMode.NONE)
        .orientation(common.VizOrientation.VERTICAL)
    )


def phi_history_panel() -> timeseries.Panel:
    """φ over time with the target and its band."""
    description = (
        "φ over 5 minutes from the request counters (local share of successful requests, summed "
        f"across replicas, filtered by model group), the target, and the band target ± {BAND * 100:.0f} "
        "pp (shaded). The dotted line is the plugin's own window gauge `wilton_phi` (in its unit)."
    )
    band = "#73BF6966"
    return (
        _timeseries(2, "φ history and target band", description, model.GridPos(h=8, w=18, x=6, y=0), "percentunit")
        .with_target(_query(_phi_ratio("5m"), "φ (5m)", "A"))
        .with_target(_query(TARGET, "target", "B"))
        .with_target(_query(f"{TARGET} + {BAND}", "band high", "C"))
        .with_target(_query(f"{TARGET} - {BAND}", "band low", "D"))
        .with_target(_query("max by (unit) (wilton_phi)", "φ window ({{unit}})", "E"))
        .max(1)
        .line_width(2)
        .fill_opacity(0)
        .span_nulls(True)
        .override_by_query("A", [_fixed_color("blue")])
        .override_by_query("B", [_fixed_color("green"), _line_style("dash", [10, 10])])
        .override_by_query(
            "C",
            [_fixed_color(band), _custom("lineWidth", 0), _custom("fillBelowTo", "band low"), _custom("fillOpacity", 15)],
        )
        .override_by_query("D", [_fixed_color(band), _custom("lineWidth", 0)])
        .override_by_query("E", [_fixed_color("purple"), _line_style("dot", [0, 10]), _custom("lineWidth", 1)])
        .tooltip(_tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.NONE))
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
        .with_target(_query(tokens, "{{tier}}", "A", instant=True))
        .unit("short")
        .decimals(0)
        .thresholds(_thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
        .pie_type(piechart_model.PieChartType.DONUT)
        .display_labels([piechart_model.PieChartLabels.NAME, piechart_model.PieChartLabels.PERCENT])
        .reduce_options(_last_value())
        .legend(
            piechart.PieChartLegendOptions()
            .show_legend(True)
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.RIGHT)
            .values([piechart_model.PieChartLegendValues.VALUE, piechart_model.PieChartLegendValues.PERCENT])
        )
        .tooltip(_tooltip(common.TooltipDisplayMode.SINGLE, common.SortOrder.NONE))
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
        _stat(4, "Frontier cost (USD)", description, model.GridPos(h=8, w=8, x=8, y=8), "currencyUSD")
        .with_target(_query(f"sum(rate({spend}[1h])) * 3600", "USD per hour (1h rate)", "A"))
        .with_target(_query(f"sum(increase({spend}[$__range]))", "USD over the range", "B", instant=True))
        .decimals(2)
        .thresholds(_thresholds((None, "green")))
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
    return _stacked_bars(
        _timeseries(5, "Plugin errors by stage", description, grid, "ops").with_target(
            _query("sum by (stage) (rate(wilton_plugin_errors_total[$__rate_interval]))", "{{stage}}", "A")
        )
    )


def _p95(histogram: str) -> str:
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
        _timeseries(6, title, description, model.GridPos(h=9, w=12, x=0, y=16), "s")
        .with_target(_query(_p95(histogram), "p95 {{deployment}}", "A"))
        .with_target(_query(mean, "mean {{deployment}}", "B"))
        .line_width(2)
        .override_by_query("B", [_line_style("dash", [10, 10])])
        .legend(_legend(common.LegendDisplayMode.TABLE, common.LegendPlacement.RIGHT).calcs(["mean", "max"]))
        .tooltip(_tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.DESCENDING))
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
        _timeseries(7, title, description, model.GridPos(h=9, w=12, x=12, y=16), "s")
        .with_target(_query(_p95("wilton_time_to_first_token_seconds"), "p95 {{deployment}}", "A"))
        .line_width(2)
        .legend(_legend(common.LegendDisplayMode.TABLE, common.LegendPlacement.RIGHT).calcs(["mean", "max"]))
    )


def routing_decisions_panel() -> timeseries.Panel:
    """Routing decisions per second, stacked by reason."""
    description = (
        "Routing decisions per second by the reason the balancer gave (balance, difficulty, forced, "
        "spill, team, fallback), stacked, filtered by the tier chosen (`wilton_routing_decisions_total`)."
    )
    decisions = f"sum by (reason) (rate(wilton_routing_decisions_total{{{TIER}}}[$__rate_interval]))"
    return (
        _timeseries(8, "Routing decisions by reason", description, model.GridPos(h=9, w=12, x=0, y=25), "reqps")
        .with_target(_query(decisions, "{{reason}}", "A"))
        .fill_opacity(40)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .tooltip(_tooltip(common.TooltipDisplayMode.MULTI, common.SortOrder.DESCENDING))
    )


def coherence_corrections_panel() -> timeseries.Panel:
    """The coherence sidecar's corrections per second, by kind."""
    description = (
        "Corrections the coherence sidecar (job `wilton-coherence`) applied to the proxy's runtime "
        "settings, per second, by kind: target, bias or weights (`wilton_coherence_corrections_total`). "
        "Empty until the sidecar runs."
    )
    grid = model.GridPos(h=9, w=8, x=12, y=25)
    return _stacked_bars(
        _timeseries(9, "Coherence sidecar corrections", description, grid, "ops").with_target(
            _query("sum by (kind) (rate(wilton_coherence_corrections_total[$__rate_interval]))", "{{kind}}", "A")
        )
    )


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
        _stat(10, title, description, model.GridPos(h=9, w=4, x=20, y=25), "percentunit")
        .with_target(_query("max(wilton_coherence_observed_phi)", "observed φ", "A"))
        .with_target(_query("max(wilton_coherence_data_age_seconds)", "data age", "B"))
        .decimals(1)
        .thresholds(_thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .override_by_query("A", [_fixed_color("blue")])
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


PANELS = (
    phi_now_panel,
    phi_history_panel,
    token_distribution_panel,
    frontier_cost_panel,
    plugin_errors_panel,
    latency_panel,
    time_to_first_token_panel,
    routing_decisions_panel,
    coherence_corrections_panel,
    coherence_state_panel,
)


# --- template variables -------------------------------------------------------------------------


def datasource_variable() -> dash.DatasourceVariable:
    """``$datasource``: any Prometheus data source."""
    return (
        dash.DatasourceVariable("datasource")
        .label("Data source")
        .description("The Prometheus that scrapes the Wilton proxy (and the coherence sidecar).")
        .type("prometheus")
    )


def _label_variable(name: str, label: str, description: str) -> dash.QueryVariable:
    """A multi-value variable over one label of ``wilton_requests_total``, with All (= any value)."""
    return (
        dash.QueryVariable(name)
        .label(label)
        .description(description)
        .datasource(DATASOURCE)
        .query(f"label_values(wilton_requests_total, {name})")
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(model.VariableOption(selected=True, text=["All"], value=["$__all"]))
    )


def model_group_variable() -> dash.QueryVariable:
    """``$model_group``: the LiteLLM model groups seen in ``wilton_requests_total``."""
    return _label_variable("model_group", "Model group", "LiteLLM model groups (the `model` callers ask for).")


def tier_variable() -> dash.QueryVariable:
    """``$tier``: the deployment tiers seen in ``wilton_requests_total``."""
    return _label_variable("tier", "Tier", "Deployment tiers: selfhost and edge are local, frontier is remote.")


# --- the dashboard ------------------------------------------------------------------------------


def dashboard_builder() -> dash.Dashboard:
    """The dashboard as an SDK builder: settings, variables and every panel of :data:`PANELS`."""
    builder = (
        dash.Dashboard(TITLE)
        .uid(UID)
        .description(
            "φ-balanced routing in the Wilton LiteLLM plugin: the local share against its target, the "
            "token split per tier, latency, frontier spend, routing reasons, errors and the coherence "
            "sidecar. Generated by wilton_plugin/observability/dashboard.py; do not edit by hand."
        )
        .tags(["wilton", "litellm", "phi"])
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .time("now-1h", "now")
        .timezone("browser")
        .refresh("30s")
        .timepicker(dash.TimePicker().refresh_intervals(["10s", "30s", "1m", "5m", "15m"]))
        .with_variable(datasource_variable())
        .with_variable(model_group_variable())
        .with_variable(tier_variable())
    )
    for panel in PANELS:
        builder = builder.with_panel(panel())
    return builder


# The SDK writes the interval-variable settings on every variable; Grafana reads them only on
# `interval` variables, and Grafana's own TypeScript schema (@grafana/schema) has no such fields.
_INTERVAL_ONLY = ("auto", "auto_count", "auto_min")


def build() -> dict[str, Any]:
    """The dashboard's JSON model, as plain Python data."""
    result: dict[str, Any] = json.loads(json.dumps(dashboard_builder().build(), cls=JSONEncoder))
    for variable in result.get("templating", {}).get("list", []):
        if variable.get("type") != "interval":
            for key in _INTERVAL_ONLY:
                variable.pop(key, None)
    return result


def render(dashboard: Mapping[str, Any] | None = None) -> str:
    """The committed form: sorted keys, two-space indent, UTF-8, trailing newline."""
    data = build() if dashboard is None else dashboard
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# --- expressions, for tests that run them against a real Prometheus ------------------------------


def _panels(panels: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))  # panels inside (collapsed) rows


def all_expressions(dashboard: Mapping[str, Any]) -> list[str]:
    """Every PromQL expression in the dashboard JSON, template variables left in place.

    Panel targets' ``expr`` first (in panel order), then the query variables' queries (Grafana
    variable queries such as ``label_values(metric, label)``; :func:`substitute` turns them into PromQL).
    """
    found = [
        target["expr"]
        for panel in _panels(dashboard.get("panels", []))
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in dashboard.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, Mapping):
            query = query.get("query")
        if query:
            found.append(query)
    return found


# Grafana's built-in interval/range variables, with values that suit a short test run.
BUILTIN_VALUES: Mapping[str, str] = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__interval_ms": "15000",
    "__range": "5m",
    "__range_s": "300",
    "__range_ms": "300000",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(?P<metric>.+?)\s*,\s*)?(?P<label>\w+)\s*\)\s*$")


def _format(value: str | Sequence[str]) -> str:
    """A value as Grafana formats it for Prometheus: several values become a regex alternation."""
    if isinstance(value, str):
        return value
    values = list(value)
    if len(values) == 1:
        return values[0]
    return "(" + "|".join(re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\1", item) for item in values) + ")"


def substitute(expr: str, values: Mapping[str, str | Sequence[str]] | None = None) -> str:
    """``expr`` with its template variables replaced, ready to send to Prometheus.

    ``values`` maps variable names (without ``$``) to a value or a list of values (a multi-value
    selection, formatted as ``(a|b)``); Grafana's built-ins (``$__rate_interval``, ``$__range``, ...)
    default to :data:`BUILTIN_VALUES`. ``$x``, ``${x}``, ``${x:format}`` and ``[[x]]`` are all
    replaced. A variable query ``label_values(metric, label)``, which is not PromQL, becomes
    ``group by (label) (metric)``: it returns data exactly when Grafana's variable has options.
    Raises ``KeyError`` naming a variable that has no value.
    """
    known: dict[str, str | Sequence[str]] = {**BUILTIN_VALUES, **(values or {})}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        if name not in known:
            raise KeyError(f"no value for template variable ${name} in {expr!r}")
        return _format(known[name])

    result = _VARIABLE.sub(replace, expr)
    label_values = _LABEL_VALUES.match(result)
    if label_values:
        metric = label_values.group("metric") or "{__name__=~\".+\"}"
        result = f"group by ({label_values.group('label')}) ({metric})"
    return result


# --- command line -------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wilton_plugin.observability.dashboard",
        description=f'Write or check the "{TITLE}" Grafana dashboard JSON.',
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the JSON file (default: {DEFAULT_OUT})")
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the file differs from a fresh build",
    )
    args = parser.parse_args(argv)
    fresh = render()
    if args.check:
        try:
            committed = args.out.read_text(encoding="utf-8")
        except FileNotFoundError:
            print(f"{args.out}: missing; run without --check to generate it", file=sys.stderr)
            return 1
        if committed != fresh:
            print(
                f"{args.out}: differs from a fresh build; regenerate with "
                f"`python -m wilton_plugin.observability.dashboard --out {args.out}`",
                file=sys.stderr,
            )
            return 1
        print(f"{args.out}: up to date")
        return 0
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(fresh, encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
