"""Summary and table of ``bench_proxy.py``: per-phase results pooled per mode, and wilton/plain ratios."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

MODES = ("plain", "wilton", "plain-info")  # plain-info: optional control, see mode_config
PHASES = ("sequential", "concurrent")
TARGET_THROUGHPUT_RATIO = 0.95
TARGET_P99_ADDED_MS = 2.0
LOCAL_IDS = {"selfhost-llama3.1", "edge-llama3.2"}


@dataclass
class PhaseResult:
    """One phase of one round of one mode."""

    mode: str
    round: int
    phase: str
    requests: int
    concurrency: int
    wall_s: float
    errors: int
    latencies_ms: list[float] = field(repr=False)
    cpu_s: float | None  # proxy CPU time (user+sys) spent during the phase
    served_by: Counter[str] = field(default_factory=Counter)  # deployment id -> count
    wilton_tiers: Counter[str] = field(default_factory=Counter)  # x-wilton-tier ("" when absent)
    litellm_overhead_ms: list[float] = field(default_factory=list, repr=False)
    by_deployment_ms: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def throughput(self) -> float:
        return (self.requests - self.errors) / self.wall_s if self.wall_s > 0 else 0.0


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile, q in [0, 100]; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100.0
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summarise(results: list[PhaseResult]) -> dict[str, Any]:
    """Per mode and phase, pooled over rounds; plus wilton/plain ratios."""
    summary: dict[str, Any] = {"modes": {}, "comparison": {}}
    for mode in MODES:
        summary["modes"][mode] = {}
        for phase in PHASES:
            rows = [r for r in results if r.mode == mode and r.phase == phase]
            if not rows:
                continue
            latencies = [x for r in rows for x in r.latencies_ms]
            overheads = [x for r in rows for x in r.litellm_overhead_ms]
            ok = sum(r.requests - r.errors for r in rows)
            wall = sum(r.wall_s for r in rows)
            cpu = [r.cpu_s for r in rows if r.cpu_s is not None]
            served: Counter[str] = Counter()
            tiers: Counter[str] = Counter()
            per_deployment: dict[str, list[float]] = {}
            for r in rows:
                served.update(r.served_by)
                tiers.update(r.wilton_tiers)
                for key, values in r.by_deployment_ms.items():
                    per_deployment.setdefault(key, []).extend(values)
            local = sum(n for key, n in served.items() if key in LOCAL_IDS)
            entry = {
                "requests": sum(r.requests for r in rows),
                "errors": sum(r.errors for r in rows),
                "throughput_rps": ok / wall if wall > 0 else 0.0,
                "throughput_rps_per_round": [round(r.throughput, 2) for r in rows],
                "p50_ms": percentile(latencies, 50),
                "p99_ms": percentile(latencies, 99),
                "mean_ms": sum(latencies) / len(latencies) if latencies else float("nan"),
                "p50_ms_per_round": [round(percentile(r.latencies_ms, 50), 3) for r in rows],
                "p99_ms_per_round": [round(percentile(r.latencies_ms, 99), 3) for r in rows],
                "proxy_cpu_ms_per_request": (sum(cpu) * 1000.0 / ok) if cpu and ok else None,
                "litellm_overhead_p50_ms": percentile(overheads, 50),
                "local_share": local / ok if ok else None,
                "served_by": dict(served),
                "p50_ms_by_deployment": {k: round(percentile(v, 50), 3) for k, v in sorted(per_deployment.items())},
            }
            if mode == "wilton":
                entry["wilton_tier_headers"] = dict(tiers)
                entry["requests_without_wilton_header"] = tiers.get("", 0)
            summary["modes"][mode][phase] = entry
    summary["modes"] = {mode: phases for mode, phases in summary["modes"].items() if phases}
    for base in ("plain", "plain-info"):
        for phase in PHASES:
            comparison = compare(summary, results, base, phase)
            if comparison is not None:
                summary["comparison"][phase if base == "plain" else f"{phase} vs {base}"] = comparison
    return summary


def compare(summary: dict[str, Any], results: list[PhaseResult], base: str, phase: str) -> dict[str, Any] | None:
    """wilton against ``base`` for one phase: pooled ratios and the ratio of each round pair."""
    plain = summary["modes"].get(base, {}).get(phase)
    wilton = summary["modes"].get("wilton", {}).get(phase)
    if not plain or not wilton:
        return None
    ratio = wilton["throughput_rps"] / plain["throughput_rps"] if plain["throughput_rps"] else float("nan")
    p99_added = wilton["p99_ms"] - plain["p99_ms"]
    cpu_added = None
    if plain["proxy_cpu_ms_per_request"] is not None and wilton["proxy_cpu_ms_per_request"] is not None:
        cpu_added = wilton["proxy_cpu_ms_per_request"] - plain["proxy_cpu_ms_per_request"]
    base_rounds = [r for r in results if r.mode == base and r.phase == phase]
    wilton_rounds = [r for r in results if r.mode == "wilton" and r.phase == phase]
    paired = [w.throughput / p.throughput for p, w in zip(base_rounds, wilton_rounds) if p.throughput > 0]
    return {
        "baseline": base,
        "throughput_ratio": ratio,
        "throughput_ratio_per_round": [round(x, 3) for x in paired],
        "throughput_ratio_median_of_rounds": percentile(paired, 50),
        "p50_added_ms": wilton["p50_ms"] - plain["p50_ms"],
        "p99_added_ms": p99_added,
        "proxy_cpu_added_ms_per_request": cpu_added,
        "throughput_ratio_ok": ratio >= TARGET_THROUGHPUT_RATIO,
        "p99_added_ok": p99_added <= TARGET_P99_ADDED_MS,
    }


def fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def print_table(report: dict[str, Any]) -> None:
    conditions = report["conditions"]
    print(f"LiteLLM proxy: plain (simple-shuffle) vs + Wilton (default wilton_settings, scorer {conditions['scorer']})")
    print(
        f"  conditions: {conditions['cpu_count']} CPUs, load avg before {conditions['loadavg_before']} "
        f"after {conditions['loadavg_after']}, python {conditions['python']}, litellm {conditions['litellm']}, "
        f"1 worker per proxy, one proxy alive at a time, pinning {conditions['pinning'] or 'off'}"
    )
    print(
        f"  upstream latency {conditions['upstream_latency_ms']} ms, rounds {conditions['rounds']} "
        f"(order {' '.join(conditions['order'])}), per round: warm-up {conditions['warmup']}+{conditions['warmup']}, "
        f"sequential {conditions['requests']}, concurrent {conditions['concurrent_requests']} "
        f"@ {conditions['concurrency']}, total {conditions['elapsed_s']:.0f} s"
    )
    print()
    header = (
        f"{'mode':<10} {'phase':<11} {'req':>6} {'err':>4} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'cpu ms/req':>10} {'llm ovh p50':>11} {'local %':>7}  per-round req/s"
    )
    print(header)
    print("-" * len(header))
    for phase in PHASES:
        for mode in MODES:
            e = report["modes"].get(mode, {}).get(phase)
            if e is None:
                continue
            local = f"{100 * e['local_share']:.1f}" if e["local_share"] is not None else "-"
            print(
                f"{mode:<10} {phase:<11} {e['requests']:>6} {e['errors']:>4} {e['throughput_rps']:>8.1f} "
                f"{e['p50_ms']:>8.2f} {e['p99_ms']:>8.2f} {fmt(e['proxy_cpu_ms_per_request']):>10} "
                f"{fmt(e['litellm_overhead_p50_ms']):>11} {local:>7}  "
                f"{', '.join(f'{x:.1f}' for x in e['throughput_rps_per_round'])}"
            )
    print()
    print(f"wilton / baseline            {'thr ratio':>9} {'p50 +ms':>8} {'p99 +ms':>8} {'cpu +ms/req':>11}   targets "
          f"(ratio >= {TARGET_THROUGHPUT_RATIO}, p99 added <= {TARGET_P99_ADDED_MS} ms); ratio per round pair")
    for phase, c in report["comparison"].items():
        print(
            f"  {phase:<26} {c['throughput_ratio']:>9.3f} {c['p50_added_ms']:>+8.2f} {c['p99_added_ms']:>+8.2f} "
            f"{fmt(c['proxy_cpu_added_ms_per_request'], 3):>11}   "
            f"ratio {'OK' if c['throughput_ratio_ok'] else 'MISSED':<6} p99 {'OK' if c['p99_added_ok'] else 'MISSED':<6}"
            f"  {', '.join(f'{x:.3f}' for x in c['throughput_ratio_per_round'])}"
        )
    wilton = report["modes"].get("wilton", {})
    missing = sum(e.get("requests_without_wilton_header", 0) for e in wilton.values())
    if wilton:
        print(f"  wilton responses without x-wilton-tier (fallback/unrouted): {missing}; "
              f"proxy log errors: {report['wilton_log_errors']}")


def finite(value: Any) -> Any:
    """NaN/inf to None, recursively, so the JSON is strict."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
