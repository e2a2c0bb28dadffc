"""The "WiltonOS Quantum Balance" dashboard: generated, committed, and valid by Grafana's own schema.

- the committed JSON is exactly what ``build()`` produces (dashboards are code);
- its structure: uid, title, template variables, the panels by title, every query on the
  ``$datasource`` variable, sensible units, a description on every panel;
- its PromQL: only metric names Wilton exports, every expression parses (``promtool``, when there);
- Grafana's TypeScript schema (``@grafana/schema``) accepts it (``tsc`` in grafana/schema-check),
  and rejects a copy with a field of the wrong type or a field the schema does not have.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sidecars.coherence.metrics import CoherenceMetrics
from wilton_plugin.metrics import plugin_series_names, series_names

from wilton_plugin.observability import dashboard

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "grafana" / "dashboards" / "wilton-quantum-balance.json"
SCHEMA_CHECK = ROOT / "grafana" / "schema-check"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

PANEL_TITLES = [
    "φ now vs target",
    "φ history and target band",
    "Token distribution per tier",
    "Frontier cost (USD)",
    "Plugin errors by stage",
    "Request latency per deployment (mean, p95)",
    "Time to first token per deployment (p95, streaming)",
    "Routing decisions by reason",
    "Coherence sidecar corrections",
    "Coherence sidecar: observed φ and data age",
]

# Every metric the dashboard may query: the proxy's (wilton_plugin/metrics.py) and the coherence
# sidecar's. A misspelt name in a query fails test_queries_use_only_known_metrics.
KNOWN_METRICS = (
    plugin_series_names()
    | series_names(CoherenceMetrics().registry)
)


@pytest.fixture(scope="module")
def committed() -> dict[str, Any]:
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def _panels(model: dict[str, Any]) -> list[dict[str, Any]]:
    return model["panels"]


def _by_title(model: dict[str, Any], title: str) -> dict[str, Any]:
    return next(panel for panel in model["panels"] if panel["title"] == title)


# --- (a) the committed JSON is the generated one --------------------------------------------------


def test_committed_json_is_a_fresh_build() -> None:
    text = COMMITTED.read_text(encoding="utf-8")
    assert text == dashboard.render(), (
        "grafana/dashboards/wilton-quantum-balance.json is stale: regenerate it with "
        "`python -m wilton_plugin.observability.dashboard --out grafana/dashboards/wilton-quantum-balance.json`"
    )
    assert json.loads(text) == dashboard.build()
    assert text.endswith("}\n")


def test_check_flag_passes_on_the_committed_file_and_fails_on_a_stale_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert dashboard.main(["--check", "--out", str(COMMITTED)]) == 0
    stale = tmp_path / "stale.json"
    stale.write_text(COMMITTED.read_text(encoding="utf-8").replace("WiltonOS", "WiltonOS (edited)"), encoding="utf-8")
    assert dashboard.main(["--check", "--out", str(stale)]) == 1
    assert dashboard.main(["--check", "--out", str(tmp_path / "missing.json")]) == 1
    written = tmp_path / "out" / "dash.json"
    assert dashboard.main(["--out", str(written)]) == 0
    assert written.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")
    assert "differs from a fresh build" in capsys.readouterr().err


# --- (b) structure --------------------------------------------------------------------------------


def test_identity(committed: dict[str, Any]) -> None:
    assert committed["uid"] == "wilton-quantum-balance"
    assert committed["title"] == "WiltonOS Quantum Balance"
    assert isinstance(committed["schemaVersion"], int)


def test_template_variables(committed: dict[str, Any]) -> None:
    variables = {variable["name"]: variable for variable in committed["templating"]["list"]}
    assert list(variables) == ["datasource", "model_group", "tier"]
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name in ("model_group", "tier"):
        variable = variables[name]
        assert variable["type"] == "query"
        assert variable["query"] == f"label_values(wilton_requests_total, {name})"
        assert variable["datasource"] == DATASOURCE
        assert variable["multi"] is True
        assert variable["includeAll"] is True


def test_panels_by_title(committed: dict[str, Any]) -> None:
    assert [panel["title"] for panel in _panels(committed)] == PANEL_TITLES
    ids = [panel["id"] for panel in _panels(committed)]
    assert len(set(ids)) == len(ids)


def test_every_panel_has_a_description_and_targets_on_the_datasource_variable(committed: dict[str, Any]) -> None:
    for panel in _panels(committed):
        assert panel.get("description", "").strip(), panel["title"]
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel.get("targets"), f"{panel['title']}: no targets"
        ref_ids = [target["refId"] for target in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, (panel["title"], target["refId"])
            assert target["expr"].strip(), (panel["title"], target["refId"])


def test_panels_fit_the_grid_without_overlapping(committed: dict[str, Any]) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in _panels(committed):
        pos = panel["gridPos"]
        assert 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not cells & taken, f"{panel['title']} overlaps another panel"
        taken |= cells


def test_units(committed: dict[str, Any]) -> None:
    def unit(title: str) -> str:
        return _by_title(committed, title)["fieldConfig"]["defaults"]["unit"]

    assert unit("φ now vs target") == "percentunit"
    assert unit("φ history and target band") == "percentunit"
    assert unit("Request latency per deployment (mean, p95)") == "s"
    assert unit("Time to first token per deployment (p95, streaming)") == "s"
    assert unit("Frontier cost (USD)") == "currencyUSD"


def test_phi_now_thresholds_are_the_band(committed: dict[str, Any]) -> None:
    steps = _by_title(committed, "φ now vs target")["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert [step["value"] for step in steps] == [None, -0.05, 0.05]
    assert [step["color"] for step in steps] == ["red", "green", "red"]


def test_phi_history_has_phi_target_and_band(committed: dict[str, Any]) -> None:
    exprs = [target["expr"] for target in _by_title(committed, "φ history and target band")["targets"]]
    assert 'model_group=~"$model_group"' in exprs[0] and "wilton_requests_total" in exprs[0]
    assert exprs[1:4] == ["max(wilton_phi_target)", "max(wilton_phi_target) + 0.05", "max(wilton_phi_target) - 0.05"]


def test_phi_panels_show_phi_by_tokens_too(committed: dict[str, Any]) -> None:
    """With phi_unit tokens the balancer holds the token share: both φ panels show it (filtered by model
    group, local tiers over all) beside the request φ, and the stat its deviation from the target."""
    tokens = 'sum(rate(wilton_tokens_total{tier=~"selfhost|edge", model_group=~"$model_group"}[5m]))'
    for title in ("φ now vs target", "φ history and target band"):
        panel = _by_title(committed, title)
        by_legend = {target["legendFormat"]: target["expr"] for target in panel["targets"]}
        assert by_legend["φ tokens (5m)"].startswith(tokens), title
        assert by_legend["φ tokens (5m)"].endswith(' / sum(rate(wilton_tokens_total{model_group=~"$model_group"}[5m]))')
        assert "phi_unit" in panel["description"], title
    now = {t["legendFormat"]: t["expr"] for t in _by_title(committed, "φ now vs target")["targets"]}
    assert now["φ tokens − target"] == f"{now['φ tokens (5m)']} - scalar(max(wilton_phi_target))"


def test_latency_is_a_quantile_over_buckets_by_deployment_filtered_by_tier(committed: dict[str, Any]) -> None:
    panel = _by_title(committed, "Request latency per deployment (mean, p95)")
    p95, mean = (target["expr"] for target in panel["targets"])
    assert p95.startswith("histogram_quantile(0.95, sum by (le, deployment) (rate(wilton_request_latency_seconds_bucket")
    assert 'tier=~"$tier"' in p95 and 'tier=~"$tier"' in mean
    assert "_sum" in mean and "_count" in mean


# --- PromQL ---------------------------------------------------------------------------------------


def test_all_expressions_lists_targets_then_variable_queries(committed: dict[str, Any]) -> None:
    exprs = dashboard.all_expressions(committed)
    targets = [target["expr"] for panel in _panels(committed) for target in panel["targets"]]
    assert exprs == [
        *targets,
        "label_values(wilton_requests_total, model_group)",
        "label_values(wilton_requests_total, tier)",
    ]
    assert any("$model_group" in expr for expr in exprs)  # variables left in place
    assert any("$__rate_interval" in expr for expr in exprs)


def test_queries_use_only_known_metrics(committed: dict[str, Any]) -> None:
    used = set()
    for expr in dashboard.all_expressions(committed):
        used |= set(re.findall(r"\bwilton_[a-z0-9_]+", expr))
    assert used <= KNOWN_METRICS, f"unknown metric names: {sorted(used - KNOWN_METRICS)}"
    proxy_metrics = KNOWN_METRICS - set(dashboard.SIDECAR_METRICS)
    assert {"wilton_requests_total", "wilton_tokens_total", "wilton_cost_usd_total"} <= used
    assert used & set(dashboard.SIDECAR_METRICS) and used & proxy_metrics


def test_substitute() -> None:
    values = {"model_group": "chat", "tier": ["selfhost", "edge"]}
    sub = dashboard.substitute
    assert sub('x{model_group=~"$model_group"}[$__rate_interval]', values) == 'x{model_group=~"chat"}[1m]'
    assert sub('x{tier=~"${tier}"}', values) == 'x{tier=~"(selfhost|edge)"}'
    assert sub('x{tier=~"${tier:regex}"}', values) == 'x{tier=~"(selfhost|edge)"}'
    assert sub('x{tier=~"[[tier]]"}', values) == 'x{tier=~"(selfhost|edge)"}'
    assert sub("increase(x[$__range]) / $__range_s", {}) == "increase(x[5m]) / 300"
    assert sub("rate(x[$__rate_interval])", {"__rate_interval": "30s"}) == "rate(x[30s])"
    assert sub("label_values(wilton_requests_total, tier)") == "group by (tier) (wilton_requests_total)"
    with pytest.raises(KeyError, match=r"\$nope"):
        sub('x{a="$nope"}')


def test_every_expression_substitutes_to_promql_that_parses(committed: dict[str, Any], tmp_path: Path) -> None:
    values = {"model_group": ".*", "tier": ".*", "datasource": "prometheus"}
    exprs = [dashboard.substitute(expr, values) for expr in dashboard.all_expressions(committed)]
    for expr in exprs:
        assert "$" not in expr and "[[" not in expr, expr
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not on PATH (Debian package `prometheus`): PromQL syntax not checked")
    # promtool parses the expression of every recording rule: a cheap, offline PromQL syntax check.
    records = [{"record": f"dashboard:expr{i}", "expr": expr} for i, expr in enumerate(exprs)]
    rules = {"groups": [{"name": "dashboard", "rules": records}]}
    path = tmp_path / "dashboard-exprs.rules.json"  # JSON is YAML
    path.write_text(json.dumps(rules), encoding="utf-8")
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


# --- (c, d) Grafana's TypeScript schema -------------------------------------------------------------


def _run(args: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_UPDATE_NOTIFIER": "1", "NPM_CONFIG_UPDATE_NOTIFIER": "false"}
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="session")
def tsc() -> Path:
    """The schema check's TypeScript compiler, after `npm ci` if node_modules is absent."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip("npm is not on PATH: the Grafana schema check (grafana/schema-check) needs Node.js and npm")
    compiler = SCHEMA_CHECK / "node_modules" / ".bin" / "tsc"
    if not compiler.exists():
        result = _run([npm, "ci", "--no-audit", "--no-fund"], SCHEMA_CHECK, timeout=600)
        assert result.returncode == 0, f"npm ci in {SCHEMA_CHECK} failed:\n{result.stdout}\n{result.stderr}"
    assert compiler.exists()
    return compiler


