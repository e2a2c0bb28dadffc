"""``make demo``'s secrets (wilton_plugin/demo.py, demo_traffic.py), checked without running the demo: the
model, the upstreams and the proxy are replaced by recorders."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from wilton_plugin import demo, demo_traffic
from wilton_plugin.devstack import MASTER_KEY, ProxyProcess


class _Stop(Exception):
    """Ends the demo where the proxy would start."""


class _Url:
    """A started server's stand-in: a URL, a context manager."""

    url = "http://127.0.0.1:9"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __enter__(self) -> _Url:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def _demo_master_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> str:
    """Run demo.main() up to the proxy's start; the master key the proxy would have been started with."""
    seen: list[str] = []

    class Recording(ProxyProcess):
        def __enter__(self) -> ProxyProcess:
            seen.append(self.master_key)
            raise _Stop

    for name in ("OPENAI_API_KEY", "GEMINI_API_KEY", "LITELLM_MASTER_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(demo, "find_gguf", lambda: tmp_path / "model.gguf")
    monkeypatch.setattr(demo, "check_llama_server", lambda: None)
    monkeypatch.setattr(demo, "LocalModelServer", _Url)
    monkeypatch.setattr(demo, "FakeUpstreamProcess", _Url)
    monkeypatch.setattr(demo, "ProxyProcess", Recording)
    monkeypatch.setattr(demo.tempfile, "mkdtemp", lambda prefix: str(tmp_path / "run"))
    (tmp_path / "run").mkdir(exist_ok=True)
    with pytest.raises(_Stop):
        demo.main(["--reports", str(tmp_path / "reports")])
    assert len(seen) == 1
    return seen[0]


def test_the_demo_proxy_gets_a_fresh_master_key_per_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    first = _demo_master_key(monkeypatch, tmp_path)
    second = _demo_master_key(monkeypatch, tmp_path, OPENAI_API_KEY="sk-real-looking-upstream-key")
    assert MASTER_KEY not in (first, second)
    assert first != second
    assert first.startswith("sk-") and len(first) >= 32


def test_schedule_task_gets_the_key_from_the_environment_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str] | None]] = []

    def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        calls.append((cmd, kwargs.get("env")))
        return subprocess.CompletedProcess(cmd, 0, stdout="--proxy-url --api-key --concurrency", stderr="")

    monkeypatch.setattr(demo_traffic.subprocess, "run", run)
    key = "sk-demo-secret-0123456789"
    assert demo_traffic.run_schedule_task("http://127.0.0.1:9", key, 4) == 0
    cmd, env = calls[-1]
    assert "schedule-task" in cmd and "--proxy-url" in cmd
    assert not any(key in arg for arg in cmd), "the key is on the command line (visible in ps)"
    assert "--api-key" not in cmd
    assert env is not None and env["WILTON_API_KEY"] == key
