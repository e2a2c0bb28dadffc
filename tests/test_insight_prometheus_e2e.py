"""The insight collector against a real Prometheus scraping two proxy replicas.

Each replica is a tiny exporter whose ``wilton_requests_total`` this test sets. Replica B restarts
(its counter drops to 0) and replica A then fails a few scrapes (Prometheus marks its series stale)
while it keeps counting. The collected count must be the requests really served: no restart or
missed scrape may be counted as new traffic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sidecars.insight.collect import RangeReader, collect_prometheus
from wilton_plugin.devstack import PrometheusServer

pytestmark = [pytest.mark.slow]

LABELS = 'model_group="chat",deployment="edge-1",tier="edge",status="success"'
HOLD = 2.5  # seconds each state is held: at least two 1 s scrapes


class Replica:
    """An exporter on a loopback port: one counter value, or HTTP 503 while ``failing``."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.failing = False
        replica = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                if replica.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                body = f"wilton_requests_total{{{LABELS}}} {replica.value}\n".encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass  # no access log in the test output

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        """host:port for Prometheus."""
        return f"127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        """Stop serving and release the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def replicas() -> Iterator[tuple[Replica, Replica, PrometheusServer]]:
    a, b = Replica(1000), Replica(1000)
    try:
        prom = PrometheusServer({"replica-a": a.target, "replica-b": b.target}).start()
        try:
            yield a, b, prom
        finally:
            prom.close()
    finally:
        a.close()
        b.close()


def _wait_for(prom: PrometheusServer, expected: dict[str, float]) -> None:
    """Until Prometheus's latest sample of each job's counter is the value expected."""
    deadline = time.monotonic() + 20
    seen: dict[str, float] = {}
    while time.monotonic() < deadline:
        seen = {s["metric"]["job"]: float(s["value"][1]) for s in prom.query("wilton_requests_total")}
        if seen == expected:
            return
        time.sleep(0.2)
    raise AssertionError(f"Prometheus has {seen}, not {expected}")


def _hold(a: Replica, b: Replica, value_a: float, value_b: float) -> None:
    a.value, b.value = value_a, value_b
    time.sleep(HOLD)


def test_a_restart_and_missed_scrapes_of_one_replica_are_not_counted_as_traffic(replicas):
    a, b, prom = replicas
    _wait_for(prom, {"replica-a": 1000, "replica-b": 1000})
    time.sleep(1)
    window_start = time.time()
    _hold(a, b, 1010, 1010)
    _hold(a, b, 1020, 1020)
    _hold(a, b, 1020, 0)  # B restarts
    _hold(a, b, 1030, 10)
    _hold(a, b, 1040, 20)
    a.failing = True  # A misses scrapes while it serves 20 more requests
    _hold(a, b, 1060, 20)
    a.failing = False
    _wait_for(prom, {"replica-a": 1060, "replica-b": 20})
    time.sleep(1.5)
    now = time.time()
    with httpx.Client(timeout=10) as client:
        out = collect_prometheus(RangeReader(prom.url, client), (now - window_start) / 3600, now)
    assert out["window"]["step"] == 1.0
    # A: 1000 -> 1060; B: 1000 -> 1020, restart, 0 -> 20
    assert out["requests"] == [{"deployment": "edge-1", "tier": "edge", "status": "success", "count": 60 + 40}]
