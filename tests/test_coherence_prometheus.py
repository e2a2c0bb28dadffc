"""The coherence sidecar's Prometheus reader and loop against a real Prometheus.

A real instant query answers the *evaluation* time as the sample's time, whatever the data's age;
the reader must take the age from ``timestamp(<query>)``. A tiny exporter serves two series: one
exposed with an explicit timestamp a minute in the past (as a recording rule that stopped being
evaluated leaves it: still visible for the 5-minute lookback, but old) and one scraped every second.
The proxy's admin API is the fake of ``test_coherence_loop`` (through ``httpx.MockTransport``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from sidecars.coherence.clients import AdminClient, NoData, PrometheusReader
from sidecars.coherence.controller import ControllerSettings
from sidecars.coherence.loop import CoherenceLoop
from sidecars.coherence.metrics import CoherenceMetrics
from test_coherence_loop import PASSWORD, PROXY, Clock, Fake
from wilton_plugin.devstack import PrometheusServer

pytestmark = pytest.mark.slow

OLD_BY = 60.0  # seconds: how old the "stale" series' sample is when the exporter starts


class Exporter(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), ExporterHandler)
        self.stale_ms = int((time.time() - OLD_BY) * 1000)

    def text(self) -> str:
        return (f"wilton_test_phi_stale 0.6 {self.stale_ms}\n"  # an explicit, old timestamp
                "wilton_test_phi_fresh 0.6\n")  # stamped with the scrape time


class ExporterHandler(BaseHTTPRequestHandler):
    server: Exporter

    def log_message(self, *args: object) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        data = self.server.text().encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Route(httpx.BaseTransport):
    """Loopback requests (the real Prometheus) go out for real; the rest (the fake proxy) to the fake."""

    def __init__(self, fake: Fake) -> None:
        self.real = httpx.HTTPTransport()
        self.fake = httpx.MockTransport(fake.handler)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return (self.real if request.url.host == "127.0.0.1" else self.fake).handle_request(request)

    def close(self) -> None:
        self.real.close()


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusServer]:
    exporter = Exporter()
    thread = threading.Thread(target=exporter.serve_forever, daemon=True)
    thread.start()
    try:
        with PrometheusServer({"phi": f"127.0.0.1:{exporter.server_address[1]}"}) as server:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not (
                server.query("wilton_test_phi_stale") and server.query("wilton_test_phi_fresh")
            ):
                time.sleep(0.2)
            assert server.query("wilton_test_phi_stale"), server.log_text()[-2000:]
            yield server
    finally:
        exporter.shutdown()
        exporter.server_close()
        thread.join(5)


def test_an_instant_query_gives_the_evaluation_time_and_timestamp_gives_the_data_time(prometheus):
    before = time.time()
    ((sample,),) = [[item["value"] for item in prometheus.query("wilton_test_phi_stale")]]
    assert sample[0] >= before - 1  # what the old reader took for the sample's time: always "now"
    with httpx.Client(timeout=10) as client:
        observation = PrometheusReader(prometheus.url, "wilton_test_phi_stale", client).read()
        assert observation.phi == 0.6
        assert OLD_BY - 1 <= observation.age_s <= OLD_BY + 120
        fresh = PrometheusReader(prometheus.url, "wilton_test_phi_fresh", client).read()
        assert fresh.phi == 0.6 and fresh.age_s <= 10  # scraped every second
        with pytest.raises(NoData):
            PrometheusReader(prometheus.url, "wilton_test_phi_fresh > 1", client).read()


def loop_on(prometheus: PrometheusServer, query: str, client: httpx.Client, fake: Fake, clock: Clock) -> CoherenceLoop:
    admin = AdminClient(PROXY, "admin", PASSWORD, client, clock=clock)
    return CoherenceLoop(ControllerSettings(target=0.75, interval=10.0), admin,
                         PrometheusReader(prometheus.url, query, client), CoherenceMetrics(), clock=clock,
                         wall_clock=clock)


def test_the_loop_acts_on_a_fresh_sample_and_never_on_a_stale_one_or_none(prometheus):
    clock = Clock()
    fake = Fake(clock)  # its status has a count window: no age, never a fallback
    with httpx.Client(transport=Route(fake), timeout=10) as client:
        stale = loop_on(prometheus, "wilton_test_phi_stale", client, fake, clock).iterate()
        assert not stale.ok and fake.puts == []
        assert "prometheus: its φ sample is" in stale.error and "s old (stale after 20 s)" in stale.error

        seen = len(fake.requests)
        held = loop_on(prometheus, "wilton_test_phi_fresh > 1", client, fake, clock).iterate()
        assert held.ok and held.held == "no_data" and fake.puts == []
        assert fake.requests[seen:] == []  # Prometheus answered: the proxy's status is not asked

        fresh = loop_on(prometheus, "wilton_test_phi_fresh", client, fake, clock).iterate()
        assert fresh.ok and fresh.applied and fake.puts == [pytest.approx(0.02)]
        assert fresh.observation.source == "prometheus" and fresh.observation.age_s <= 10
