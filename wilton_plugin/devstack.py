"""Local processes for tests, benchmarks and the demo: a real LiteLLM proxy, a real Redis, a real Prometheus.

Every process binds to loopback on a free port and is stopped (SIGTERM, then SIGKILL; the proxy's
whole process group) by its context manager. The proxy and Prometheus write their logs to files
(shown in start-up errors); Redis runs without a log.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from wilton_plugin.fakes import free_port
from wilton_plugin.processes import ServerProcess

MASTER_KEY = "sk-wilton-dev-0123456789abcdef"


def demo_config(
    ollama_url: str,
    openai_url: str,
    *,
    wilton_settings: Mapping[str, Any] | None = None,
    router_settings: Mapping[str, Any] | None = None,
    group: str = "chat",
    plugin: bool = True,
    extra_litellm_settings: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A LiteLLM config with one group: selfhost + edge on Ollama, frontier on OpenAI."""
    model_list = [
        {
            "model_name": group,
            "litellm_params": {"model": "ollama_chat/llama3.1", "api_base": ollama_url},
            "model_info": {"id": "selfhost-llama3.1", "wilton_tier": "selfhost", "wilton_phi_score": 0.7},
        },
        {
            "model_name": group,
            "litellm_params": {"model": "ollama_chat/llama3.2:1b", "api_base": ollama_url},
            "model_info": {"id": "edge-llama3.2", "wilton_tier": "edge", "wilton_phi_score": 0.5},
        },
        {
            "model_name": group,
            "litellm_params": {"model": "openai/gpt-4o", "api_base": f"{openai_url}/v1", "api_key": "sk-fake-upstream-key"},
            "model_info": {
                "id": "frontier-gpt-4o",
                "wilton_tier": "frontier",
                "wilton_phi_score": 0.95,
                "input_cost_per_token": 2.5e-06,
                "output_cost_per_token": 1e-05,
            },
        },
    ]
    if not plugin:
        for deployment in model_list:
            deployment["model_info"] = {"id": deployment["model_info"]["id"]}
    litellm_settings: dict[str, Any] = {"drop_params": True, **(extra_litellm_settings or {})}
    if plugin:
        litellm_settings["callbacks"] = ["wilton_plugin.proxy.handler"]
    config: dict[str, Any] = {
        "model_list": model_list,
        "litellm_settings": litellm_settings,
        "router_settings": {"routing_strategy": "simple-shuffle", **(router_settings or {})},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    if plugin:
        config["wilton_settings"] = dict(wilton_settings or {})
    return config


def write_config(config: Mapping[str, Any], directory: str | Path) -> Path:
    """Write a config dict as YAML into ``directory``; returns the path."""
    path = Path(directory) / "litellm_config.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return path


class ProxyProcess(ServerProcess):
    """A real ``litellm`` proxy process on a loopback port."""

    name = "proxy"
    ready_path = "/health/liveliness"

    def __init__(
        self,
        config_path: str | Path,
        *,
        port: int | None = None,
        workers: int = 1,
        env: Mapping[str, str] | None = None,
        log_dir: str | Path | None = None,
        startup_timeout: float = 90.0,
        extra_args: tuple[str, ...] = (),
        metrics_port: int | None = None,
    ) -> None:
        self.config_path = Path(config_path)
        self.port = port or free_port()
        self.workers = workers
        self.env = dict(env or {})
        self.log_path = Path(log_dir or self.config_path.parent) / f"proxy-{self.port}.log"
        self.startup_timeout = startup_timeout
        self.extra_args = extra_args
        self.metrics_port = metrics_port
        self.master_key = self.env.get("LITELLM_MASTER_KEY", MASTER_KEY)

    @property
    def metrics_url(self) -> str | None:
        """The exporter serving every worker's metrics summed, when ``metrics_port`` is set."""
        return f"http://127.0.0.1:{self.metrics_port}/metrics" if self.metrics_port is not None else None

    def command(self) -> list[str]:
        """The command line that starts the proxy."""
        litellm = shutil.which("litellm", path=os.path.dirname(sys.executable)) or "litellm"
        args = [litellm, "--config", str(self.config_path), "--host", "127.0.0.1", "--port", str(self.port)]
        if self.workers > 1:
            args += ["--num_workers", str(self.workers)]
        if self.metrics_port is not None:
            args += ["--prometheus_metrics_port", str(self.metrics_port)]
        return args + list(self.extra_args)

    def environment(self) -> dict[str, str]:
        """The proxy's environment: LiteLLM's bundled cost map (no fetch from GitHub), the master key.

        No LITELLM_TELEMETRY: LiteLLM 1.106.2 reads no such variable (its ``--telemetry`` flag is a no-op).
        """
        env = dict(os.environ)
        env.update(
            {
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
                "LITELLM_MASTER_KEY": self.master_key,
                "PYTHONUNBUFFERED": "1",
            }
        )
        env.update(self.env)
        return env


class _LocalServer:
    """A server process of ours with a scratch directory: ``stop`` ends it, ``close`` also cleans up.

    A failed ``start`` closes too (no process, no directory left behind); make a new server to retry.
    """

    process: subprocess.Popen[bytes] | None
    _dir: str | Path
    stop_timeout = 10.0

    def start(self) -> Any:
        """Start the server and wait until it is ready; on any failure, stop it and remove the directory."""
        try:
            return self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> Any:
        """Start the server and wait until it is ready (subclasses); raise when it is not."""
        raise NotImplementedError

    def stop(self) -> None:
        """SIGTERM the server, SIGKILL after ``stop_timeout``."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)

    def close(self) -> None:
        """Stop and remove the scratch directory."""
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class RedisServer(_LocalServer):
    """A real ``redis-server`` on a loopback port, no persistence, in a temporary directory."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = tempfile.mkdtemp(prefix="wilton-redis-")

    def _start(self) -> RedisServer:
        """Start it and wait until it answers PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found; install Debian's redis-server (.ci/run does)")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self._dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.ping():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode} before answering on "
                                   f"port {self.port}")
            time.sleep(0.05)
        raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def ping(self) -> bool:
        """True when the server answers PING."""
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False



class PrometheusServer(_LocalServer):
    """A real ``prometheus`` on a loopback port, scraping the given targets every second."""

    def __init__(self, targets: Mapping[str, str], rule_files: tuple[str | Path, ...] = (), port: int | None = None) -> None:
        self.port = port or free_port()
        self.targets = dict(targets)  # job name -> host:port (path /metrics)
        self.rule_files = tuple(str(Path(p).resolve()) for p in rule_files)
        self.process: subprocess.Popen[bytes] | None = None
        self._dir = Path(tempfile.mkdtemp(prefix="wilton-prometheus-"))

    @property
    def url(self) -> str:
        """Base URL of the HTTP API."""
        return f"http://127.0.0.1:{self.port}"

    def config(self) -> dict[str, Any]:
        """The prometheus.yml this server runs with."""
        return {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": list(self.rule_files),
            "scrape_configs": [
                {"job_name": job, "static_configs": [{"targets": [target]}]} for job, target in self.targets.items()
            ],
        }

    def _start(self) -> PrometheusServer:
        """Start it and wait until it is ready."""
        binary = shutil.which("prometheus")
        if binary is None:
            raise RuntimeError("prometheus not found; install Debian's prometheus (.ci/run does)")
        config = self._dir / "prometheus.yml"
        config.write_text(yaml.safe_dump(self.config(), sort_keys=False), encoding="utf-8")
        log = open(self._dir / "prometheus.log", "ab")  # noqa: SIM115 - handed to the child
        try:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={self._dir / 'data'}",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        finally:
            log.close()
        deadline = time.monotonic() + 30
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(f"{self.url}/-/ready").status_code == 200:
                        return self
                except httpx.TransportError:
                    pass
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"prometheus did not become ready:\n{self.log_text()[-2000:]}")

    def log_text(self) -> str:
        """Prometheus's own log."""
        path = self._dir / "prometheus.log"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""

    def query(self, expr: str) -> list[dict[str, Any]]:
        """Run an instant query; raises on a PromQL error, returns the result vector."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        if body.get("status") != "success":
            raise ValueError(f"query failed: {expr!r}: {body.get('error')}")
        result = body["data"]["result"]
        return result if isinstance(result, list) else [result]

