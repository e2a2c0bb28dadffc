"""End-to-end overhead of Wilton inside a real LiteLLM proxy, against plain LiteLLM.

One invocation starts two fake upstreams (Ollama: llama3.1 + llama3.2:1b; OpenAI: gpt-4o), then
alternates rounds of two real ``litellm`` proxies (1 worker each) on the same upstreams:

* ``plain``  -- the demo deployments without Wilton (LiteLLM ``simple-shuffle``);
* ``wilton`` -- the same deployments with the Wilton callback and default ``wilton_settings``.

Only one proxy is alive at a time (the machine has few cores): each round starts a proxy, warms
it up, runs a sequential phase and a concurrent phase, and stops it. Round order is ABBA
(plain, wilton, wilton, plain, ...) so slow drift of the machine cancels out.

Reported per mode and phase: throughput (req/s), p50/p99 client latency (ms), errors, and the
proxy's CPU time per request (read from /proc, summed over the proxy's process group). Then the
ratios wilton/plain with the targets: throughput ratio >= 0.95, p99 added <= 2 ms.

Run: ``.venv/bin/python bench/bench_proxy.py [--quick] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import httpx  # noqa: E402

from wilton_plugin.devstack import ProxyProcess, demo_config, write_config  # noqa: E402
from wilton_plugin.fakes import FakeUpstreamProcess  # noqa: E402

MODES = ("plain", "wilton", "plain-info")  # plain-info: optional control, see mode_config
PHASES = ("sequential", "concurrent")
TARGET_THROUGHPUT_RATIO = 0.95
TARGET_P99_ADDED_MS = 2.0
LOCAL_IDS = {"selfhost-llama3.1", "edge-llama3.2"}

# Short prompts of varied difficulty (the Wilton scorer sees a spread of scores).
PROMPTS = (
    "hi",
    "What is the capital of France?",
    "Explain why the sky is blue, step by step.",
    "Write a python function def add(a, b): return a + b and explain it.",
    "thanks!",
    "Solve 12 * 7 + 3 = ?",
    "Compare the trade-offs of REST and gRPC for an internal API design.",
    "Give me three names for a cat.",
)


def log(message: str) -> None:
    """Progress on stderr (stdout carries only the results)."""
    print(f"[bench_proxy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- measurement ------------------------------------------------------------------------------


class PinnedProxyProcess(ProxyProcess):
    """The proxy under ``taskset -c CPUS``."""

    def __init__(self, *args: Any, cpus: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cpus = cpus

    def command(self) -> list[str]:
        return ["taskset", "-c", self.cpus, *super().command()]


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


def group_cpu_seconds(pgid: int) -> float | None:
    """utime+stime of every live process in process group ``pgid`` (the proxy and its children)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    found = False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        # fields[0] is state (field 3); pgrp is field 5, utime 14, stime 15 (1-based, see proc(5)).
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
            found = True
    return total / tick if found else None


def request_body(index: int) -> dict[str, Any]:
    return {"model": "chat", "messages": [{"role": "user", "content": PROMPTS[index % len(PROMPTS)]}]}


async def one_request(client: httpx.AsyncClient, url: str, index: int, result: PhaseResult) -> None:
    started = time.perf_counter()
    try:
        response = await client.post(url, json=request_body(index))
        await response.aread()
    except httpx.HTTPError:
        result.errors += 1
        return
    elapsed_ms = (time.perf_counter() - started) * 1000.0
    if response.status_code != 200:
        result.errors += 1
        return
    result.latencies_ms.append(elapsed_ms)
    deployment = response.headers.get("x-litellm-model-id", "?")
    result.served_by[deployment] += 1
    result.by_deployment_ms.setdefault(deployment, []).append(elapsed_ms)
    if result.mode == "wilton":
        result.wilton_tiers[response.headers.get("x-wilton-tier", "")] += 1
    overhead = response.headers.get("x-litellm-overhead-duration-ms")
    with contextlib.suppress(TypeError, ValueError):
        result.litellm_overhead_ms.append(float(overhead))


