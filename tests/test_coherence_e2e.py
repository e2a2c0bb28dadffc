"""End to end: a 2-worker proxy *without* Redis, a real Prometheus and the coherence sidecar.

Each worker holds the configured target (0.70) on its own; the sidecar is asked for 0.75 globally,
reads global φ from Prometheus (summed over both workers) and corrects the proxy's ``phi_bias``
through the admin API until the global share is 0.75 ± 0.01. Then the proxy is killed and
restarted: the sidecar keeps running.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from helpers import chat, client
from wilton_plugin.admin.passwords import hash_password
from wilton_plugin.devstack import PrometheusServer
from wilton_plugin.fakes import free_port

pytestmark = [pytest.mark.proxy, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "coherence-e2e-password-0451"
SECRET = "e2e-jwt-secret-0123456789abcdef0123456789"
WINDOW = "20s"
PHI = (
    f'sum(rate(wilton_requests_total{{status="success",tier=~"selfhost|edge"}}[{WINDOW}]))'
    f' / sum(rate(wilton_requests_total{{status="success"}}[{WINDOW}]))'
)


class Traffic:
    """Four client threads, each with its own connection, so both workers get requests."""

    def __init__(self, proxy, max_requests: int = 20_000, max_seconds: float = 240.0) -> None:
        self.proxy = proxy
        self.stop_event = threading.Event()
        self.errors: list[BaseException] = []
        self.sent = 0
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(4)]

    def _run(self, n: int) -> None:
        c = client(self.proxy)
        i = 0
        try:
            while not self.stop_event.is_set() and self.sent < self.max_requests and time.monotonic() < self.deadline:
                chat(c, n * 100_000 + i)
                i += 1
                self.sent += 1
        except BaseException as exc:  # reported by the test, not swallowed
            self.errors.append(exc)
        finally:
            c.close()

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(30)


def _phi(prom: PrometheusServer) -> float | None:
    result = prom.query(PHI)
    if not result or result[0]["value"][1] in ("NaN", "+Inf", "-Inf"):
        return None
    return float(result[0]["value"][1])


def test_the_sidecar_brings_global_phi_to_target_and_survives_a_proxy_restart(proxies, tmp_path):
    metrics_port = free_port()
    env = {
        "WILTON_JWT_SECRET": SECRET,
        "WILTON_ADMIN_USERS": f"coherence:{hash_password(PASSWORD, n=2**12)}:write",
    }
    proxy = proxies.start(proxies.config(wilton_settings={"phi_target": 0.70}), workers=2, env=env,
                          metrics_port=metrics_port)
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD, encoding="utf-8")
    sidecar_metrics = free_port()
    sidecar_log = tmp_path / "coherence.log"
    with PrometheusServer({"wilton-proxy": f"127.0.0.1:{metrics_port}"}) as prom, open(sidecar_log, "wb") as log:
        sidecar = subprocess.Popen(
            [sys.executable, "-m", "sidecars.coherence", "--interval", "2", "--phi-target", "0.75",
             "--proxy-url", proxy.url, "--prometheus-url", prom.url, "--phi-query", PHI,
             "--username", "coherence", "--password-file", str(password_file),
             "--metrics-port", str(sidecar_metrics), "--max-step", "0.02", "--ki", "0.08", "--kp", "0.3"],
            stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            history = []
            with Traffic(proxy) as traffic:
                deadline = time.monotonic() + 150
                settled = 0
                while time.monotonic() < deadline and settled < 5:
                    time.sleep(2)
                    phi = _phi(prom)
                    history.append(phi)
                    settled = settled + 1 if phi is not None and abs(phi - 0.75) <= 0.01 else 0
                assert not traffic.errors, traffic.errors[:3]
            print("global φ every 2 s:", [round(p, 4) if p is not None else None for p in history])
            assert settled >= 5, f"global φ not held at 0.75 ± 0.01: {history}"

            # Kill the proxy (SIGKILL, no drain) and bring it back on the same port.
            os.killpg(proxy.process.pid, signal.SIGKILL)
            proxy.process.wait(10)
            proxy.process = None
            time.sleep(5)  # the sidecar meets connection errors for a few intervals
            assert sidecar.poll() is None, "the sidecar died while the proxy was down"
            proxy.start()
            chat(client(proxy), 0)
            time.sleep(5)
            assert sidecar.poll() is None, "the sidecar died after the proxy came back"
            own = httpx.get(f"http://127.0.0.1:{sidecar_metrics}/metrics", timeout=5).text
            assert "wilton_coherence_corrections_total" in own
        finally:
            sidecar.send_signal(signal.SIGTERM)
            code = sidecar.wait(15)
            proxy.stop()
    text = sidecar_log.read_text(encoding="utf-8", errors="replace")
    assert code == 0, text[-3000:]
    assert PASSWORD not in text and SECRET not in text
