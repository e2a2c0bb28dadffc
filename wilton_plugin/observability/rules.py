"""Wilton's Prometheus recording and alert rules, as code.

This module is the source of ``prometheus/wilton.rules.yml``: it takes the rules of
:mod:`~wilton_plugin.observability.recording_rules` and :mod:`~wilton_plugin.observability.alert_rules`,
builds the rule groups as plain dicts and dumps them with ``yaml.safe_dump``. ``tests/test_rules.py``
rebuilds the file and fails when the committed copy differs, then runs ``promtool check rules`` and
the ``promtool test rules`` unit tests in ``prometheus/tests/``.

    python -m wilton_plugin.observability.rules --out prometheus/wilton.rules.yml \\
        [--phi-band 0.05] [--frontier-budget-usd-per-hour 5] [--for WiltonPhiOutOfBand=10m] [--check]
    python -m wilton_plugin.observability.rules --phi-unit tokens --out prometheus/wilton.tokens.rules.yml

Recording rules follow the ``level:metric:operations`` convention and read only the raw metrics
(never another recording rule), so each one can be evaluated on its own. Alerts read the recorded
series. φ is always computed from the counters summed over every proxy replica and worker, never
from the per-process ``wilton_phi`` gauge: that sum is what the coherence sidecar reads.
``--phi-unit`` must match the proxy's ``phi_unit``: with ``tokens`` the balancer holds the token share,
and ``WiltonPhiOutOfBand`` compares ``wilton:phi_tokens:ratio_rate5m`` (not the request share) with the
target. Both variants are committed: ``wilton.rules.yml`` (requests) and ``wilton.tokens.rules.yml``.
"""

from __future__ import annotations

import argparse
import difflib
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from wilton_plugin.observability.alert_rules import (
    COHERENCE_JOB,
    DEFAULT_FOR_DURATIONS,
    INSIGHT_JOB,
    PHI_RECORDS,
    Jobs,
    PHI_UNITS,
    PROXY_JOB,
    Alert,
    alert_rules,
    format_number,
)
from wilton_plugin.observability.recording_rules import (
    ALL_NEEDS,
    FRONTIER_TIER,
    LOCAL_TIERS,
    NEEDS_COHERENCE,
    NEEDS_PROXY,
    NEEDS_SIDECAR_JOBS,
    NEEDS_STREAMING,
    Recording,
    recording_rules,
)

__all__ = [
    "ALERT_GROUP",
    "ALL_NEEDS",
    "COHERENCE_JOB",
    "DEFAULT_FOR_DURATIONS",
    "DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR",
    "DEFAULT_OUT",
    "DEFAULT_PHI_BAND",
    "DEFAULT_PHI_UNIT",
    "OUT_BY_UNIT",
    "PHI_RECORDS",
    "PHI_UNITS",
    "FRONTIER_TIER",
    "INSIGHT_JOB",
    "LOCAL_TIERS",
    "NEEDS_COHERENCE",
    "NEEDS_PROXY",
    "NEEDS_SIDECAR_JOBS",
    "NEEDS_STREAMING",
    "PROXY_JOB",
    "RECORDING_GROUP",
    "Alert",
    "Jobs",
    "Recording",
    "alert_rules",
    "all_expressions",
    "build",
    "main",
    "probe_expressions",
    "recording_rules",
    "render",
]

DEFAULT_PHI_BAND = 0.05
DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR = 5.0
DEFAULT_PHI_UNIT = "requests"
DEFAULT_OUT = Path("prometheus") / "wilton.rules.yml"
# The committed rules file of each phi_unit.
OUT_BY_UNIT = {"requests": DEFAULT_OUT, "tokens": Path("prometheus") / "wilton.tokens.rules.yml"}

RECORDING_GROUP = "wilton-recording"
ALERT_GROUP = "wilton-alerts"

_JOB = re.compile(r"^[A-Za-z0-9_.:/-]+$")  # a job label value that needs no escaping in PromQL or regexes
_DURATION = re.compile(r"^(?:[0-9]+(?:ms|s|m|h|d|w|y))+$")


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
    phi_unit: str = DEFAULT_PHI_UNIT,
    jobs: Jobs = Jobs(),
) -> dict[str, Any]:
    """The rules file as a dict (Prometheus's ``groups:`` format)."""
    _check_parameters(phi_band, frontier_budget_usd_per_hour)
    for job in (jobs.proxy, jobs.coherence, jobs.insight):
        if not _JOB.match(job):
            raise ValueError(f"job name {job!r} must match {_JOB.pattern}")
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
        for a in alert_rules(phi_band, frontier_budget_usd_per_hour, phi_unit, jobs)
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
    phi_unit: str = DEFAULT_PHI_UNIT,
    jobs: Jobs = Jobs(),
) -> str:
    """The rules file's text: a header saying where it comes from, then the YAML."""
    document = build(phi_band, frontier_budget_usd_per_hour, for_durations, phi_unit, jobs)
    unit_flag = "" if phi_unit == DEFAULT_PHI_UNIT else f" --phi-unit {phi_unit}"
    if jobs != Jobs():
        unit_flag += f" --proxy-job {jobs.proxy} --coherence-job {jobs.coherence} --insight-job {jobs.insight}"
    header = (
        "# Generated by wilton_plugin/observability/rules.py; do not edit by hand.\n"
        f"# Parameters: phi_band={format_number(phi_band)}"
        f" frontier_budget_usd_per_hour={format_number(frontier_budget_usd_per_hour)} phi_unit={phi_unit}.\n"
        f"# Regenerate: python -m wilton_plugin.observability.rules{unit_flag} --out {OUT_BY_UNIT[phi_unit]}\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=1_000_000)


def all_expressions(
    phi_band: float = DEFAULT_PHI_BAND,
    frontier_budget_usd_per_hour: float = DEFAULT_FRONTIER_BUDGET_USD_PER_HOUR,
    phi_unit: str = DEFAULT_PHI_UNIT,
) -> list[str]:
    """Every PromQL expression in the rules file, recording rules first, as written there."""
    document = build(phi_band, frontier_budget_usd_per_hour, phi_unit=phi_unit)
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
    parser.add_argument(
        "--out", type=Path, default=None, help=f"rules file (default {DEFAULT_OUT}; with --phi-unit tokens {OUT_BY_UNIT['tokens']})"
    )
    parser.add_argument(
        "--phi-unit",
        choices=PHI_UNITS,
        default=DEFAULT_PHI_UNIT,
        help="the proxy's phi_unit: WiltonPhiOutOfBand compares the φ of this unit (default requests)",
    )
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
    for name, default in (("proxy", PROXY_JOB), ("coherence", COHERENCE_JOB), ("insight", INSIGHT_JOB)):
        parser.add_argument(
            f"--{name}-job",
            default=default,
            help=f"the job label of the {name} targets in your Prometheus (default {default}); the up-based alerts match it",
        )
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from a fresh build")
    args = parser.parse_args(argv)
    try:
        jobs = Jobs(args.proxy_job, args.coherence_job, args.insight_job)
        text = render(
            args.phi_band, args.frontier_budget_usd_per_hour, _parse_for(args.for_durations), args.phi_unit, jobs
        )
    except (ValueError, argparse.ArgumentTypeError) as exc:
        parser.error(str(exc))
    out: Path = args.out if args.out is not None else OUT_BY_UNIT[args.phi_unit]
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
