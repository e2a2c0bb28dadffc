"""``wiltonctl hpc schedule-task``: send a task file's requests through the proxy and summarise them."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from typing import Any, TextIO

from wilton_plugin.cli.argtypes import positive_int, seconds, share
from wilton_plugin.cli.tasks import Result, Task, TaskFileError, load_tasks, progress_bar, render, summarise
from wilton_plugin.errors import WiltonError

EXIT_BAD_FILE = 2
DEFAULT_PROXY_URL = "http://127.0.0.1:4000"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``hpc schedule-task``."""
    hpc = subparsers.add_parser("hpc", help="run workloads through the proxy",
                                description="Run batches of requests through the proxy.")
    commands = hpc.add_subparsers(dest="hpc_command", metavar="HPC_COMMAND")
    run = commands.add_parser(
        "schedule-task",
        help="send a task file's requests through the proxy and summarise them",
        description="Validate a task file (format: examples/README.md), send its requests to the proxy's "
        "OpenAI chat completions endpoint with bounded concurrency, show progress on stderr, and print a "
        "summary per tier and deployment: requests, tokens, latency p50/p95, cost, and the observed local "
        "share (phi) against the target (from GET /wilton/status when reachable, else --phi-target). "
        "Deployments whose id or model contains 'simulated' are marked simulated. "
        "Exit 0 when every task succeeded, 1 when any failed (the summary is still printed) or when the proxy "
        "cannot be reached at all (nothing is sent), 2 when the task file is invalid.",
    )
    run.add_argument("--file", required=True, metavar="TASKS.json", help="the task file")
    run.add_argument("--proxy-url", default=os.environ.get("WILTON_PROXY_URL", DEFAULT_PROXY_URL),
                     help=f"proxy base URL (env WILTON_PROXY_URL; default {DEFAULT_PROXY_URL})")
    run.add_argument("--api-key", default=None,
                     help="bearer key for requests without a team_key; visible in the process list, prefer the "
                     "environment (WILTON_API_KEY, then LITELLM_MASTER_KEY)")
    run.add_argument("--concurrency", type=positive_int, default=4, metavar="N",
                     help="requests in flight at once, >= 1 (default 4)")
    run.add_argument("--timeout", type=seconds, default=120.0, metavar="SECONDS",
                     help="per-request timeout, > 0 (default 120)")
    run.add_argument("--phi-target", type=share, default=0.75,
                     help="target phi in [0, 1] when the proxy's /wilton/status is not reachable (default 0.75)")
    run.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    run.set_defaults(func=_schedule)
    hpc.set_defaults(func=lambda _args: _usage(hpc))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _schedule(args: argparse.Namespace) -> int:
    try:
        tasks = load_tasks(args.file)
    except TaskFileError as exc:
        print(f"wiltonctl: {exc}", file=sys.stderr)
        return EXIT_BAD_FILE
    api_key = args.api_key or os.environ.get("WILTON_API_KEY") or os.environ.get("LITELLM_MASTER_KEY")
    summary = asyncio.run(run_tasks(tasks, args.proxy_url.rstrip("/"), api_key, concurrency=args.concurrency,
                                    timeout=args.timeout, phi_target=args.phi_target, progress=sys.stderr))
    print(json.dumps(summary, indent=2) if args.json else render(summary))
    return 1 if summary["failed"] else 0


class ProxyUnreachable(WiltonError):
    """The proxy could not be reached at all (no connection): no task is sent."""


async def run_tasks(tasks: list[Task], proxy_url: str, api_key: str | None, *, concurrency: int, timeout: float,
                    phi_target: float, progress: TextIO | None, transport: Any = None) -> dict[str, Any]:
    """Send every task (at most ``concurrency`` at once) and return the summary.

    ProxyUnreachable, before any task is sent, when the ``/wilton/status`` probe finds no proxy at
    ``proxy_url`` (an HTTP error answer is not that: the tasks are sent). ``transport``: httpx's, for tests.
    """
    import httpx

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=proxy_url, timeout=timeout, limits=limits, transport=transport) as client:
        target, source = await _target(client, api_key, phi_target)
        queue: asyncio.Queue[Task] = asyncio.Queue()
        for task in tasks:
            queue.put_nowait(task)
        results: list[Result] = []
        meter = _Progress(len(tasks), progress)
        started = time.monotonic()

        async def worker() -> None:
            while not queue.empty():
                task = queue.get_nowait()
                result = await send(client, task, api_key)
                results.append(result)
                meter.update(len(results), sum(1 for r in results if not r.ok))

        await asyncio.gather(*(worker() for _ in range(min(concurrency, len(tasks)))))
        meter.close()
        elapsed = time.monotonic() - started
    order = {task.id: i for i, task in enumerate(tasks)}
    results.sort(key=lambda r: order[r.task_id])
    return summarise(results, phi_target=target, target_source=source, elapsed_s=elapsed, concurrency=concurrency)


