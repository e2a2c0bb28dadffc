"""Run a fake upstream as a real subprocess, for tests, benchmarks and the demo."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from .cli import CONFIG_FLAGS
from .config import FakeConfig

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # the directory holding `wilton_plugin/`


def free_port(host: str = "127.0.0.1") -> int:
    """A currently free TCP port on `host`, picked by binding a socket to port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class FakeUpstreamProcess:
    """A fake upstream in its own process: `with FakeUpstreamProcess("ollama-1", ["llama3.1"]) as fake: ...`."""

    def __init__(
        self,
        name: str = "fake",
        models: list[str] | tuple[str, ...] = ("llama3.1",),
        port: int | None = None,
        host: str = "127.0.0.1",
        startup_timeout: float = 15.0,
        **config: Any,
    ):
        FakeConfig().updated(config)  # fail fast on a bad option
        self.name, self.models, self.host = name, list(models), host
        self.port = port or free_port(host)
        self.startup_timeout = startup_timeout
        self._config = config
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: Any = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT (append /v1 for OpenAI clients)."""
        return f"http://{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        """Whether the subprocess is alive."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running server, if any."""
        return self._proc.pid if self._proc is not None else None

    def command(self) -> list[str]:
        """The command line that starts the server."""
        cmd = [sys.executable, "-m", "wilton_plugin.fakes", "--host", self.host, "--port", str(self.port)]
        cmd += ["--name", self.name, "--models", ",".join(self.models)]
        for flag in CONFIG_FLAGS:
            if flag.replace("-", "_") in self._config:
                cmd += [f"--{flag}", str(self._config[flag.replace("-", "_")])]
        return cmd

    def start(self) -> FakeUpstreamProcess:
        """Start the server (again, on the same port) and wait until it answers."""
        if self.running:
            raise RuntimeError(f"fake upstream {self.name!r} is already running on port {self.port}")
        self._close_stderr()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_PACKAGE_ROOT, env.get("PYTHONPATH")]))
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env
        )
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise
        return self

    def _wait_ready(self) -> None:
        """Poll GET /_fake/stats until it answers with our name; raise RuntimeError with stderr otherwise."""
        assert self._proc is not None
        deadline, last_error = time.monotonic() + self.startup_timeout, "no attempt"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"fake upstream {self.name!r} exited with code {self._proc.returncode} during start-up "
                    f"on port {self.port}; stderr:\n{self.stderr_text()}"
                )
            try:
                response = httpx.get(f"{self.url}/_fake/stats", timeout=1.0)
                if response.status_code == 200 and response.json().get("name") == self.name:
                    return
                last_error = f"HTTP {response.status_code}: {response.text[:200]}"
            except httpx.TransportError as exc:
                last_error = repr(exc)
            time.sleep(0.05)
        raise RuntimeError(
            f"fake upstream {self.name!r} did not answer on {self.url} within {self.startup_timeout}s "
            f"(last error: {last_error}); stderr:\n{self.stderr_text()}"
        )

    def stderr_text(self) -> str:
        """The last 4000 characters the subprocess wrote to stderr."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-4000:]

    def _close_stderr(self) -> None:
        """Close the stderr capture file, if open."""
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def kill(self) -> int | None:
        """SIGKILL the server (a crashed upstream) and reap it; returns its exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
        code = self._proc.wait()
        self._proc = None
        return code

    def stop(self) -> int | None:
        """SIGTERM the server and wait, SIGKILL after 5 s; returns its exit code (0 on a clean exit)."""
        if self._proc is None:
            self._close_stderr()
            return None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
        code = self._proc.wait()
        self._proc = None
        self._close_stderr()
        return code

    def stats(self) -> dict[str, Any]:
        """GET /_fake/stats."""
        response = httpx.get(f"{self.url}/_fake/stats", timeout=5.0)
        response.raise_for_status()
        return response.json()

    def configure(self, **changes: Any) -> dict[str, Any]:
        """POST /_fake/config; returns the new config, raises ValueError on invalid values."""
        response = httpx.post(f"{self.url}/_fake/config", json=changes, timeout=5.0)
        if response.status_code == 422:
            raise ValueError(response.json()["error"]["message"])
        response.raise_for_status()
        return response.json()

    def reset(self) -> dict[str, Any]:
        """POST /_fake/reset: zero the stats and restore the start config; returns the fresh stats."""
        response = httpx.post(f"{self.url}/_fake/reset", timeout=5.0)
        response.raise_for_status()
        return response.json()

    def __enter__(self) -> FakeUpstreamProcess:
        """Start the server unless it already runs."""
        if not self.running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Always stop the server."""
        self.stop()

    def __repr__(self) -> str:
        """Name, URL and liveness."""
        return f"FakeUpstreamProcess(name={self.name!r}, url={self.url!r}, running={self.running})"
