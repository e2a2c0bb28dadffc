"""``make demo``: a LiteLLM proxy with Wilton in front of simulated upstreams, a few hundred requests,
and the split it held.

The upstreams here are Wilton's protocol-faithful *simulated* Ollama and OpenAI servers (labelled
as such in the output); the demo on a real local model is tracked in the demo issue.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import time

import httpx

from wilton_plugin.devstack import ProxyProcess, demo_config, write_config
from wilton_plugin.fakes import FakeUpstreamProcess

PROMPTS = [
    "hello!",
    "Summarise the causes of the French Revolution in three bullet points.",
    "Write a Python function that returns the n-th Fibonacci number iteratively.",
    "Solve 12x - 7 = 29 and explain each step.",
    "What is the capital of Portugal?",
    "Explain the trade-offs between optimistic and pessimistic locking in database design.",
    "Translate 'good morning' into Portuguese.",
    "Prove that there are infinitely many primes.",
]


async def _send(client: httpx.AsyncClient, proxy: ProxyProcess, i: int) -> tuple[str, str, float, bool]:
    started = time.perf_counter()
    response = await client.post(
        f"{proxy.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {proxy.master_key}"},
        json={"model": "chat", "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}], "max_tokens": 32},
    )
    elapsed = time.perf_counter() - started
    return (
        response.headers.get("x-wilton-tier", "?"),
        response.headers.get("x-wilton-reason", "?"),
        elapsed,
        response.status_code == 200,
    )


async def _drive(proxy: ProxyProcess, requests: int, concurrency: int) -> list[tuple[str, str, float, bool]]:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60) as client:

        async def one(i: int) -> tuple[str, str, float, bool]:
            async with semaphore:
                return await _send(client, proxy, i)

        return await asyncio.gather(*(one(i) for i in range(requests)))


def _report(results: list[tuple[str, str, float, bool]], target: float) -> int:
    by_tier: dict[str, list[float]] = collections.defaultdict(list)
    for tier, _, elapsed, ok in results:
        if ok:
            by_tier[tier].append(elapsed)
    reasons = collections.Counter(reason for _, reason, _, ok in results if ok)
    served = sum(len(v) for v in by_tier.values())
    local = len(by_tier.get("selfhost", [])) + len(by_tier.get("edge", []))
    print(f"\n{'tier':<10}{'requests':>10}{'share':>9}{'p50 ms':>9}   upstream")
    for tier in ("selfhost", "edge", "frontier"):
        times = by_tier.get(tier, [])
        p50 = statistics.median(times) * 1000 if times else 0.0
        upstream = "simulated OpenAI" if tier == "frontier" else "simulated Ollama"
        print(f"{tier:<10}{len(times):>10}{len(times) / max(served, 1):>9.3f}{p50:>9.1f}   {upstream}")
    phi = local / served if served else 0.0
    print(f"\nφ (local share) = {phi:.4f}   target = {target:.2f}   requests = {served}/{len(results)}")
    print("decisions by reason:", ", ".join(f"{k}={v}" for k, v in sorted(reasons.items())))
    return 0 if served == len(results) else 1


def main(argv: list[str] | None = None) -> int:
    """Run the demo and print the split."""
    parser = argparse.ArgumentParser(prog="wilton-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="requests to send (default 400)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--phi-target", type=float, default=0.75, help="local share to hold (default 0.75)")
    args = parser.parse_args(argv)

    print("Wilton demo: LiteLLM proxy + Wilton, SIMULATED upstreams (no real model in this demo yet)")
    with tempfile.TemporaryDirectory(prefix="wilton-demo-") as tmp, FakeUpstreamProcess(
        "simulated-ollama", ["llama3.1", "llama3.2:1b"], latency_ms=20, latency_jitter_ms=20
    ) as ollama, FakeUpstreamProcess("simulated-openai", ["gpt-4o"], latency_ms=60, latency_jitter_ms=40) as frontier:
        config = demo_config(ollama.url, frontier.url, wilton_settings={"phi_target": args.phi_target})
        print("starting the proxy ...", flush=True)
        with ProxyProcess(write_config(config, tmp)) as proxy:
            print(f"proxy on {proxy.url}; sending {args.requests} requests, {args.concurrency} in flight ...", flush=True)
            results = asyncio.run(_drive(proxy, args.requests, args.concurrency))
    return _report(results, args.phi_target)


if __name__ == "__main__":
    sys.exit(main())
