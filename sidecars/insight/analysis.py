"""The insight sidecar's pure core: collected numbers in, findings (the "facts") out.

No HTTP, no Prometheus client, no matplotlib: plain dicts and lists in, plain dicts out, so every
finding is unit-testable. Also here: the schema the LLM must answer in (pydantic, validated) and
the check that flags numbers in the LLM's text that are not among the facts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sidecars.common.numbers import finite

LOCAL_TIERS = ("selfhost", "edge")
TIERS = ("selfhost", "edge", "frontier")
#: a deployment is slow when its p95 is this many times the median p95 of its peers (and > 50 ms)
SLOW_FACTOR = 2.0
#: a deployment is failing above this error rate (with at least MIN_REQUESTS requests)
FAILING_RATE = 0.05
MIN_REQUESTS = 10


# --- small numeric helpers -----------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated quantile of ``values`` (None when empty)."""
    data = sorted(values)
    if not data:
        return None
    pos = q * (len(data) - 1)
    lo, hi = math.floor(pos), math.ceil(pos)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def counter_increase(points: Sequence[Sequence[float]], window_start: float, step: float) -> float:
    """Increase of ONE counter series (one process's) over a range query, resets handled, no extrapolation.

    Only right for a single series: a drop is taken as that process restarting from zero, which is
    wrong for a sum over replicas (one replica restarting or missing a scrape lowers the sum without
    zeroing it), so sums are made after this, by ``summed_increases``. Steps where the series is
    absent (a missed scrape) are skipped. A series whose first sample comes later than the window's
    start (plus two steps) was born in the window, so its first value counts from zero (labels are
    pre-initialised at 0 by the plugin).
    """
    values = [(float(t), v) for t, v in ((p[0], finite(p[1])) for p in points) if v is not None]
    if not values:
        return 0.0
    total = values[0][1] if values[0][0] > window_start + 2 * step else 0.0
    for (_, previous), (_, current) in zip(values, values[1:]):
        total += current - previous if current >= previous else current  # a drop is a restart
    return total


