"""Deterministic reply text, token counts and the JSON payloads of the Ollama and OpenAI protocols."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

_VOCAB = (
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel",
    "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa",
    "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray",
    "yankee", "zulu", "river", "stone", "cloud", "ember", "maple", "harbor",
)  # fmt: skip

OLLAMA_DETAILS = {
    "parent_model": "",
    "format": "gguf",
    "family": "llama",
    "families": ["llama"],
    "parameter_size": "8.0B",
    "quantization_level": "Q4_K_M",
}


@dataclass(frozen=True)
class Reply:
    """A generated reply: its words, token counts and why it stopped."""

    words: list[str]
    prompt_tokens: int
    truncated: bool

    @property
    def content(self) -> str:
        """The full reply text."""
        return " ".join(self.words)

    @property
    def completion_tokens(self) -> int:
        """Completion tokens: one per word."""
        return len(self.words)

    @property
    def pieces(self) -> list[str]:
        """Stream pieces, one word each, whose concatenation is `content`."""
        return [word if i == 0 else " " + word for i, word in enumerate(self.words)]

    @property
    def finish_reason(self) -> str:
        """'length' when cut by the token limit, else 'stop' (same values in both protocols)."""
        return "length" if self.truncated else "stop"


def prompt_text(messages: list[Any]) -> str:
    """Concatenate the text of chat messages (string content or OpenAI content parts)."""
    texts: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            texts.extend(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return "\n".join(texts)


def make_reply(server: str, model: str, prompt: str, natural_words: int, limit: int | None) -> Reply:
    """Build the deterministic reply to `prompt`, at most `limit` words when a limit is given."""
    digest = hashlib.sha256(prompt.encode()).digest()
    filler = [_VOCAB[(digest[i % len(digest)] + i) % len(_VOCAB)] for i in range(natural_words)]
    words = (f"[fake {server} {model}]".split() + filler)[:natural_words]
    truncated = limit is not None and 0 < limit < len(words)
    if truncated:
        words = words[:limit]
    return Reply(words=words, prompt_tokens=math.ceil(len(prompt) / 4), truncated=truncated)


def now_iso() -> str:
    """Current UTC time in Ollama's RFC 3339 format."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def usage(reply: Reply) -> dict[str, int]:
    """OpenAI usage object for a reply."""
    total = reply.prompt_tokens + reply.completion_tokens
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": total}


def openai_completion(cid: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """A non-streaming OpenAI `chat.completion` object."""
    message = {"role": "assistant", "content": reply.content, "refusal": None}
    choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": reply.finish_reason}
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": model,
        "choices": [choice], "usage": usage(reply), "system_fingerprint": "fp_fake",
    }  # fmt: skip


def openai_chunk(cid: str, created: int, model: str, delta: dict, finish: str | None, with_usage: bool) -> dict:
    """An OpenAI `chat.completion.chunk` with one choice (usage null when usage is requested)."""
    chunk: dict[str, Any] = {
        "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": "fp_fake",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }  # fmt: skip
    if with_usage:
        chunk["usage"] = None
    return chunk


def openai_usage_chunk(cid: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """The final OpenAI usage chunk (empty choices) sent when stream_options.include_usage is set."""
    return {
        "id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
        "system_fingerprint": "fp_fake", "choices": [], "usage": usage(reply),
    }  # fmt: skip


_OPENAI_ERROR_KINDS = {
    400: ("invalid_request_error", None),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_exceeded", "rate_limit_exceeded"),
}


def openai_error(status: int, message: str) -> dict[str, Any]:
    """OpenAI's JSON error shape for an HTTP status."""
    kind, code = _OPENAI_ERROR_KINDS.get(status, ("server_error" if status >= 500 else "invalid_request_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def ollama_chunk(model: str, kind: str, piece: str) -> dict[str, Any]:
    """A streamed Ollama chunk (`done: false`) for /api/chat (kind 'chat') or /api/generate."""
    body: dict[str, Any] = {"model": model, "created_at": now_iso()}
    if kind == "chat":
        body["message"] = {"role": "assistant", "content": piece}
    else:
        body["response"] = piece
    body["done"] = False
    return body


def ollama_final(model: str, kind: str, reply: Reply, content: str, elapsed_ns: int) -> dict[str, Any]:
    """The final Ollama object (`done: true`, counts and durations in nanoseconds)."""
    body = ollama_chunk(model, kind, content)
    eval_ns = reply.completion_tokens * 1_000_000
    body.update({
        "done": True, "done_reason": reply.finish_reason,
        "total_duration": max(elapsed_ns, eval_ns), "load_duration": 1_000_000,
        "prompt_eval_count": reply.prompt_tokens, "prompt_eval_duration": reply.prompt_tokens * 100_000,
        "eval_count": reply.completion_tokens, "eval_duration": eval_ns,
    })  # fmt: skip
    return body
