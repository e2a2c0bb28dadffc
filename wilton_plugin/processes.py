"""A server process of ours for tests, benchmarks and the demo: its own process group, a log file, an
HTTP readiness probe, and SIGTERM then SIGKILL to the whole group when it stops."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Self

import httpx


def stop_process_group(process: subprocess.Popen[bytes] | None, timeout: float) -> int | None:
    """SIGTERM a process started with ``start_new_session``, SIGKILL after ``timeout``, then kill
    whatever it left in its group; returns its exit code (None when there was no process)."""
    if process is None:
        return None
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)
    try:
        os.killpg(process.pid, signal.SIGKILL)  # leftovers in the group (workers, exporters)
    except (ProcessLookupError, PermissionError):
        pass
    return process.returncode


class ServerProcess:
    """A loopback server in its own session; subclasses set ``port``, ``log_path``, ``startup_timeout``
    in ``__init__`` and supply ``command``, the ``name`` used in messages and the ``ready_path`` probed."""

    name = "server"
    ready_path = "/"  # GET until it answers 200
    tail_lines = 40  # of the log: log_tail's default and in start-up errors
    stop_timeout = 15.0  # seconds between SIGTERM and SIGKILL: stop's default
    port: int
    log_path: Path
    startup_timeout: float
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:4000."""
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        """The command line that starts the server (subclasses)."""
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        """The server's environment: ours, with unbuffered Python output."""
        return {**os.environ, "PYTHONUNBUFFERED": "1"}

    def start(self, wait: bool = True) -> Self:
        """Start the server, appending to its log; with ``wait``, block until ready (stopped if it never is)."""
        with open(self.log_path, "ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.environment(), start_new_session=True,
            )  # fmt: skip
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.stop()
                raise
        return self

    def wait_ready(self) -> None:
        """Poll ``ready_path`` until it answers 200; raise with the log tail if the server exits or is late."""
        deadline = time.monotonic() + self.startup_timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.url}{self.ready_path}").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise TimeoutError(f"{self.name} not ready after {self.startup_timeout:.0f}s:\n{self.log_tail()}")

    def log_text(self) -> str:
        """The whole log so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    def log_tail(self, lines: int | None = None) -> str:
        """The last ``lines`` of the log (default ``tail_lines``)."""
        return "\n".join(self.log_text().splitlines()[-(self.tail_lines if lines is None else lines) :])

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM the process group, SIGKILL after ``timeout`` (default ``stop_timeout``); returns the exit code."""
        process, self.process = self.process, None
        return stop_process_group(process, self.stop_timeout if timeout is None else timeout)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
