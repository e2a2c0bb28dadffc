"""Shared fixtures: fake upstreams, a real Redis, real LiteLLM proxies with the plugin.

Every server is started on a free loopback port and stopped by its fixture; the session fails if a
child process is still alive at the end.
"""

from __future__ import annotations

import os

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network fetch when litellm is imported

from collections.abc import Iterator
from pathlib import Path

import pytest

from wilton_plugin.devstack import ProxyProcess, RedisServer, demo_config, write_config
from wilton_plugin.fakes import FakeUpstreamProcess


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """Fail the session if a test left a child process running."""
    before = set(_children(os.getpid()))
    yield
    left = set(_children(os.getpid())) - before
    assert not left, f"processes left behind by the tests: {sorted(left)}"


@pytest.fixture(scope="session")
def ollama() -> Iterator[FakeUpstreamProcess]:
    """A fake Ollama host serving the two local models."""
    with FakeUpstreamProcess("ollama", ["llama3.1", "llama3.2:1b"]) as fake:
        yield fake


@pytest.fixture(scope="session")
def openai_upstream() -> Iterator[FakeUpstreamProcess]:
    """A fake OpenAI host serving gpt-4o."""
    with FakeUpstreamProcess("openai", ["gpt-4o"]) as fake:
        yield fake


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a free loopback port."""
    with RedisServer() as server:
        yield server


class ProxyFactory:
    """Starts proxies with configs built from the fakes; stops all of them at teardown."""

    def __init__(self, directory: Path, ollama_url: str, openai_url: str) -> None:
        self.directory = directory
        self.ollama_url = ollama_url
        self.openai_url = openai_url
        self.started: list[ProxyProcess] = []

    def config(self, **kwargs: object) -> dict:
        """A config dict (see ``demo_config``) pointing at the fakes."""
        return demo_config(self.ollama_url, self.openai_url, **kwargs)  # type: ignore[arg-type]

    def start(
        self,
        config: dict,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        wait: bool = True,
        metrics_port: int | None = None,
    ) -> ProxyProcess:
        """Write ``config`` into a fresh directory and start a proxy on it."""
        directory = self.directory / f"proxy{len(self.started)}"
        directory.mkdir()
        env = {"PROMETHEUS_MULTIPROC_DIR": str(directory / "prom"), **(env or {})} if metrics_port else env
        if metrics_port:
            (directory / "prom").mkdir()
        proxy = ProxyProcess(write_config(config, directory), workers=workers, env=env, metrics_port=metrics_port)
        self.started.append(proxy)
        return proxy.start(wait=wait)

    def stop_all(self) -> None:
        """Stop every proxy started by this factory."""
        for proxy in self.started:
            proxy.stop()


@pytest.fixture(scope="module")
def proxies(tmp_path_factory: pytest.TempPathFactory, ollama: FakeUpstreamProcess, openai_upstream: FakeUpstreamProcess) -> Iterator[ProxyFactory]:
    """Start proxies for this module's tests; all stopped at the module's end."""
    factory = ProxyFactory(tmp_path_factory.mktemp("proxies"), ollama.url, openai_upstream.url)
    try:
        yield factory
    finally:
        factory.stop_all()
