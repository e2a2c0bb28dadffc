"""Wilton's Prometheus recording and alert rules, as code.

This module is the source of ``prometheus/wilton.rules.yml``: it builds the rule groups as plain
dicts and dumps them with ``yaml.safe_dump``. ``tests/test_rules.py`` rebuilds the file and fails
when the committed copy differs, then runs ``promtool check rules`` and the ``promtool test rules``
unit tests in ``prometheus/tests/``.

    python -m wilton_plugin.observability.rules --out prometheus/wilton.rules.yml \\
        [--phi-band 0.05] [--frontier-budget-usd-per-hour 5] [--for WiltonPhiOutOfBand=10m] [--check]

Recording rules follow the ``level:metric:operations`` convention and read only the raw metrics
(never another recording rule), so each one can be evaluated on its own. Alerts read the recorded
series. φ is always computed from the counters summed over every proxy replica and worker, never
from the per-process ``wilton_phi`` gauge: that sum is what the coherence sidecar reads.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PHI_BAND = 0.05
DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR = 5.0
DEFAULT_OUT = Path("prometheus") / "wilton.rules.yml"

PROXY_JOB = "wilton-proxy"
COHERENCE_JOB = "wilton-coherence"
INSIGHT_JOB = "wilton-insight"
LOCAL_TIERS = ("selfhost", "edge")
FRONTIER_TIER = "frontier"

DEFAULT_FOR_DURATIONS: dict[str, str] = {
    "WiltonPhiOutOfBand": "10m",
    "WiltonFrontierSpendHigh": "15m",
    "WiltonPluginErrors": "5m",
    "WiltonProxyDown": "5m",
    "WiltonSidecarDown": "5m",
    "WiltonCoherenceSidecarAbsent": "10m",
}

# What must be true for a rule's probe expression (see probe_expressions) to return data:
NEEDS_PROXY = "proxy"  # the proxy job is scraped and has served requests on the local and frontier tiers
NEEDS_STREAMING = "streaming"  # ... including streaming requests (time to first token)
NEEDS_COHERENCE = "coherence"  # the coherence sidecar is scraped
NEEDS_SIDECAR_JOBS = "sidecar_jobs"  # Prometheus is configured with the sidecar jobs (up{} exists)
ALL_NEEDS = frozenset({NEEDS_PROXY, NEEDS_STREAMING, NEEDS_COHERENCE, NEEDS_SIDECAR_JOBS})

RECORDING_GROUP = "wilton-recording"
ALERT_GROUP = "wilton-alerts"

_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")
_LOCAL = 'tier=~"' + "|".join(LOCAL_TIERS) + '"'


@dataclass(frozen=True)
class Recording:
    """One recording rule. ``needs`` says what must be running for it to return data."""

    record: str
    expr: str
    needs: str = NEEDS_PROXY


@dataclass(frozen=True)
class Alert:
    """One alert. ``probe`` is the quantity the alert compares, without the threshold: it returns
    data whenever its sources do, which is what an integration test can check."""

    alert: str
    expr: str
    probe: str
    severity: str
    summary: str
    description: str
    needs: str = NEEDS_PROXY


def _num(value: float) -> str:
    """A float as PromQL / prose wants it: 0.05, 5, 2.5 (no float noise)."""
    return format(value, ".10g")


def _rate(selector: str, window: str) -> str:
    return f"rate({selector}[{window}])"


def _share(part: str, whole: str, window: str) -> str:
    """sum(part)/sum(whole) over the window: 0 when only `whole` has traffic, absent (not NaN)
    when there is no traffic at all."""
    return f"(sum({_rate(part, window)}) or vector(0)) / (sum({_rate(whole, window)}) > 0)"


def _p95(histogram: str, by: str) -> str:
    """p95 from a histogram, absent (not NaN) for a series with no observations in 5m."""
    return (
        f"histogram_quantile(0.95, sum by ({by}, le) ({_rate(histogram + '_bucket', '5m')}))"
        f" and on ({by}) (sum by ({by}) ({_rate(histogram + '_count', '5m')}) > 0)"
    )


def _mean(histogram: str, by: str) -> str:
    return (
        f"sum by ({by}) ({_rate(histogram + '_sum', '5m')})"
        f" / (sum by ({by}) ({_rate(histogram + '_count', '5m')}) > 0)"
    )


def recording_rules() -> list[Recording]:
    """Every recording rule, in evaluation order."""
    ok = 'wilton_requests_total{status="success"}'
    ok_local = f'wilton_requests_total{{status="success",{_LOCAL}}}'
    tokens_local = f"wilton_tokens_total{{{_LOCAL}}}"
    frontier_cost = f'wilton_cost_usd_total{{tier="{FRONTIER_TIER}"}}'
    by_deployment = "deployment, tier"
    return [
        # φ: successful local requests / all successful requests, every replica summed.
        Recording("wilton:phi:ratio_rate5m", _share(ok_local, ok, "5m")),
        Recording("wilton:phi:ratio_rate1h", _share(ok_local, ok, "1h")),
        Recording("wilton:phi_tokens:ratio_rate5m", _share(tokens_local, "wilton_tokens_total", "5m")),
        Recording("wilton:phi_target:max", "max(wilton_phi_target)"),
        Recording(
            "wilton:requests:rate5m",
            f"sum by (model_group, tier, status) ({_rate('wilton_requests_total', '5m')})",
        ),
        Recording(
            "wilton:tokens:rate5m",
            f"sum by (model_group, tier, direction) ({_rate('wilton_tokens_total', '5m')})",
        ),
        Recording(
            "wilton:tokens:share_rate5m",
            f"sum by (tier) ({_rate('wilton_tokens_total', '5m')})"
            f" / ignoring (tier) group_left () (sum({_rate('wilton_tokens_total', '5m')}) > 0)",
        ),
        Recording(
            "wilton:request_latency_seconds:p95_rate5m", _p95("wilton_request_latency_seconds", by_deployment)
        ),
        Recording(
            "wilton:request_latency_seconds:mean_rate5m", _mean("wilton_request_latency_seconds", by_deployment)
        ),
        Recording(
            "wilton:time_to_first_token_seconds:p95_rate5m",
            _p95("wilton_time_to_first_token_seconds", by_deployment),
            NEEDS_STREAMING,
        ),
        Recording(
            "wilton:time_to_first_token_seconds:mean_rate5m",
            _mean("wilton_time_to_first_token_seconds", by_deployment),
            NEEDS_STREAMING,
        ),
        # USD per hour (the per-second rate over 1h, times 3600), every replica summed.
        Recording(
            "wilton:frontier_spend_usd:rate1h",
            f"sum({_rate(frontier_cost, '1h')}) * 3600",
        ),
        Recording(
            "wilton:routing_decisions:rate5m",
            f"sum by (tier, reason) ({_rate('wilton_routing_decisions_total', '5m')})",
        ),
        Recording(
            "wilton:plugin_errors:rate5m", f"sum by (stage) ({_rate('wilton_plugin_errors_total', '5m')})"
        ),
        Recording(
            "wilton:coherence_corrections:rate5m",
            f"sum by (kind) ({_rate('wilton_coherence_corrections_total', '5m')})",
            NEEDS_COHERENCE,
        ),
    ]


def alert_rules(phi_band: float, frontier_budget_usd_per_hour: float) -> list[Alert]:
    """Every alert (without its ``for``, which comes from the for_durations)."""
    band = _num(phi_band)
    band_pp = _num(phi_band * 100)
    budget = _num(frontier_budget_usd_per_hour)
    deviation = "wilton:phi:ratio_rate5m - on () wilton:phi_target:max"
    target = '{{ with query "wilton:phi_target:max" }}{{ . | first | value | humanizePercentage }}{{ end }}'
    return [
        Alert(
            "WiltonPhiOutOfBand",
            expr=f"wilton:phi:ratio_rate5m and on () (abs({deviation}) > {band})",
            probe=deviation,
            severity="critical",
            summary=f"φ is {{{{ $value | humanizePercentage }}}}, outside its target ± {band_pp} pp",
            description=(
                "The local share of successful requests over 5m, summed over every proxy replica, is"
                f" {{{{ $value | humanizePercentage }}}}; the target is {target} ± {band_pp} pp."
                " The balancer is not holding the split (upstream outage, spill-over, or a stale"
                " target): check wilton_routing_decisions_total by reason."
            ),
        ),
        Alert(
            "WiltonFrontierSpendHigh",
            expr=f"wilton:frontier_spend_usd:rate1h > {budget}",
            probe="wilton:frontier_spend_usd:rate1h",
            severity="critical",
            summary=(
                f'Frontier spend is {{{{ $value | printf "%.2f" }}}} USD/h, above the {budget} USD/h budget'
            ),
            description=(
                "Spend on the frontier tier over the last hour, summed over every proxy replica, runs"
                f' at {{{{ $value | printf "%.2f" }}}} USD/h; the budget is {budget} USD/h.'
                " Check φ and the spill and fallback routing reasons."
            ),
        ),
        Alert(
            "WiltonPluginErrors",
            expr="wilton:plugin_errors:rate5m > 0",
            probe="wilton:plugin_errors:rate5m",
            severity="warning",
            summary="Wilton caught errors in stage {{ $labels.stage }}",
            description=(
                "The plugin caught {{ $value | humanize }} errors/s in stage {{ $labels.stage }}"
                " over 5m (all replicas). Those requests were routed as LiteLLM would have routed"
                " them, so φ is not being held: read the proxy log."
            ),
        ),
        Alert(
            "WiltonProxyDown",
            expr=f'up{{job="{PROXY_JOB}"}} == 0',
            probe=f'up{{job="{PROXY_JOB}"}}',
            severity="critical",
            summary="Wilton proxy {{ $labels.instance }} is down",
            description=(
                "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}"
                " (up = {{ $value }}): the proxy or its metrics port is down."
            ),
        ),
        Alert(
            "WiltonSidecarDown",
            expr=f'up{{job=~"{COHERENCE_JOB}|{INSIGHT_JOB}"}} == 0',
            probe=f'up{{job=~"{COHERENCE_JOB}|{INSIGHT_JOB}"}}',
            severity="warning",
            summary="Wilton sidecar {{ $labels.job }} at {{ $labels.instance }} is down",
            description=(
                "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}"
                " (up = {{ $value }}). The proxy keeps routing, but the sidecar's work (coherence corrections,"
                " insight reports) stops until it is back."
            ),
            needs=NEEDS_SIDECAR_JOBS,
        ),
        Alert(
            "WiltonCoherenceSidecarAbsent",
            expr=f'absent(up{{job="{COHERENCE_JOB}"}})',
            probe=f'up{{job="{COHERENCE_JOB}"}}',
            severity="warning",
            summary=f"No {COHERENCE_JOB} target is scraped",
            description=(
                f'Prometheus has no up{{job="{COHERENCE_JOB}"}} series (absent = {{{{ $value }}}}):'
                " the scrape config lost the coherence sidecar's job, so its corrections and"
                " its down alert are invisible."
            ),
            needs=NEEDS_SIDECAR_JOBS,
        ),
    ]


def _for_durations(overrides: Mapping[str, str] | None) -> dict[str, str]:
    durations = dict(DEFAULT_FOR_DURATIONS)
    for name, duration in (overrides or {}).items():
        if name not in durations:
            raise ValueError(f"unknown alert {name!r}; known: {', '.join(durations)}")
        if not _DURATION.match(duration):
            raise ValueError(f"{name}: {duration!r} is not a Prometheus duration (e.g. 10m, 1h30m)")
        durations[name] = duration
    return durations


def _check_parameters(phi_band: float, frontier_budget_usd_per_hour: float) -> None:
    if not 0 < phi_band < 1:
        raise ValueError(f"phi_band must be in (0, 1), got {phi_band}")
    if not frontier_budget_usd_per_hour > 0:
        raise ValueError(f"frontier_budget_usd_per_hour must be > 0, got {frontier_budget_usd_per_hour}")


def build(
    phi_band: float = DEFAULT_PHI_BAND,
    frontier_budget_usd_per_hour: float = DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR,
    for_durations: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The rules file as a dict (Prometheus's ``groups:`` format)."""
    _check_parameters(phi_band, frontier_budget_usd_per_hour)
    durations = _for_durations(for_durations)
    recordings = [{"record": r.record, "expr": r.expr} for r in recording_rules()]
    alerts = [
        {
            "alert": a.alert,
            "expr": a.expr,
            "for": durations[a.alert],
            "labels": {"severity": a.severity},
            "annotations": {"summary": a.summary, "description": a.description},
        }
        for a in alert_rules(phi_band, frontier_budget_usd_per_hour)
    ]
    return {
        "groups": [
            {"name": RECORDING_GROUP, "rules": recordings},
            {"name": ALERT_GROUP, "rules": alerts},
        ]
    }


