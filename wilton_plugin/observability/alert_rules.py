"""Wilton's Prometheus alerts, with the ``for`` each one waits by default.

Alerts read the recorded series of :mod:`wilton_plugin.observability.recording_rules`; the rules
file is written by :mod:`wilton_plugin.observability.rules`.
"""

from __future__ import annotations

from dataclasses import dataclass

from wilton_plugin.observability.recording_rules import NEEDS_PROXY, NEEDS_SIDECAR_JOBS

PROXY_JOB = "wilton-proxy"
COHERENCE_JOB = "wilton-coherence"
INSIGHT_JOB = "wilton-insight"


@dataclass(frozen=True)
class Jobs:
    """The Prometheus ``job`` label of each Wilton scrape target (the alerts on ``up`` match them)."""

    proxy: str = PROXY_JOB
    coherence: str = COHERENCE_JOB
    insight: str = INSIGHT_JOB


PHI_UNITS = ("requests", "tokens")
# The recorded φ each unit's alert compares with the target: the share the balancer holds.
PHI_RECORDS = {"requests": "wilton:phi:ratio_rate5m", "tokens": "wilton:phi_tokens:ratio_rate5m"}
_PHI_WHAT = {"requests": "successful requests", "tokens": "tokens (input + output)"}

DEFAULT_FOR_DURATIONS: dict[str, str] = {
    "WiltonPhiOutOfBand": "10m",
    "WiltonFrontierSpendHigh": "15m",
    "WiltonPluginErrors": "5m",
    "WiltonProxyDown": "5m",
    "WiltonProxyAbsent": "5m",
    "WiltonSidecarDown": "5m",
    "WiltonCoherenceSidecarAbsent": "10m",
}


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


def format_number(value: float) -> str:
    """A float as PromQL / prose wants it: 0.05, 5, 2.5 (no float noise)."""
    return format(value, ".10g")


def alert_rules(
    phi_band: float, frontier_budget_usd_per_hour: float, phi_unit: str = "requests", jobs: Jobs = Jobs()
) -> list[Alert]:
    """Every alert (without its ``for``, which comes from the for_durations).

    ``phi_unit`` is the proxy's ``phi_unit``: ``WiltonPhiOutOfBand`` compares the φ of that unit
    (the share the balancer holds) with the target.
    """
    if phi_unit not in PHI_RECORDS:
        raise ValueError(f"phi_unit must be one of {', '.join(PHI_UNITS)}, got {phi_unit!r}")
    phi = PHI_RECORDS[phi_unit]
    band = format_number(phi_band)
    band_pp = format_number(phi_band * 100)
    budget = format_number(frontier_budget_usd_per_hour)
    deviation = f"{phi} - on () wilton:phi_target:max"
    proxy, coherence, insight = jobs.proxy, jobs.coherence, jobs.insight
    target = '{{ with query "wilton:phi_target:max" }}{{ . | first | value | humanizePercentage }}{{ end }}'
    return [
        Alert(
            "WiltonPhiOutOfBand",
            expr=f"{phi} and on () (abs({deviation}) > {band})",
            probe=deviation,
            severity="critical",
            summary=f"φ is {{{{ $value | humanizePercentage }}}}, outside its target ± {band_pp} pp",
            description=(
                f"The local share of {_PHI_WHAT[phi_unit]} over 5m, summed over every proxy replica, is"
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
            expr=f'up{{job="{proxy}"}} == 0',
            probe=f'up{{job="{proxy}"}}',
            severity="critical",
            summary="Wilton proxy {{ $labels.instance }} is down",
            description=(
                "Prometheus cannot scrape {{ $labels.job }} at {{ $labels.instance }}"
                " (up = {{ $value }}): the proxy or its metrics port is down."
            ),
        ),
        Alert(
            "WiltonProxyAbsent",
            expr=f'absent(up{{job="{proxy}"}} == 1)',
            probe=f'up{{job="{proxy}"}}',
            severity="critical",
            summary=f"No {proxy} target is up",
            description=(
                f'Prometheus scrapes no up{{job="{proxy}"}} == 1 series (absent = {{{{ $value }}}}): every'
                " proxy is down, or service discovery (DNS, Kubernetes pods) dropped their targets, or the scrape"
                " config lost the job, where WiltonProxyDown cannot fire."
            ),
        ),
        Alert(
            "WiltonSidecarDown",
            expr=f'up{{job=~"{coherence}|{insight}"}} == 0',
            probe=f'up{{job=~"{coherence}|{insight}"}}',
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
            expr=f'absent(up{{job="{coherence}"}})',
            probe=f'up{{job="{coherence}"}}',
            severity="warning",
            summary=f"No {coherence} target is scraped",
            description=(
                f'Prometheus has no up{{job="{coherence}"}} series (absent = {{{{ $value }}}}):'
                " the scrape config lost the coherence sidecar's job, so its corrections and"
                " its down alert are invisible."
            ),
            needs=NEEDS_SIDECAR_JOBS,
        ),
    ]
