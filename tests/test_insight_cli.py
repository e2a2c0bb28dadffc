"""wilton-insight as a process against a small stdlib HTTP stub of the proxy and Prometheus: a URL's
credentials never reach the log or the report.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "insight-cli-pw-4242"
DECISIONS = [{"tier": "edge", "team_id": "t1", "status": "success", "difficulty": 0.2}] * 12


class Handler(BaseHTTPRequestHandler):
    """The proxy's token, decision log and status, and Prometheus's range queries (no series)."""

    def log_message(self, *args):  # quiet
        pass

    def _send(self, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/api/v1/query_range"):
            return self._send({"status": "success", "data": {"resultType": "matrix", "result": []}})
        if self.path.startswith("/wilton/decisions"):
            return self._send({"decisions": DECISIONS})
        if self.path == "/wilton/status":
            return self._send({"phi_target": 0.75, "team_targets": {"t1": 0.75}})
        self.send_error(404)

    def do_POST(self):
        if self.path == "/wilton/token":
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            return self._send({"access_token": "tok", "token_type": "bearer", "expires_in": 300})
        self.send_error(404)


@pytest.fixture
def stub() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WILTON_INSIGHT_", "WILTON_PROXY", "WILTON_PROMETHEUS"))}
    return {**env, **extra}


@pytest.mark.parametrize(("closed", "note"), [
    ("prometheus", "Prometheus: Prometheus unreachable at http://***@127.0.0.1:{port} (ConnectError)"),
    ("proxy", "decision log: proxy unreachable at login: ConnectError"),
])
def test_prometheus_url_credentials_never_reach_the_log_nor_the_report(stub, tmp_path, closed, note):
    port = closed_port()
    ports = {name: port if name == closed else stub.server_address[1] for name in ("proxy", "prometheus")}
    # only the Prometheus URL may carry credentials (the proxy URL's are refused at start)
    urls = {"proxy": f"http://127.0.0.1:{ports['proxy']}",
            "prometheus": f"http://user:s3cret@127.0.0.1:{ports['prometheus']}"}
    result = subprocess.run(
        [sys.executable, "-m", "sidecars.insight", "--once", "--log-level", "debug", "--history", "1",
         "--proxy-url", urls["proxy"], "--prometheus-url", urls["prometheus"], "--out", str(tmp_path)],
        cwd=ROOT, env=clean_env(WILTON_INSIGHT_PASSWORD=PASSWORD), capture_output=True, text=True, timeout=120,
    )
    logs = result.stdout + result.stderr
    assert result.returncode == 3, logs  # a report, without the source behind the closed port
    report = {path.name: path.read_text(encoding="utf-8") for path in tmp_path.glob("*.*") if path.suffix in (".md", ".json")}
    assert {"latest.md", "latest.json"} <= set(report) and len(report) == 4
    for name, text in {"log": logs, **report}.items():
        assert "s3cret" not in text, name
    assert "Traceback" not in logs
    assert f"proxy {urls['proxy']}; " in logs
    assert f"prometheus {urls['prometheus'].replace('user:s3cret@', '***@')}; " in logs
    assert note.format(port=port) in report["latest.md"] and note.format(port=port) in logs
