"""The PromQL in a dashboard's JSON model, for tests that run it against a real Prometheus.

:func:`all_expressions` lists every expression (panel targets, then query variables) and
:func:`substitute` fills in the template variables, Grafana's built-ins included.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


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
