"""Protocol-faithful fake LLM upstreams (Ollama and OpenAI in one server) for tests, benchmarks and the demo.

Does not import litellm. Run one with `python -m wilton_plugin.fakes --port N --name ollama-1 --models llama3.1`,
or from Python with `FakeUpstreamProcess`, or in-process with the ASGI app from `create_app`.
"""

from .app import create_app
from .cli import main
from .config import FakeConfig
from .process import FakeUpstreamProcess, free_port

__all__ = ["FakeConfig", "FakeUpstreamProcess", "create_app", "free_port", "main"]
