"""wilton-coherence as a process: flags and environment, --once exit codes, SIGTERM, no password in logs.

The proxy's admin API and Prometheus are a small stdlib HTTP server on a free loopback port.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from sidecars.coherence.cli import build_parser, resolve_password

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "cli-Secret-9f3b2"


class Stub(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.bias = 0.0
        self.puts: list[float] = []
        self.hits = 0
        self.prometheus_auth: list[str | None] = []  # the Authorization header of each Prometheus query
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(BaseHTTPRequestHandler):
    server: Stub

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        return json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")

    def do_GET(self):
        with self.server.lock:
            self.server.hits += 1
        if self.path.startswith("/api/v1/query"):
            with self.server.lock:
                self.server.prometheus_auth.append(self.headers.get("Authorization"))
            # like Prometheus for an expression: evaluated at `time` (else now), and timestamp() of an
            # expression's result is its evaluation time; φ is 0.6
            params = parse_qs(urlsplit(self.path).query)
            at = float(params["time"][0]) if "time" in params else time.time()
            value = str(at) if params["query"][0].startswith("timestamp(") else "0.6"
            return self._send(200, {"status": "success", "data": {"resultType": "vector",
                                    "result": [{"metric": {}, "value": [at, value]}]}})
        if self.headers.get("Authorization") != "Bearer tok":
            return self._send(401, {"detail": "no"})
        if self.path == "/wilton/status":
            return self._send(200, {"phi_target": 0.75, "phi_bias": self.server.bias,
                                    "phi": {"replica": 0.6, "global": 0.6}})
        if self.path == "/wilton/weights":
            return self._send(200, {"weights": {}, "phi_bias": self.server.bias})
        self._send(404, {})

    def do_POST(self):
        if self.path == "/wilton/token":
            body = self._body()
            if body == {"username": "admin", "password": PASSWORD}:
                return self._send(200, {"access_token": "tok", "token_type": "bearer", "expires_in": 300})
            return self._send(401, {"detail": "bad credentials"})
        self._send(404, {})

    def do_PUT(self):
        if self.headers.get("Authorization") != "Bearer tok":
            return self._send(401, {"detail": "no"})
        value = self._body()["phi_bias"]
        with self.server.lock:
            self.server.bias = value
            self.server.puts.append(value)
        self._send(200, {"weights": {}, "phi_bias": value})


@pytest.fixture
def stub() -> Iterator[Stub]:
    server = Stub()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WILTON_COHERENCE_", "WILTON_PROXY", "WILTON_PROMETHEUS"))}
    env.update(extra)
    return env


def sidecar(stub: Stub, *args: str, env: dict[str, str] | None = None, **kwargs) -> list[str]:
    return [sys.executable, "-m", "sidecars.coherence", "--proxy-url", stub.url, "--prometheus-url", stub.url,
            "--metrics-port", "0", *args]


def run(cmd, env=None, timeout=30):
    return subprocess.run(cmd, cwd=ROOT, env=env or clean_env(), capture_output=True, text=True, timeout=timeout)


def test_once_succeeds_applies_and_never_logs_the_password(stub):
    result = run(sidecar(stub, "--once", "--password", PASSWORD, "--log-level", "debug"))
    assert result.returncode == 0, result.stderr
    assert stub.puts == [pytest.approx(0.02)]
    logs = result.stdout + result.stderr
    assert PASSWORD not in logs
    assert "visible in the process list" in logs
    assert "correction: phi_bias 0.0000 → 0.0200" in logs


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("closed", ["proxy", "prometheus"])
def test_prometheus_url_credentials_are_sent_as_basic_auth_and_never_reach_the_log(stub, closed):
    port = closed_port()
    ports = {name: port if name == closed else stub.server_address[1] for name in ("proxy", "prometheus")}
    prometheus_url = f"http://user:s3cret@127.0.0.1:{ports['prometheus']}"
    result = run([sys.executable, "-m", "sidecars.coherence", "--once", "--metrics-port", "0", "--log-level", "debug",
                  "--proxy-url", f"http://127.0.0.1:{ports['proxy']}", "--prometheus-url", prometheus_url,
                  "--phi-query", "wilton:phi:ratio_rate5m"],  # no proxy to tell its unit: an explicit query
                 env=clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD))
    logs = result.stdout + result.stderr
    assert result.returncode == 1, logs  # the closed port fails it (and the stub's status φ has no age)
    assert "s3cret" not in logs and "Traceback" not in logs
    assert f"prometheus http://***@127.0.0.1:{ports['prometheus']} (" in logs
    if closed == "proxy":  # Prometheus answered, with the URL's credentials as basic auth
        assert stub.prometheus_auth and set(stub.prometheus_auth) == {
            "Basic " + base64.b64encode(b"user:s3cret").decode()}


@pytest.mark.parametrize(("module", "where"), [
    ("sidecars.coherence", "--username and WILTON_COHERENCE_PASSWORD or --password-file"),
    ("sidecars.insight", "--username and WILTON_INSIGHT_PASSWORD or --password-file (admin API) and "
                         "WILTON_INSIGHT_API_KEY or --api-key-file (the LLM call)"),
])
@pytest.mark.parametrize(("value", "shown"), [
    ("http://user:pw-Leak-7@proxy:4000", "http://***@proxy:4000"),
    ("https://pw-Leak-7@proxy.example/base/", "https://***@proxy.example/base/"),  # a user name alone: basic auth too
])
def test_credentials_in_the_proxy_url_are_a_one_line_usage_error_without_them(module, where, value, shown, tmp_path):
    prog = "wilton-" + module.rpartition(".")[2]
    out = str(tmp_path)  # were the URL accepted, insight's report would go here, not into the repository
    for how, cmd, env in [("flag", [sys.executable, "-m", module, "--once", "--proxy-url", value],
                           clean_env(WILTON_INSIGHT_OUT=out)),
                          ("env", [sys.executable, "-m", module, "--once"],
                           clean_env(WILTON_INSIGHT_OUT=out, WILTON_PROXY_URL=value))]:
        result = run(cmd, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (how, result.stderr)
        assert "pw-Leak-7" not in result.stdout + result.stderr, how
        (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
        assert line == (
            f"{prog}: error: argument --proxy-url: not a usable base URL: {shown!r} (it carries USER:PASSWORD@, "
            "which httpx would send as basic auth in place of the bearer token: every authenticated call would be "
            "refused); expected http(s)://HOST[:PORT][/PATH] (flag or env WILTON_PROXY_URL); without credentials, "
            f"which go in {where}"), how


def test_the_published_default_password_is_not_redacted_into_every_wilton(stub):
    result = run(sidecar(stub, "--once"))  # the development default: the stub refuses it
    assert result.returncode == 1
    assert "using the development default password" in result.stderr
    assert "wilton-coherence:" in result.stderr and "wilton:phi:ratio_rate5m" in result.stderr
    assert "***" not in result.stderr


@pytest.mark.parametrize(("module", "variable", "value", "flag"), [
    ("sidecars.coherence", "WILTON_COHERENCE_LOG_LEVEL", "loud", "--log-level"),
    ("sidecars.insight", "WILTON_INSIGHT_LOG_LEVEL", "loud", "--log-level"),
    ("sidecars.insight", "WILTON_INSIGHT_MODEL", "claude", "--model"),
])
def test_a_bad_choice_from_the_environment_is_a_usage_error(module, variable, value, flag):
    result = run([sys.executable, "-m", module, "--once"], env=clean_env(**{variable: value}))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
    assert f"argument {flag}: invalid choice from the environment: '{value.upper() if flag == '--log-level' else value}'" in line


def test_once_fails_with_a_non_zero_code(stub):
    result = run(sidecar(stub, "--once", "--password", "wrong-one-77"))
    assert result.returncode == 1
    assert stub.puts == [] and "wrong-one-77" not in result.stderr


def test_dry_run_once_puts_nothing(stub):
    result = run(sidecar(stub, "--once", "--dry-run"), env=clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    assert stub.puts == [] and "dry-run: would set phi_bias" in result.stderr
    assert "visible in the process list" not in result.stderr


def test_password_file_and_environment(stub, tmp_path):
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    result = run(sidecar(stub, "--once", "--password-file", str(secret)))
    assert result.returncode == 0, result.stderr
    env = clean_env(WILTON_COHERENCE_PASSWORD_FILE=str(secret), WILTON_PROXY_URL=stub.url,
                    WILTON_PROMETHEUS_URL=stub.url, WILTON_COHERENCE_METRICS_PORT="0", WILTON_COHERENCE_ONCE="1")
    result = run([sys.executable, "-m", "sidecars.coherence"], env=env)
    assert result.returncode == 0, result.stderr
    assert len(stub.puts) == 2


def test_sigterm_ends_a_running_loop_cleanly(stub):
    env = clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD)
    process = subprocess.Popen(sidecar(stub, "--interval", "0.2", "--metrics-port", "0"), cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while len(stub.puts) < 2 and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert len(stub.puts) >= 2, "the loop never ran"
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert "received SIGTERM; stopping" in err and "stopped" in err
    assert PASSWORD not in out + err


def test_sigterm_interrupts_a_long_sleep(stub):
    env = clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD)
    process = subprocess.Popen(sidecar(stub, "--interval", "3600"), cwd=ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not stub.puts and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        assert stub.puts
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=5)
        assert time.monotonic() - started < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0


def test_metrics_are_served_on_their_own_port(stub):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD)
    cmd = [c if c != "0" else str(port) for c in sidecar(stub, "--interval", "0.2")]
    process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        import httpx

        deadline, text = time.monotonic() + 20, ""
        while time.monotonic() < deadline and "wilton_coherence_corrections_total{kind=\"bias\"} 1" not in text:
            try:
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        for name in ("wilton_coherence_corrections_total", "wilton_coherence_observed_phi",
                     "wilton_coherence_data_age_seconds", "wilton_coherence_errors_total",
                     "wilton_coherence_bias", "wilton_coherence_last_success_timestamp_seconds"):
            assert name in text
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=5)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0


def test_start_script_passes_arguments_through(stub):
    result = run([str(ROOT / "start_coherence_daemon.sh"), "--once", "--interval", "5", "--proxy-url", stub.url,
                  "--prometheus-url", stub.url, "--metrics-port", "0"],
                 env=clean_env(WILTON_COHERENCE_PASSWORD=PASSWORD))
    assert result.returncode == 0, result.stderr
    assert "every 5.0 s" in result.stderr and stub.puts


def test_flags_defaults_and_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("WILTON_COHERENCE_", "WILTON_PROXY", "WILTON_PROMETHEUS")):
            monkeypatch.delenv(name)
    args = build_parser().parse_args([])
    assert (args.interval, args.username, args.phi_target, args.metrics_port) == (10.0, "admin", 0.75, 9464)
    assert args.phi_query is None and not args.dry_run and not args.once  # None: the proxy's unit's φ
    monkeypatch.setenv("WILTON_COHERENCE_PHI_QUERY", "my:phi")
    assert build_parser().parse_args([]).phi_query == "my:phi"
    monkeypatch.delenv("WILTON_COHERENCE_PHI_QUERY")
    assert resolve_password(args) == ("wilton", "default")
    monkeypatch.setenv("WILTON_COHERENCE_INTERVAL", "5")
    monkeypatch.setenv("WILTON_COHERENCE_PHI_TARGET", "0.8")
    monkeypatch.setenv("WILTON_COHERENCE_USERNAME", "ops")
    monkeypatch.setenv("WILTON_COHERENCE_PASSWORD", "from-env")
    monkeypatch.setenv("WILTON_COHERENCE_DRY_RUN", "true")
    args = build_parser().parse_args([])
    assert (args.interval, args.phi_target, args.username, args.dry_run) == (5.0, 0.8, "ops", True)
    assert resolve_password(args) == ("from-env", "WILTON_COHERENCE_PASSWORD")
    args = build_parser().parse_args(["--interval", "7", "--password", "argv"])
    assert args.interval == 7.0 and resolve_password(args) == ("argv", "command line")


@pytest.mark.parametrize("argv", [["--interval", "0"], ["--phi-target", "1.5"], ["--metrics-port", "70000"],
                                  ["--max-bias", "0.9"], ["--interval", "nan"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2


@pytest.mark.parametrize("module", ["sidecars.coherence", "sidecars.insight"])
@pytest.mark.parametrize(("flag", "variable", "value", "problem"), [
    ("--proxy-url", "WILTON_PROXY_URL", "http://host:notaport", "Invalid port: 'notaport'"),
    ("--proxy-url", "WILTON_PROXY_URL", "localhost:4000", "no http:// or https://"),
    ("--prometheus-url", "WILTON_PROMETHEUS_URL", "ftp://prom:9090", "the scheme must be http or https, not 'ftp'"),
    ("--prometheus-url", "WILTON_PROMETHEUS_URL", "http://", "no host"),
])
def test_a_bad_url_is_a_one_line_usage_error(module, flag, variable, value, problem):
    for how, cmd, env in [("flag", [sys.executable, "-m", module, "--once", flag, value], clean_env()),
                          ("env", [sys.executable, "-m", module, "--once"], clean_env(**{variable: value}))]:
        result = run(cmd, env=env)
        assert result.returncode == 2 and "Traceback" not in result.stderr, (how, result.stderr)
        (line,) = [x for x in result.stderr.splitlines() if "error:" in x]
        assert f"argument {flag}: not a usable base URL: {value!r} ({problem})" in line, (how, line)
        assert f"(flag or env {variable})" in line
