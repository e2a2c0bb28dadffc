"""End-to-end overhead of Wilton inside a real LiteLLM proxy, against plain LiteLLM.

One invocation starts two fake upstreams (Ollama: llama3.1 + llama3.2:1b; OpenAI: gpt-4o), then
alternates rounds of two real ``litellm`` proxies (1 worker each) on the same upstreams:

* ``plain``  -- the demo deployments without Wilton (LiteLLM ``simple-shuffle``);
* ``wilton`` -- the same deployments with the Wilton callback, default ``wilton_settings`` and the
  ``--scorer`` (default ``learned``, as the shipped YAMLs).

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
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import httpx  # noqa: E402

from wilton_plugin.devstack import ProxyProcess, demo_config, write_config  # noqa: E402
from wilton_plugin.fakes import FakeUpstreamProcess  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from proxy_report import (  # noqa: E402
    MODES,
    TARGET_P99_ADDED_MS,
    TARGET_THROUGHPUT_RATIO,
    PhaseResult,
    finite,
    percentile,
    print_table,
    summarise,
)


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


# --- orchestration ----------------------------------------------------------------------------


def round_order(rounds: int, modes: list[str]) -> list[str]:
    """ABBA...: plain, wilton, wilton, plain, plain, wilton, ..."""
    order: list[str] = []
    for index in range(rounds):
        order += list(modes) if index % 2 == 0 else list(reversed(modes))
    return order


def mode_config(mode: str, ollama_url: str, openai_url: str, scorer: str = "learned") -> dict[str, Any]:
    """plain: demo deployments without Wilton (model_info = id only); wilton: with the plugin and
    ``scorer``; plain-info: no plugin, but the Wilton config's model_info (tiers, costs) -- isolates the callback."""
    if mode == "plain":
        return demo_config(ollama_url, openai_url, plugin=False)
    config = demo_config(ollama_url, openai_url, plugin=True)
    config.setdefault("wilton_settings", {})["scorer"] = {"name": scorer}
    if mode == "plain-info":
        config["litellm_settings"].pop("callbacks", None)
        config.pop("wilton_settings", None)
    return config


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
    parser.add_argument("--scorer", default="learned", help="the wilton mode's scorer (default learned, as the shipped YAMLs)")
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
                configs[mode] = write_config(mode_config(mode, ollama.url, openai.url, args.scorer), directory)
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
            "scorer": args.scorer,
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
        print(json.dumps(finite(report), default=str))
    else:
        print_table(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
