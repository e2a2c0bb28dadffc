"""The demo's traffic: ``wiltonctl hpc schedule-task`` on the demo file when it exists, else a small
built-in mix sent here, with a per-deployment summary (simulated upstreams labelled as such)."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
TASK_FILE = ROOT / "examples" / "llm_demo.json"

MIX = [
    ("chat", "hello! how are you today?", 24),
    ("summary", "Summarise in one sentence: the French Revolution began in 1789 and ended the monarchy.", 48),
    ("code", "Write a Python function that returns the n-th Fibonacci number iteratively.", 64),
    ("maths", "Solve 12x - 7 = 29 and explain each step.", 48),
    ("chat", "What is the capital of Portugal?", 16),
    ("summary", "Summarise the trade-offs between optimistic and pessimistic locking in two sentences.", 48),
    ("chat", "Translate 'good morning' into Portuguese.", 16),
    ("maths", "What is 17 * 23? Answer with the number only.", 16),
]


def schedule_task_available() -> bool:
    """True when ``wiltonctl hpc schedule-task`` and the demo task file exist."""
    try:
        found = importlib.util.find_spec("wilton_plugin.cli.tasks_cmd") is not None
    except ImportError:
        found = False
    return found and TASK_FILE.exists()


def run_schedule_task(proxy_url: str, api_key: str, concurrency: int) -> int:
    """``wiltonctl hpc schedule-task --file examples/llm_demo.json`` against the demo proxy; its exit code.

    The key goes in the environment only, never on the command line (the process list shows argv).
    """
    wiltonctl = Path(sys.executable).with_name("wiltonctl")
    base = [str(wiltonctl)] if wiltonctl.exists() else [sys.executable, "-m", "wilton_plugin.cli.main"]
    help_text = subprocess.run(base + ["hpc", "schedule-task", "--help"], capture_output=True, text=True).stdout
    cmd = base + ["hpc", "schedule-task", "--file", str(TASK_FILE)]
    for flag, value in (("--proxy-url", proxy_url), ("--concurrency", str(concurrency))):
        if flag in help_text:
            cmd += [flag, value]
    env = {**os.environ, "WILTON_PROXY_URL": proxy_url, "LITELLM_PROXY_URL": proxy_url,
           "WILTON_API_KEY": api_key, "LITELLM_API_KEY": api_key, "LITELLM_MASTER_KEY": api_key}  # fmt: skip
    print("$ wiltonctl hpc schedule-task --file examples/llm_demo.json", flush=True)
    return subprocess.run(cmd, env=env, cwd=ROOT).returncode


@dataclass
class Result:
    kind: str
    tier: str
    deployment: str
    seconds: float
    ok: bool
    tokens: int
    text: str


async def _one(client: httpx.AsyncClient, url: str, key: str, i: int) -> Result:
    kind, prompt, max_tokens = MIX[i % len(MIX)]
    started = time.perf_counter()
    try:
        r = await client.post(f"{url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                              json={"model": "chat", "max_tokens": max_tokens,
                                    "messages": [{"role": "user", "content": prompt}]})  # fmt: skip
    except httpx.HTTPError as exc:
        return Result(kind, "?", "?", time.perf_counter() - started, False, 0, repr(exc))
    elapsed = time.perf_counter() - started
    body = r.json() if r.status_code == 200 else {}
    text = (body.get("choices") or [{}])[0].get("message", {}).get("content") or ""
    tokens = (body.get("usage") or {}).get("total_tokens") or 0
    return Result(kind, r.headers.get("x-wilton-tier", "?"), r.headers.get("x-litellm-model-id", "?"),
                  elapsed, r.status_code == 200 and bool(text), tokens, text)  # fmt: skip


async def _drive(url: str, key: str, requests: int, concurrency: int) -> list[Result]:
    semaphore = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=300) as client:

        async def one(i: int) -> Result:
            async with semaphore:
                return await _one(client, url, key, i)

        return await asyncio.gather(*(one(i) for i in range(requests)))


def run_builtin_mix(url: str, key: str, requests: int, concurrency: int, phi_target: float) -> int:
    """Send the built-in mix, print the per-deployment summary; 0 when every request succeeded."""
    print(f"sending the built-in mix: {requests} requests (chat, summaries, code, maths), {concurrency} in flight",
          flush=True)  # fmt: skip
    results = asyncio.run(_drive(url, key, requests, concurrency))
    by_dep: dict[tuple[str, str], list[Result]] = collections.defaultdict(list)
    for r in results:
        if r.ok:
            by_dep[(r.tier, r.deployment)].append(r)
    served = sum(len(v) for v in by_dep.values())
    print(f"\n{'tier':<10}{'deployment':<34}{'req':>5}{'tokens':>8}{'p50 s':>8}{'p95 s':>8}   upstream")
    for (tier, dep), rs in sorted(by_dep.items()):
        times = sorted(r.seconds for r in rs)
        p95 = times[min(len(times) - 1, int(0.95 * len(times)))]
        upstream = "SIMULATED (fake OpenAI server, not a model)" if "simulated" in dep else (
            "real: SmolLM2-135M on llama.cpp" if tier in ("selfhost", "edge") else "real API")
        print(f"{tier:<10}{dep:<34}{len(rs):>5}{sum(r.tokens for r in rs):>8}{statistics.median(times):>8.2f}"
              f"{p95:>8.2f}   {upstream}")  # fmt: skip
    local = sum(len(rs) for (tier, _), rs in by_dep.items() if tier in ("selfhost", "edge"))
    print(f"\nφ (local share) = {local / max(served, 1):.3f}   target = {phi_target:.2f}   "
          f"succeeded = {served}/{len(results)}")  # fmt: skip
    sample = next((r for r in results if r.ok and r.tier in ("selfhost", "edge")), None)
    if sample is not None:
        print(f"a real local answer ({sample.kind}): {sample.text.strip()[:160]!r}")
    for r in [r for r in results if not r.ok][:3]:
        print(f"failed: {r.kind} tier={r.tier} {r.text[:200]}")
    return 0 if served == len(results) else 1