def test_schema_check_passes_on_the_committed_json(tsc: Path) -> None:
    npx = shutil.which("npx") or "npx"
    # `--no`: never fetch a package called "tsc" if the local one is missing; `--`: `-p` is tsc's.
    result = _run([npx, "--no", "--", "tsc", "-p", "."], SCHEMA_CHECK, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def _schema_check_copy(tmp_path: Path, model: dict[str, Any]) -> Path:
    """grafana/schema-check beside a dashboards/ folder holding `model`, as check.ts expects."""
    (tmp_path / "dashboards").mkdir()
    (tmp_path / "dashboards" / COMMITTED.name).write_text(json.dumps(model, indent=2), encoding="utf-8")
    folder = tmp_path / "schema-check"
    folder.mkdir()
    for name in ("check.ts", "tsconfig.json", "package.json"):
        shutil.copy(SCHEMA_CHECK / name, folder / name)
    (folder / "node_modules").symlink_to(SCHEMA_CHECK / "node_modules", target_is_directory=True)
    return folder


def _set_grid_width_to_a_string(model: dict[str, Any]) -> None:
    model["panels"][3]["gridPos"]["w"] = "8"


def _set_panel_title_to_a_number(model: dict[str, Any]) -> None:
    model["panels"][0]["title"] = 5


def _add_an_unknown_panel_field(model: dict[str, Any]) -> None:
    model["panels"][1]["colour"] = "red"


def _add_an_unknown_option(model: dict[str, Any]) -> None:
    model["panels"][1]["options"]["legend"]["colour"] = "red"


def _drop_a_required_field(model: dict[str, Any]) -> None:
    del model["schemaVersion"]


def _set_a_variable_flag_to_a_string(model: dict[str, Any]) -> None:
    model["templating"]["list"][1]["multi"] = "yes"


CORRUPTIONS: list[Callable[[dict[str, Any]], None]] = [
    _set_grid_width_to_a_string,
    _set_panel_title_to_a_number,
    _add_an_unknown_panel_field,
    _add_an_unknown_option,
    _drop_a_required_field,
    _set_a_variable_flag_to_a_string,
]


def test_schema_check_copy_passes_unchanged(tsc: Path, tmp_path: Path, committed: dict[str, Any]) -> None:
    """The control for the cases below: the copied check passes on an unchanged dashboard."""
    result = _run([str(tsc), "-p", str(_schema_check_copy(tmp_path, committed))], tmp_path, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("corrupt", CORRUPTIONS, ids=lambda corrupt: corrupt.__name__.strip("_"))
def test_schema_check_fails_on_a_corrupted_dashboard(
    tsc: Path, tmp_path: Path, committed: dict[str, Any], corrupt: Callable[[dict[str, Any]], None]
) -> None:
    model = copy.deepcopy(committed)
    corrupt(model)
    result = _run([str(tsc), "-p", str(_schema_check_copy(tmp_path, model))], tmp_path, timeout=120)
    assert result.returncode != 0, f"tsc accepted a dashboard after {corrupt.__name__}"
    assert "error TS" in result.stdout, result.stdout + result.stderr
