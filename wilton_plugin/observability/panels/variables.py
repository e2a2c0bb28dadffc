"""The dashboard's template variables: ``$datasource``, ``$model_group`` and ``$tier``."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import dashboard as model

from wilton_plugin.observability.panels.blocks import DATASOURCE


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