def summed_increases(series: Iterable[Mapping[str, Any]], labels: Sequence[str], window_start: float, step: float,
                     value: str) -> list[dict[str, Any]]:
    """Per-series counter increases added up by ``labels``: one row per label set, the sum in ``value``.

    ``series`` is a range query's raw result (``{"metric": {...}, "values": [[t, "v"], ...]}``, one
    per replica and label set); each series' resets are handled on its own before anything is added.
    """
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for item in series:
        metric = item.get("metric") or {}
        key = tuple(str(metric.get(name, "")) for name in labels)
        row = rows.setdefault(key, {**dict(zip(labels, key)), value: 0.0})
        row[value] += counter_increase(item.get("values") or [], window_start, step)
    return list(rows.values())


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus-style quantile from cumulative ``(le, count)`` buckets (None without data)."""
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or ordered[-1][1] <= 0:
        return None
    rank = q * ordered[-1][1]
    previous_le, previous_count = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return previous_le
            if count == previous_count:
                return le
            return previous_le + (le - previous_le) * (rank - previous_count) / (count - previous_count)
        previous_le, previous_count = le, count
    return previous_le


def _r(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


# --- the analysis --------------------------------------------------------------------------------


def _phi_findings(collected: Mapping[str, Any], band: float, observed: float | None) -> tuple[dict, list[dict]]:
    history = [(float(t), v) for t, v in ((p[0], finite(p[1])) for p in collected.get("phi_history") or ()) if v is not None]
    targets = [v for v in (finite(p[1]) for p in collected.get("target_history") or ()) if v is not None]
    target = targets[-1] if targets else finite(collected.get("status_target"))
    step = float(collected.get("window", {}).get("step") or 0.0)
    outside = [t for t, v in history if target is not None and abs(v - target) > band]
    phi = {
        "observed": _r(observed),
        "target": _r(target),
        "deviation": _r(observed - target) if observed is not None and target is not None else None,
        "band": band,
        "history_points": len(history),
        "history_min": _r(min((v for _, v in history), default=None)),
        "history_max": _r(max((v for _, v in history), default=None)),
        "time_outside_band_s": round(len(outside) * step, 1),
        "share_of_time_outside_band": _r(len(outside) / len(history)) if history else None,
    }
    hours: dict[str, list[float]] = {}
    for t, v in history:
        hour = datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:00Z")
        hours.setdefault(hour, []).append(v)
    worst = []
    if target is not None:
        for hour, values in hours.items():
            mean = sum(values) / len(values)
            worst.append({"hour": hour, "mean_phi": _r(mean), "mean_abs_deviation": _r(sum(abs(v - target) for v in values) / len(values))})
        worst.sort(key=lambda h: -h["mean_abs_deviation"])
    return phi, worst[:3]


def _tier_findings(collected: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    tiers: dict[str, dict[str, Any]] = {
        tier: {"requests": 0, "failures": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0} for tier in TIERS
    }
    for row in collected.get("requests") or ():
        entry = tiers.setdefault(row["tier"], {"requests": 0, "failures": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0})
        entry["requests" if row["status"] == "success" else "failures"] += round(row["count"])
    for row in collected.get("tokens") or ():
        if row["tier"] in tiers:
            tiers[row["tier"]][f"{row['direction']}_tokens"] += round(row["count"])
    for row in collected.get("cost") or ():
        if row["tier"] in tiers:
            tiers[row["tier"]]["cost_usd"] += row["usd"]
    for entry in tiers.values():
        entry["cost_usd"] = round(entry["cost_usd"], 6)
        entry["cost_per_1000_requests_usd"] = (
            round(entry["cost_usd"] / entry["requests"] * 1000, 6) if entry["requests"] else None
        )
    return tiers


def _deployment_findings(collected: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    deployments: dict[str, dict[str, Any]] = {}

    def entry(name: str, tier: str) -> dict[str, Any]:
        return deployments.setdefault(name, {"tier": tier, "requests": 0, "failures": 0, "error_rate": None,
                                             "latency_p50_s": None, "latency_p95_s": None, "cost_usd": 0.0})

    for row in collected.get("requests") or ():
        entry(row["deployment"], row["tier"])["requests" if row["status"] == "success" else "failures"] += round(row["count"])
    for row in collected.get("cost") or ():
        entry(row["deployment"], row["tier"])["cost_usd"] = round(row["usd"], 6)
    for name, hist in (collected.get("latency_buckets") or {}).items():
        buckets = [(float(le), float(count)) for le, count in hist["buckets"]]
        e = entry(name, hist.get("tier", "?"))
        e["latency_p50_s"] = _r(histogram_quantile(0.5, buckets))
        e["latency_p95_s"] = _r(histogram_quantile(0.95, buckets))
    for e in deployments.values():
        attempts = e["requests"] + e["failures"]
        e["error_rate"] = _r(e["failures"] / attempts) if attempts else None
    return deployments


def _side(tier: str | None) -> str:
    return "local" if tier in LOCAL_TIERS else "frontier"


def _difficulty(decisions: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for side in ("local", "frontier"):
        scores = [s for s in (finite(d.get("difficulty")) for d in decisions if _side(d.get("tier")) == side) if s is not None]
        histogram = [0] * 10
        for s in scores:
            histogram[min(9, max(0, int(s * 10)))] += 1
        out[side] = {
            "n": len(scores),
            "mean": _r(sum(scores) / len(scores)) if scores else None,
            "p10": _r(quantile(scores, 0.1)), "p50": _r(quantile(scores, 0.5)), "p90": _r(quantile(scores, 0.9)),
            "histogram_by_tenth": histogram,
        }
    return out


def _teams(decisions: Sequence[Mapping[str, Any]], targets: Mapping[str, Any], band: float) -> tuple[list[dict], list[dict]]:
    """Teams far from their target, and teams not judged because their target is unknown here.

    ``targets`` are the effective team targets of ``/wilton/status`` (config merged with runtime
    overrides). A team missing from them (its target may come from key or team metadata) is never
    compared with the global target: it is listed as target unknown. Teams with fewer than
    MIN_REQUESTS successes are in neither list.
    """
    served: dict[str, list[bool]] = {}
    for d in decisions:
        if d.get("team_id") and d.get("status") == "success":
            served.setdefault(str(d["team_id"]), []).append(_side(d.get("tier")) == "local")
    far, unknown = [], []
    for team, flags in sorted(served.items()):
        if len(flags) < MIN_REQUESTS:
            continue
        share = sum(flags) / len(flags)
        target = finite(targets.get(team))
        if target is None:
            unknown.append({"team": team, "requests": len(flags), "local_share": _r(share)})
        elif abs(share - target) > band:
            far.append({"team": team, "requests": len(flags), "local_share": _r(share), "target": _r(target),
                        "deviation": _r(share - target)})
    return far, unknown


def analyse(collected: Mapping[str, Any], band: float = 0.05) -> dict[str, Any]:
    """Everything code can compute from one collection: the facts given to the LLM and the report."""
    tiers = _tier_findings(collected)
    served = sum(t["requests"] for t in tiers.values())
    local = sum(t["requests"] for name, t in tiers.items() if name in LOCAL_TIERS)
    observed = local / served if served else None
    phi, worst_hours = _phi_findings(collected, band, observed)
    deployments = _deployment_findings(collected)
    p95s = [d["latency_p95_s"] for d in deployments.values() if d["latency_p95_s"] is not None]
    median_p95 = quantile(p95s, 0.5)
    slow = sorted(name for name, d in deployments.items() if d["latency_p95_s"] is not None and median_p95
                  and d["latency_p95_s"] > SLOW_FACTOR * median_p95 and d["latency_p95_s"] > 0.05)
    failing = sorted(name for name, d in deployments.items()
                     if d["error_rate"] is not None and d["error_rate"] > FAILING_RATE and d["requests"] + d["failures"] >= MIN_REQUESTS)
    reasons: dict[str, int] = {}
    for row in collected.get("decisions_by_reason") or ():
        reasons[row["reason"]] = reasons.get(row["reason"], 0) + round(row["count"])
    decisions = list(collected.get("decisions") or ())
    corrections = collected.get("corrections")
    teams_far, teams_unknown = _teams(decisions, collected.get("team_targets") or {}, band)
    return {
        "window": dict(collected.get("window") or {}),
        "phi": phi,
        "worst_hours": worst_hours,
        "requests": {"served": served, "local": local, "frontier": served - local,
                     "failed_attempts": sum(t["failures"] for t in tiers.values())},
        "tiers": tiers,
        "deployments": deployments,
        "slow_deployments": slow,
        "failing_deployments": failing,
        "decisions_by_reason": reasons,
        "spills": reasons.get("spill", 0),
        "coherence_corrections": None if corrections is None else {r["kind"]: round(r["count"]) for r in corrections},
        "teams_far_from_target": teams_far,
        "teams_target_unknown": teams_unknown,
        "difficulty": _difficulty(decisions),
        "decisions_analysed": len(decisions),
        "sources": {"prometheus": collected.get("prometheus_ok", False), "decision_log": collected.get("decisions_ok", False),
                    "team_targets": collected.get("team_targets_ok", False)},
        "notes": list(collected.get("problems") or ()),
    }


# --- the LLM's answer ----------------------------------------------------------------------------


class Recommendation(BaseModel):
    """One recommendation, as the LLM must give it."""

    model_config = ConfigDict(extra="ignore")
    change: str = Field(min_length=1, max_length=2000)
    why: str = Field(min_length=1, max_length=4000)
    expected_effect: str = Field(min_length=1, max_length=2000)
    confidence: float = Field(ge=0.0, le=1.0, allow_inf_nan=False)


class Recommendations(BaseModel):
    """The JSON object the LLM must answer with."""

    model_config = ConfigDict(extra="ignore")
    recommendations: list[Recommendation] = Field(max_length=20)


class BadAnswer(ValueError):
    """The LLM's answer is not the JSON asked for (the message says why, without the answer)."""


