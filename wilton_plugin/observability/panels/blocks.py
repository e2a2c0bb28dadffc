"""What every panel of the dashboard shares: its data source, label filters and SDK shorthands.

The constants are PromQL fragments driven by the dashboard's template variables; the functions
are short forms of ``grafana_foundation_sdk`` builders, so that a panel reads as its queries and
its few settings of its own.
"""

from __future__ import annotations

from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

BAND = 0.05  # φ's band around its target, as the alert rules hold it: ± 5 percentage points
LOCAL_TIERS_RE = "selfhost|edge"

DATASOURCE = model.DataSourceRef(type_val="prometheus", uid="${datasource}")
MODEL_GROUP = 'model_group=~"$model_group"'  # label filters driven by the template variables
TIER = 'tier=~"$tier"'
TARGET = "max(wilton_phi_target)"


def query(expr: str, legend: str, ref_id: str, *, instant: bool = False) -> prometheus.Dataquery:
    """A Prometheus query on ``$datasource``: a range query, or an instant one."""
    dataquery = prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref_id).datasource(DATASOURCE)
    return dataquery.instant() if instant else dataquery.range()


def thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    """Absolute thresholds from ``(value, colour)`` steps, the first with value ``None``."""
    return (
        dash.ThresholdsConfig()
        .mode(model.ThresholdsMode.ABSOLUTE)
        .steps([model.Threshold(value=value, color=color) for value, color in steps])
    )


def fixed_color(color: str) -> model.DynamicConfigValue:
    """A field override: one fixed colour."""
    return model.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})


def line_style(fill: str, dash_pattern: list[int]) -> model.DynamicConfigValue:
    """A field override: the line style (``dash``, ``dot``) and its dash pattern."""
    return model.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": fill, "dash": dash_pattern})


def custom(key: str, value: object) -> model.DynamicConfigValue:
    """A field override of one ``custom.*`` (visualisation-specific) setting."""
    return model.DynamicConfigValue(id_val=f"custom.{key}", value=value)


def legend(mode: common.LegendDisplayMode, placement: common.LegendPlacement) -> common_builders.VizLegendOptions:
    """A visible legend in the given display mode and placement."""
    return common_builders.VizLegendOptions().show_legend(True).display_mode(mode).placement(placement)


def tooltip(mode: common.TooltipDisplayMode, sort: common.SortOrder) -> common_builders.VizTooltipOptions:
    """A tooltip in the given mode and series order."""
    return common_builders.VizTooltipOptions().mode(mode).sort(sort)


def last_value() -> common_builders.ReduceDataOptions:
    """Reduce each series to its last non-null value."""
    return common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


Panel = TypeVar("Panel", timeseries.Panel, stat.Panel)


def _titled(panel: Panel, panel_id: int, title: str, description: str, grid: model.GridPos, unit: str) -> Panel:
    """What every panel of this dashboard sets: id, ``$datasource``, title, description, place, unit."""
    return panel.id(panel_id).datasource(DATASOURCE).title(title).description(description).grid_pos(grid).unit(unit)


def timeseries_panel(panel_id: int, title: str, description: str, grid: model.GridPos, unit: str) -> timeseries.Panel:
    """A time series panel on ``$datasource`` starting at zero, palette colours, legend below."""
    return (
        _titled(timeseries.Panel(), panel_id, title, description, grid, unit)
        .min(0)
        .thresholds(thresholds((None, "green")))
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.PALETTE_CLASSIC))
        .legend(legend(common.LegendDisplayMode.LIST, common.LegendPlacement.BOTTOM))
    )


def stat_panel(panel_id: int, title: str, description: str, grid: model.GridPos, unit: str) -> stat.Panel:
    """A stat panel on ``$datasource`` showing each series' last value with its name."""
    return (
        _titled(stat.Panel(), panel_id, title, description, grid, unit)
        .color_mode(common.BigValueColorMode.VALUE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
        .reduce_options(last_value())
    )


def stacked_bars(panel: timeseries.Panel) -> timeseries.Panel:
    """``panel`` drawn as bars, stacked normally, 80% opaque."""
    return (
        panel.draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    )


def rate_by_bars(panel_id: int, title: str, description: str, grid: model.GridPos, counter: str, label: str) -> timeseries.Panel:
    """Stacked bars of ``counter``'s per-second rate summed by ``label``, one series per value."""
    expr = f"sum by ({label}) (rate({counter}[$__rate_interval]))"
    return stacked_bars(timeseries_panel(panel_id, title, description, grid, "ops").with_target(
        query(expr, "{{" + label + "}}", "A")))