def render(
    phi_band: float = DEFAULT_PHI_BAND,
    frontier_budget_usd_per_hour: float = DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR,
    for_durations: Mapping[str, str] | None = None,
) -> str:
    """The rules file's text: a header saying where it comes from, then the YAML."""
    document = build(phi_band, frontier_budget_usd_per_hour, for_durations)
    header = (
        "# Generated by wilton_plugin/observability/rules.py; do not edit by hand.\n"
        f"# Parameters: phi_band={_num(phi_band)}"
        f" frontier_budget_usd_per_hour={_num(frontier_budget_usd_per_hour)}.\n"
        "# Regenerate: python -m wilton_plugin.observability.rules --out prometheus/wilton.rules.yml\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1_000_000)


def all_expressions(
    phi_band: float = DEFAULT_PHI_BAND,
    frontier_budget_usd_per_hour: float = DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR,
) -> list[str]:
    """Every PromQL expression in the rules file, recording rules first, as written there."""
    document = build(phi_band, frontier_budget_usd_per_hour)
    return [rule["expr"] for group in document["groups"] for rule in group["rules"]]


def _inline_recordings(expr: str, recordings: Sequence[Recording]) -> str:
    for rule in sorted(recordings, key=lambda r: len(r.record), reverse=True):
        pattern = r"(?<![\w:])" + re.escape(rule.record) + r"(?![\w:])"
        expr = re.sub(pattern, lambda _match, rule=rule: f"({rule.expr})", expr)
    return expr


def probe_expressions(available: Iterable[str] = (NEEDS_PROXY,)) -> dict[str, str]:
    """For each rule whose needs are in ``available``, an expression that must return data.

    Recording rules give their own expression; alerts give the quantity they compare, without the
    threshold (an alert's own expression is empty while all is well). Recorded series are inlined,
    so every probe reads only raw metrics and works on a Prometheus that has not loaded the rules:
    a misspelt metric name makes its probe return nothing.
    """
    wanted = set(available)
    unknown = wanted - ALL_NEEDS
    if unknown:
        raise ValueError(f"unknown needs {sorted(unknown)}; known: {sorted(ALL_NEEDS)}")
    recordings = recording_rules()
    probes = {r.record: r.expr for r in recordings if r.needs in wanted}
    for a in alert_rules(DEFAULT_PHI_BAND, DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR):
        if a.needs in wanted:
            probes[a.alert] = _inline_recordings(a.probe, recordings)
    return probes


def _parse_for(values: Sequence[str]) -> dict[str, str]:
    durations = {}
    for value in values:
        name, sep, duration = value.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--for wants ALERT=DURATION, got {value!r}")
        durations[name.strip()] = duration.strip()
    return durations


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m wilton_plugin.observability.rules",
        description="Write (or --check) Wilton's Prometheus recording and alert rules.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"rules file (default {DEFAULT_OUT})")
    parser.add_argument(
        "--phi-band", type=float, default=DEFAULT_PHI_BAND, help="allowed |φ - target| (default 0.05 = ±5 pp)"
    )
    parser.add_argument(
        "--frontier-budget-usd-per-hour",
        type=float,
        default=DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR,
        help="frontier spend rate above which WiltonFrontierSpendHigh fires (default 5)",
    )
    parser.add_argument(
        "--for",
        dest="for_durations",
        action="append",
        default=[],
        metavar="ALERT=DURATION",
        help="override an alert's `for` (repeatable), e.g. WiltonPhiOutOfBand=15m",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)
    try:
        text = render(args.phi_band, args.frontier_budget_usd_per_hour, _parse_for(args.for_durations))
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    out: Path = args.out
    if args.check:
        current = out.read_text(encoding="utf-8") if out.exists() else ""
        if current == text:
            print(f"{out} is up to date")
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True), text.splitlines(keepends=True), str(out), "fresh build"
        )
        sys.stderr.writelines(diff)
        print(f"{out} differs from a fresh build; regenerate it with --out {out}", file=sys.stderr)
        return 1
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