async def run_phase(
    client: httpx.AsyncClient, proxy: ProxyProcess, mode: str, round_no: int, phase: str, requests: int, concurrency: int
) -> PhaseResult:
    url = f"{proxy.url}/v1/chat/completions"
    pgid = proxy.process.pid if proxy.process is not None else None
    result = PhaseResult(mode, round_no, phase, requests, concurrency, 0.0, 0, [], None)
    cpu_before = group_cpu_seconds(pgid) if pgid else None
    started = time.perf_counter()
    if concurrency <= 1:
        for index in range(requests):
            await one_request(client, url, index, result)
    else:
        counter = iter(range(requests))

        async def worker() -> None:
            for index in counter:  # a shared iterator: each worker takes the next request
                await one_request(client, url, index, result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall_s = time.perf_counter() - started
    cpu_after = group_cpu_seconds(pgid) if pgid else None
    if cpu_before is not None and cpu_after is not None:
        result.cpu_s = cpu_after - cpu_before
    return result


async def run_round(proxy: ProxyProcess, mode: str, round_no: int, args: argparse.Namespace) -> list[PhaseResult]:
    limits = httpx.Limits(max_connections=max(args.concurrency, 1), max_keepalive_connections=max(args.concurrency, 1))
    headers = {"Authorization": f"Bearer {proxy.master_key}"}
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60.0) as client:
        if args.warmup > 0:
            await run_phase(client, proxy, mode, round_no, "warmup", args.warmup, 1)
            await run_phase(client, proxy, mode, round_no, "warmup", args.warmup, args.concurrency)
        sequential = await run_phase(client, proxy, mode, round_no, "sequential", args.requests, 1)
        concurrent = await run_phase(
            client, proxy, mode, round_no, "concurrent", args.concurrent_requests, args.concurrency
        )
    return [sequential, concurrent]


# --- summary ----------------------------------------------------------------------------------


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
    print("LiteLLM proxy: plain (simple-shuffle) vs + Wilton (default wilton_settings)")
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


# --- orchestration ----------------------------------------------------------------------------


def round_order(rounds: int, modes: list[str]) -> list[str]:
    """ABBA...: plain, wilton, wilton, plain, plain, wilton, ..."""
    order: list[str] = []
    for index in range(rounds):
        order += list(modes) if index % 2 == 0 else list(reversed(modes))
    return order


def mode_config(mode: str, ollama_url: str, openai_url: str) -> dict[str, Any]:
    """plain: demo deployments without Wilton (model_info = id only); wilton: with the plugin;
    plain-info: no plugin, but the Wilton config's model_info (tiers, costs) -- isolates the callback."""
    if mode == "plain":
        return demo_config(ollama_url, openai_url, plugin=False)
    config = demo_config(ollama_url, openai_url, plugin=True)
    if mode == "plain-info":
        config["litellm_settings"].pop("callbacks", None)
        config.pop("wilton_settings", None)
    return config