async def _target(client: Any, api_key: str | None, fallback: float) -> tuple[float, str]:
    """The proxy's effective phi_target, or the fallback when /wilton/status gives none.

    ProxyUnreachable when no connection to the proxy can be made: every task would fail the same way.
    """
    import httpx

    try:
        response = await client.get("/wilton/status", headers=_auth(api_key), timeout=5)
        if response.status_code == 200:
            return float(response.json()["phi_target"]), "proxy"
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol) as exc:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split()).rstrip(":.")
        raise ProxyUnreachable(f"the proxy at {_shown(str(client.base_url))} cannot be reached ({reason}); no task "
                               "was sent. Start it or correct --proxy-url (env WILTON_PROXY_URL)") from None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        pass
    return fallback, "--phi-target"


def _shown(url: str) -> str:
    """``url`` without a user:password part."""
    scheme, sep, rest = url.partition("://")
    userinfo, at, host = rest.rpartition("@")
    return f"{scheme}{sep}***@{host}" if sep and at else url


def _auth(key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"} if key else {}


async def send(client: Any, task: Task, api_key: str | None) -> Result:
    """One chat completion; never raises for an HTTP or network failure."""
    import httpx

    headers = _auth(task.team_key or api_key)
    if task.tier:
        headers["x-wilton-tier"] = task.tier
    body = {"model": task.model, "messages": task.messages, "max_tokens": task.max_tokens}
    started = time.monotonic()
    try:
        response = await client.post("/v1/chat/completions", json=body, headers=headers)
    except httpx.HTTPError as exc:
        return Result(task.id, False, error=f"{type(exc).__name__}: {exc}".strip().rstrip(":"))
    latency = time.monotonic() - started
    h = response.headers
    if response.status_code != 200:
        return Result(task.id, False, status=response.status_code, tier=h.get("x-wilton-tier"),
                      latency_s=latency, error=_error_text(response))
    try:
        payload = response.json()
        usage = payload.get("usage") or {}
    except (ValueError, AttributeError):
        return Result(task.id, False, status=200, latency_s=latency, error="response is not a JSON object")
    return Result(task.id, True, status=200, tier=h.get("x-wilton-tier"), deployment=h.get("x-litellm-model-id"),
                  model=payload.get("model"), latency_s=latency, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                  completion_tokens=int(usage.get("completion_tokens") or 0),
                  cost_usd=_float(h.get("x-litellm-response-cost")))


def _float(text: str | None) -> float:
    try:
        return float(text) if text else 0.0
    except ValueError:
        return 0.0


def _error_text(response: Any) -> str:
    """The server's error message, on one line, shortened."""
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else body
        message = error.get("message") or error.get("detail") if isinstance(error, dict) else error
        text = str(message if message is not None else body)
    except ValueError:
        text = response.text
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:197] + "..."


class _Progress:
    """A bar redrawn in place on a TTY; otherwise a plain line every 10%."""

    def __init__(self, total: int, stream: TextIO | None) -> None:
        self.total, self.stream = total, stream
        self.tty = bool(stream is not None and hasattr(stream, "isatty") and stream.isatty())
        self.next_line = 0

    def update(self, done: int, failed: int) -> None:
        if self.stream is None:
            return
        if self.tty:
            self.stream.write("\r" + progress_bar(done, self.total, failed))
            self.stream.flush()
        elif done >= self.next_line or done == self.total:
            self.stream.write(f"progress: {done}/{self.total} done, {failed} failed\n")
            self.stream.flush()
            self.next_line = done + max(1, self.total // 10)

    def close(self) -> None:
        if self.stream is not None and self.tty:
            self.stream.write("\n")
            self.stream.flush()
