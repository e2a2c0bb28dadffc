"""docs/example-report/ stays what the current code writes: its JSON has the shape of a report built now
(every field, no stale one), and its Markdown is what the current code renders from that JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from sidecars.insight.analysis import TIERS
from sidecars.insight.collect import InsightAdminClient, RangeReader
from sidecars.insight.loop import OK, InsightJob
from sidecars.insight.report import render_markdown

EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "example-report"
NOW = 100_000.0
#: objects keyed by data (deployment, tier, reason, …), not by field name: only their values' shape counts
DATA_KEYED = {"facts.deployments", "facts.tiers", "facts.difficulty", "facts.decisions_by_reason",
              "facts.coherence_corrections"}


def shape(value: Any, path: str = "") -> Any:
    """The field names of a JSON value, recursively: a list of objects by its first item, a data-keyed object by
    one value; any other list is ``[]`` and any other value ``None``."""
    if isinstance(value, dict):
        if path in DATA_KEYED:
            return {"*": shape(next(iter(value.values())), path + ".*")} if value else {}
        return {key: shape(item, f"{path}.{key}" if path else key) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0], path + "[]")] if value and isinstance(value[0], dict) else []
    return None


def _handler(request: httpx.Request) -> httpx.Response:
    """Prometheus (one series with every label, for any query), the proxy's admin API and the LLM."""
    path = request.url.path
    if path == "/api/v1/query_range":
        start, end = float(request.url.params["start"]), float(request.url.params["end"])
        labels = {"deployment": "edge-1", "tier": "edge", "status": "success", "direction": "input",
                  "reason": "balance", "le": "+Inf", "kind": "bias"}
        values = [[start, "0.5"], [(start + end) / 2, "0.6"], [end, "0.7"]]
        return httpx.Response(200, json={"status": "success", "data": {"resultType": "matrix",
                                                                      "result": [{"metric": labels, "values": values}]}})
    if path == "/wilton/token":
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 300})
    if path == "/wilton/decisions":
        decisions = ([{"tier": "edge", "team_id": "far", "status": "success", "difficulty": 0.2}] * 10
                     + [{"tier": "frontier", "team_id": "unknown", "status": "success", "difficulty": 0.7}] * 10)
        return httpx.Response(200, json={"decisions": decisions})
    if path == "/wilton/status":
        return httpx.Response(200, json={"phi_target": 0.75, "team_targets": {"far": 0.1}})
    if path == "/v1/chat/completions":
        advice = {"recommendations": [{"change": "c", "why": "w", "expected_effect": "e 30%", "confidence": 0.5}]}
        return httpx.Response(200, json={"choices": [{"message": {"content": json.dumps(advice)}}]})
    return httpx.Response(404)


def _report_now(out: Path) -> dict[str, Any]:
    with httpx.Client(transport=httpx.MockTransport(_handler)) as client:
        job = InsightJob(client=client, reader=RangeReader("http://prometheus", client),
                         admin=InsightAdminClient("http://proxy", "insight", "pw", client), proxy_url="http://proxy",
                         api_key="sk-test", model_group="insight", out=out, hours=1, max_tasks=100, clock=lambda: NOW)
        assert job.run_once() == OK
    return json.loads((out / "latest.json").read_text(encoding="utf-8"))


def _example() -> tuple[Path, dict[str, Any]]:
    (path,) = EXAMPLE.glob("report-*.json")
    return path, json.loads(path.read_text(encoding="utf-8"))


def test_the_example_json_has_every_field_a_report_has_now_and_no_other(tmp_path):
    now = _report_now(tmp_path)
    facts = now["facts"]
    assert facts["teams_far_from_target"] and facts["teams_target_unknown"] and now["llm"]["recommendations"]
    assert facts["deployments"] and facts["worst_hours"] and facts["coherence_corrections"] is not None
    _path, example = _example()
    # fields the example run had no data for (no team traffic, the coherence sidecar not scraped) keep an
    # empty list or null: compare those as the example has them
    for empty in ("teams_far_from_target", "teams_target_unknown", "coherence_corrections"):
        facts[empty] = example["facts"][empty]
    assert shape(example) == shape(now)


def test_the_example_markdown_is_what_the_current_code_renders_from_its_json():
    path, example = _example()
    report = {key: value for key, value in example.items() if key != "phi_history"}
    facts = report["facts"]
    # the JSON is written with sorted keys; the analysis builds tiers and sides in this order
    facts["tiers"] = {tier: facts["tiers"][tier] for tier in sorted(facts["tiers"], key=lambda t: (
        TIERS.index(t) if t in TIERS else len(TIERS), t))}
    facts["difficulty"] = {side: facts["difficulty"][side] for side in ("local", "frontier")}
    assert render_markdown(report) == path.with_suffix(".md").read_text(encoding="utf-8")
    for chart in report["charts"].values():
        assert (EXAMPLE / chart).read_bytes().startswith(b"\x89PNG")