def _finite(value: Any) -> Any:
    """NaN/inf to None, recursively, so the JSON is strict."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="sequential requests per round and mode (300)")
    parser.add_argument("--concurrent-requests", type=int, default=800, help="concurrent requests per round and mode (800)")
    parser.add_argument("--concurrency", type=int, default=16, help="in-flight requests in the concurrent phase (16)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per mode, in ABBA order (3)")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up requests after each start, sequential and concurrent (30)")
    parser.add_argument("--upstream-latency-ms", type=float, default=0.0, help="fake upstream latency (0)")
    parser.add_argument("--modes", default="plain,wilton",
                        help="comma-separated, from plain,wilton,plain-info (plain-info: no plugin, Wilton's model_info)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round, 40 sequential, 80 concurrent, 10 warm-up")
    parser.add_argument("--pin", action="store_true",
                        help="pin the proxy to CPU 0 and this client + the fakes to the other CPUs (less contention noise)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    parser.add_argument("--keep-logs", action="store_true", help="keep the proxy logs' directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.requests, args.concurrent_requests, args.rounds, args.warmup = 40, 80, 1, 10
    modes = [m for m in args.modes.split(",") if m]
    if not modes or any(m not in MODES for m in modes):
        parser.error(f"--modes must be a subset of {','.join(MODES)}")

    signal.signal(signal.SIGTERM, _raise_interrupt)
    from importlib.metadata import version  # not `import litellm`: it would fetch the cost map

    pinning = None
    if args.pin:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2 or not shutil.which("taskset"):
            parser.error("--pin needs 2+ CPUs and taskset")
        os.sched_setaffinity(0, cpus[1:])  # the fakes, started below, inherit this
        pinning = {"proxy": [cpus[0]], "client_and_fakes": cpus[1:]}
    workdir = Path(tempfile.mkdtemp(prefix="wilton-bench-"))
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    started = time.monotonic()
    results: list[PhaseResult] = []
    log_errors: list[str] = []
    order = round_order(args.rounds, modes)
    with contextlib.ExitStack() as stack:
        try:
            log(f"starting fake upstreams (latency {args.upstream_latency_ms} ms); work dir {workdir}")
            fake_config = {"latency_ms": args.upstream_latency_ms}
            ollama = stack.enter_context(FakeUpstreamProcess("ollama", ["llama3.1", "llama3.2:1b"], **fake_config))
            openai = stack.enter_context(FakeUpstreamProcess("openai", ["gpt-4o"], **fake_config))
            configs = {}
            for mode in modes:
                directory = workdir / mode
                directory.mkdir()
                configs[mode] = write_config(mode_config(mode, ollama.url, openai.url), directory)
            round_of: Counter[str] = Counter()
            for mode in order:
                round_of[mode] += 1
                log(f"{mode} round {round_of[mode]}: starting proxy")
                if pinning:
                    proxy = PinnedProxyProcess(configs[mode], workers=1, cpus=str(pinning["proxy"][0]))
                else:
                    proxy = ProxyProcess(configs[mode], workers=1)
                stack.callback(proxy.stop)  # idempotent: stop() is a no-op once stopped
                proxy.start()
                try:
                    phase_results = asyncio.run(run_round(proxy, mode, round_of[mode], args))
                finally:
                    proxy.stop()
                    if mode == "wilton":
                        log_errors += [line for line in proxy.log_text().splitlines() if "wilton:" in line and "failed" in line]
                results += phase_results
                for r in phase_results:
                    log(f"  {r.phase}: {r.throughput:.1f} req/s, p50 {percentile(r.latencies_ms, 50):.2f} ms, "
                        f"p99 {percentile(r.latencies_ms, 99):.2f} ms, errors {r.errors}")
        except KeyboardInterrupt:
            log("interrupted; stopping every process")
            if not args.keep_logs:
                stack.callback(shutil.rmtree, workdir, ignore_errors=True)
            return 130
        except BaseException:
            log(f"failed; proxy logs kept in {workdir}")
            raise
    report = {
        "conditions": {
            "cpu_count": os.cpu_count(),
            "loadavg_before": loadavg_before,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
            "python": platform.python_version(),
            "litellm": version("litellm"),
            "upstream_latency_ms": args.upstream_latency_ms,
            "rounds": args.rounds,
            "order": order,
            "warmup": args.warmup,
            "requests": args.requests,
            "concurrent_requests": args.concurrent_requests,
            "concurrency": args.concurrency,
            "elapsed_s": time.monotonic() - started,
            "workdir": str(workdir) if args.keep_logs else None,
            "pinning": pinning,
        },
        **summarise(results),
        "targets": {"throughput_ratio_min": TARGET_THROUGHPUT_RATIO, "p99_added_ms_max": TARGET_P99_ADDED_MS},
        "wilton_log_errors": len(log_errors),
        "rounds_detail": [
            {
                "mode": r.mode, "round": r.round, "phase": r.phase, "requests": r.requests, "errors": r.errors,
                "concurrency": r.concurrency, "wall_s": r.wall_s, "proxy_cpu_s": r.cpu_s,
                "throughput_rps": r.throughput, "p50_ms": percentile(r.latencies_ms, 50),
                "p99_ms": percentile(r.latencies_ms, 99), "served_by": dict(r.served_by),
            }
            for r in results
        ],
    }
    for line in log_errors[:5]:
        log(f"proxy log: {line}")
    if not args.keep_logs:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        print(json.dumps(_finite(report), default=str))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
