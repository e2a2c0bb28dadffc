"""Ask the LLM for recommendations **through the proxy** (``POST /v1/chat/completions``).

The model is a proxy model group, so keys, cost tracking and routing stay in the proxy. The answer
is validated against :class:`sidecars.insight.analysis.Recommendations`; any failure becomes one
line (``LlmUnavailable``) that the report prints instead of recommendations.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from sidecars.common.http import REQUEST_ERRORS, request_error

from sidecars.insight.analysis import BadAnswer, Recommendation, parse_recommendations

log = logging.getLogger("wilton.insight")

SYSTEM_PROMPT = (
    "You are an SRE assistant for an LLM proxy that holds a split between local (selfhost, edge) and "
    "frontier deployments. φ (phi) is the local share of the work; phi.target is the share asked for. "
    "You get facts computed by code from Prometheus and from the proxy's decision log. Recommend at most "
    "five concrete configuration or operational changes (wilton_settings keys, deployment weights, "
    "phi_target, capacity). Use only numbers that appear in the facts. Answer with JSON only, exactly: "
    '{"recommendations": [{"change": str, "why": str, "expected_effect": str, "confidence": number in [0, 1]}]}'
)


class LlmUnavailable(Exception):
    """No recommendations this run; the message is the one line the report shows."""


def ask(client: httpx.Client, proxy_url: str, api_key: str | None, model_group: str, facts: dict[str, Any],
        timeout: float = 60.0) -> list[Recommendation]:
    """The validated recommendations, or ``LlmUnavailable`` saying why there are none."""
    if not api_key:
        raise LlmUnavailable("no API key for the LLM call through the proxy (set WILTON_INSIGHT_API_KEY or --api-key)")
    body = {
        "model": model_group,
        "messages": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "Facts:\n" + json.dumps(facts, sort_keys=True, ensure_ascii=False)},
        ],
        "temperature": 0.2,
        "max_tokens": 1500,
    }
    url = f"{proxy_url.rstrip('/')}/v1/chat/completions"
    try:
        response = client.post(url, json=body, headers={"Authorization": f"Bearer {api_key}"}, timeout=timeout)
    except REQUEST_ERRORS as exc:
        raise LlmUnavailable(f"the LLM could not be reached through the proxy ({request_error(exc)})") from exc
    if response.status_code != 200:
        raise LlmUnavailable(f"the proxy answered HTTP {response.status_code} to the LLM request (model group {model_group!r})")
    try:
        content = response.json()["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError):
        raise LlmUnavailable("the proxy's answer to the LLM request has no message content") from None
    if not isinstance(content, str):
        raise LlmUnavailable("the LLM's answer has no text content")
    try:
        return parse_recommendations(content)
    except BadAnswer as exc:
        raise LlmUnavailable(f"{exc}; its answer was ignored") from None
