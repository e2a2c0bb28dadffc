"""Write a run's report: Markdown, its JSON twin, ``latest`` copies and the PNG charts."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sidecars.common.redact import redact_urls

from sidecars.insight import charts

NO_DATA = "—"


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return NO_DATA
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e-3 and value else f"{round(value, digits)}"
    return str(value)


def _write(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def render_markdown(report: dict[str, Any]) -> str:
    """The Markdown report."""
    f = report["facts"]
    phi = f["phi"]
    lines = [f"# Wilton insight report — {report['generated_at']}", ""]
    lines += [f"History: {f['window'].get('hours')} h (step {f['window'].get('step', NO_DATA)} s); "
              f"decisions analysed: {f['decisions_analysed']}; model group asked: `{report['llm']['model_group']}`.", ""]
    if f["notes"]:
        lines += ["## Notes", ""] + [f"- **{note}**" for note in f["notes"]] + [""]
    lines += ["## φ against the target", "",
              "| observed φ | target | deviation | band | time outside band | share of time outside | history min / max |",
              "| --- | --- | --- | --- | --- | --- | --- |",
              f"| {_fmt(phi['observed'])} | {_fmt(phi['target'])} | {_fmt(phi['deviation'])} | ±{phi['band']} | "
              f"{phi['time_outside_band_s']} s | {_fmt(phi['share_of_time_outside_band'])} | "
              f"{_fmt(phi['history_min'])} / {_fmt(phi['history_max'])} |", ""]
    if f["worst_hours"]:
        lines += ["Worst hours (mean |φ − target|): " + ", ".join(
            f"{h['hour']} ({_fmt(h['mean_abs_deviation'])}, φ {_fmt(h['mean_phi'])})" for h in f["worst_hours"]), ""]
    lines += ["![φ history](" + report["charts"]["phi"] + ")", ""]
    r = f["requests"]
    lines += ["## Requests, tokens and cost per tier", "",
              f"Served: {r['served']} ({r['local']} local, {r['frontier']} frontier); failed attempts: {r['failed_attempts']}; "
              f"spill-overs: {f['spills']}.", "",
              "| tier | requests | failures | input tokens | output tokens | cost (USD) | cost per 1000 requests (USD) |",
              "| --- | --- | --- | --- | --- | --- | --- |"]
    for tier, t in f["tiers"].items():
        lines.append(f"| {tier} | {t['requests']} | {t['failures']} | {t['input_tokens']} | {t['output_tokens']} | "
                     f"{_fmt(t['cost_usd'], 6)} | {_fmt(t['cost_per_1000_requests_usd'], 6)} |")
    lines += ["", "![tokens per tier](" + report["charts"]["tokens"] + ")", ""]
    lines += ["## Deployments", "", "| deployment | tier | requests | failures | error rate | p50 (s) | p95 (s) | cost (USD) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, d in sorted(f["deployments"].items()):
        lines.append(f"| {name} | {d['tier']} | {d['requests']} | {d['failures']} | {_fmt(d['error_rate'])} | "
                     f"{_fmt(d['latency_p50_s'])} | {_fmt(d['latency_p95_s'])} | {_fmt(d['cost_usd'], 6)} |")
    lines += ["", f"Slow deployments: {', '.join(f['slow_deployments']) or 'none'}. "
              f"Failing deployments: {', '.join(f['failing_deployments']) or 'none'}.", "",
              "![latency per deployment](" + report["charts"]["latency"] + ")", ""]
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(f["decisions_by_reason"].items())) or NO_DATA
    corrections = f["coherence_corrections"]
    lines += ["## Routing", "", f"Decisions by reason: {reasons}.", "",
              "Coherence sidecar corrections: " + (
                  ", ".join(f"{k} {v}" for k, v in sorted(corrections.items())) if corrections is not None
                  else "no data (the coherence sidecar is not scraped)") + ".", ""]
    teams = f["teams_far_from_target"]
    lines += ["Teams far from their target: " + (", ".join(
        f"{t['team']} (local share {t['local_share']} vs {t['target']}, {t['requests']} requests)" for t in teams) or "none") + ".", ""]
    if f["teams_target_unknown"]:
        lines += ["Teams not judged, target unknown (not in /wilton/status's team targets, e.g. set by key or team "
                  "metadata; never compared with the global target): " + ", ".join(
                      f"{t['team']} (local share {t['local_share']}, {t['requests']} requests)"
                      for t in f["teams_target_unknown"]) + ".", ""]
    lines += ["| difficulty | n | mean | p10 | p50 | p90 |", "| --- | --- | --- | --- | --- | --- |"]
    for side, d in f["difficulty"].items():
        lines.append(f"| {side} | {d['n']} | {_fmt(d['mean'])} | {_fmt(d['p10'])} | {_fmt(d['p50'])} | {_fmt(d['p90'])} |")
    lines += ["", "## Recommendations", ""]
    llm = report["llm"]
    if llm["recommendations"]:
        for i, rec in enumerate(llm["recommendations"], 1):
            lines += [f"{i}. **{rec['change']}** (confidence {rec['confidence']:.2f})",
                      f"   - why: {rec['why']}", f"   - expected effect: {rec['expected_effect']}"]
            if rec["unverified_numbers"]:
                lines.append(f"   - ⚠ numbers not among the facts: {', '.join(rec['unverified_numbers'])}")
        lines += ["", f"_From the LLM (model group `{llm['model_group']}`, through the proxy); numbers it gives that are "
                  "not among the computed facts are flagged ⚠._"]
    else:
        lines.append(f"No recommendations: {llm['why_none']}.")
    return "\n".join(lines) + "\n"


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Belt and braces: no secret (password, API key, a URL's credentials) ever reaches a report."""
    text = redact_urls(text)
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def write_report(out: Path, stamp: str, report: dict[str, Any], collected: dict[str, Any],
                 secrets: Iterable[str] = ()) -> dict[str, Path]:
    """Write ``report-<stamp>.md/.json``, the charts and the ``latest`` copies; the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    secrets = tuple(secrets)
    base = f"report-{stamp}"
    facts = report["facts"]
    report["charts"] = {"phi": f"{base}-phi.png", "tokens": f"{base}-tokens.png", "latency": f"{base}-latency.png"}
    paths = {
        "phi": charts.phi_chart(collected, facts, out / report["charts"]["phi"]),
        "tokens": charts.tokens_chart(facts, out / report["charts"]["tokens"]),
        "latency": charts.latency_chart(facts, out / report["charts"]["latency"]),
    }
    markdown = scrub(render_markdown(report), secrets)
    data = scrub(json.dumps({**report, "phi_history": collected.get("phi_history") or []}, indent=2,
                            ensure_ascii=False, sort_keys=True), secrets)
    paths["md"], paths["json"] = out / f"{base}.md", out / f"{base}.json"
    _write(paths["md"], markdown)
    _write(paths["json"], data + "\n")
    for suffix in ("md", "json"):
        shutil.copyfile(paths[suffix], out / f".latest.{suffix}.tmp")
        os.replace(out / f".latest.{suffix}.tmp", out / f"latest.{suffix}")
    return paths
