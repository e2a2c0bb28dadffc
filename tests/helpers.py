"""Small helpers shared by test modules: send chat requests and read Wilton's headers; the repository's
paths and a clean environment for its scripts; the selector's expected share."""

from __future__ import annotations

import math
import os
import random
import re
from dataclasses import dataclass
from pathlib import Path

import openai

from wilton_plugin.devstack import demo_config
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import check_groups, parse_settings

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy/k8s"
SECRETISH = re.compile(r"KEY|PASSWORD|SECRET|TOKEN", re.I)
LOCAL = ("selfhost", "edge")
DEMO_MODEL_LIST = demo_config("http://127.0.0.1:9", "http://127.0.0.1:9")["model_list"]  # upstreams never called


def in_process_service(**block) -> WiltonService:
    """A WiltonService over the demo deployments, configured by ``block`` (wilton_settings), seeded, no metrics."""
    settings = parse_settings(block)
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), rng=random.Random(3))
    service.bind(DEMO_MODEL_LIST, None)
    return service


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without anything the scripts read, so the tests do not depend on the shell."""
    drop = re.compile(r"^(LITELLM_|OLLAMA_|OPENAI_|GEMINI_|WILTON_|UI_|REDIS_|PROMETHEUS_|PROXY_PORT|METRICS_)")
    env = {k: v for k, v in os.environ.items() if not drop.match(k)}
    env.update(extra)
    return env


@dataclass(frozen=True)
class Outcome:
    """What one request told the client."""

    tier: str | None
    reason: str | None
    phi: str | None
    upstream: str | None
    model_id: str | None


def client(proxy, **kwargs) -> openai.OpenAI:
    """The official OpenAI client pointed at a proxy, no retries."""
    return openai.OpenAI(base_url=f"{proxy.url}/v1", api_key=proxy.master_key, max_retries=0, timeout=30, **kwargs)


PROMPTS = [
    "hello there",
    "Summarise the plot of Hamlet in two sentences.",
    "Write a Python function that merges two sorted lists.\n```python\ndef merge(a, b):\n```",
    "Solve for x: 3x + 7 = 22. Explain each step.",
    "What is the capital of Portugal?",
    "Compare the trade-offs of optimistic and pessimistic locking in a database design.",
    "thanks!",
    "Prove that the square root of 2 is irrational.",
]


def chat(c: openai.OpenAI, i: int, model: str = "chat", headers: dict | None = None) -> Outcome:
    """Send request number ``i`` (prompts cycle) and return Wilton's headers."""
    raw = c.chat.completions.with_raw_response.create(
        model=model,
        messages=[{"role": "user", "content": f"{PROMPTS[i % len(PROMPTS)]} (#{i})"}],
        max_tokens=16,
        extra_headers=headers,
    )
    raw.parse()
    h = raw.headers
    return Outcome(h.get("x-wilton-tier"), h.get("x-wilton-reason"), h.get("x-wilton-phi"),
                   h.get("llm_provider-x-fake-upstream"), h.get("x-litellm-model-id"))


def local_flags(outcomes: list[Outcome]) -> list[bool]:
    """True for each request served by a local tier."""
    return [o.tier in LOCAL for o in outcomes]


def run_extremes(flags: list[bool], run: int) -> tuple[int, int]:
    """(min, max) local count over every run of ``run`` consecutive requests."""
    counts = [sum(flags[i : i + run]) for i in range(len(flags) - run + 1)]
    return min(counts), max(counts)


def expected_share(utility_gap: float, sharpness: float = 4.0, weight_ratio: float = 1.0) -> float:
    """P(first) for two candidates whose utilities differ by ``utility_gap``."""
    odds = weight_ratio * math.exp(sharpness * utility_gap)
    return odds / (1.0 + odds)