_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


def parse_recommendations(text: str) -> list[Recommendation]:
    """Validate the LLM's text as ``{"recommendations": [...]}``; ``BadAnswer`` otherwise."""
    match = _FENCE.match(text or "")
    body = match.group(1) if match else (text or "").strip()
    try:
        data = json.loads(body)
    except ValueError:
        raise BadAnswer("the LLM did not answer JSON") from None
    try:
        return Recommendations.model_validate(data).recommendations
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the top level"
        raise BadAnswer(f"the LLM's JSON does not match the schema ({where}: {first.get('msg')})") from None


# --- numbers that are not facts ------------------------------------------------------------------

_NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:[.,]\d+)*(?:\.\d+)?(%?)")
#: small whole numbers (counts of steps, "2x") are not checked
_IGNORED_INTEGERS = range(0, 11)


def fact_numbers(facts: Any) -> list[float]:
    """Every number in the facts (recursively)."""
    found: list[float] = []

    def walk(value: Any) -> None:
        if isinstance(value, bool):
            return
        if isinstance(value, int | float):
            if math.isfinite(value):
                found.append(float(value))
        elif isinstance(value, Mapping):
            for key, item in value.items():
                walk(str(key))  # "cost_per_1000_requests_usd" makes 1000 a fact
                walk(item)
        elif isinstance(value, list | tuple):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            for m in _NUMBER.finditer(value):
                number = finite(m.group(0).rstrip("%").replace(",", ""))
                if number is not None:
                    found.append(number)

    walk(facts)
    return found


def _matches(number: float, decimals: int, known: Iterable[float]) -> bool:
    tolerance = 0.5 * 10**-decimals + 1e-9
    return any(abs(number - k) <= tolerance or (k and abs(number - k) / abs(k) <= 0.01) for k in known)


def unknown_numbers(text: str, facts: Any) -> list[str]:
    """Numbers in ``text`` that are not among the facts (as written; rounding and % allowed)."""
    known = fact_numbers(facts)
    flagged = []
    for m in _NUMBER.finditer(text or ""):
        raw = m.group(0)
        digits = raw.rstrip("%").replace(",", "")
        number = finite(digits)
        if number is None:
            continue
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        if decimals == 0 and abs(number) in _IGNORED_INTEGERS:
            continue
        candidates = [(number, decimals)]
        if raw.endswith("%") or abs(number) > 1:
            candidates.append((number / 100, decimals + 2))  # "75%" or "75" for a share of 0.75
        ok = any(_matches(value, places, known) for value, places in candidates)
        if not ok and raw not in flagged:
            flagged.append(raw)
    return flagged
