"""wilton_plugin.devstack's local servers: a failed start leaves neither a process nor a scratch directory."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from wilton_plugin import devstack
from wilton_plugin.devstack import PrometheusServer, RedisServer


def _servers() -> list[RedisServer | PrometheusServer]:
    return [RedisServer(), PrometheusServer({"nothing": "127.0.0.1:9"})]


@pytest.mark.parametrize("binary", ["/nonexistent/bin/server", shutil.which("false") or "/bin/false", None],
                         ids=["missing-binary", "exits-at-once", "not-installed"])
@pytest.mark.parametrize("make", [0, 1], ids=["redis", "prometheus"])
def test_a_failed_start_removes_the_scratch_directory(monkeypatch: pytest.MonkeyPatch, binary: str | None,
                                                      make: int) -> None:
    monkeypatch.setattr(devstack.shutil, "which", lambda name, *args, **kwargs: binary)
    server = _servers()[make]
    scratch = Path(server._dir)
    assert scratch.is_dir()
    with pytest.raises((RuntimeError, OSError)):
        with server:
            pytest.fail("started")
    assert not scratch.exists(), f"{scratch} left behind"
    assert server.process is None


def test_a_failed_start_outside_a_with_block_cleans_up_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devstack.shutil, "which", lambda name, *args, **kwargs: "/nonexistent/bin/redis-server")
    server = RedisServer()
    with pytest.raises(FileNotFoundError):
        server.start()
    assert not os.path.exists(server._dir)
