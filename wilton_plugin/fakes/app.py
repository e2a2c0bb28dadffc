"""The fake upstream ASGI app: Ollama and OpenAI chat endpoints plus the /_fake control API."""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import protocol as p
from .config import FakeConfig

MODIFIED_AT = "2024-07-23T00:00:00.000000000Z"


def _normalise(model: str) -> str:
    """Ollama model names without a tag mean ':latest'."""
    return model if ":" in model else model + ":latest"


class FakeState:
    """Config, random generators and statistics of one fake upstream."""

    def __init__(self, name: str, models: list[str], config: FakeConfig):
        self.name, self.models, self.start_config = name, list(models), config
        self.reset()

    def reset(self) -> None:
        """Zero the statistics and restore the start config and random generators."""
        self.requests = self.streaming = self.errors = self.in_flight = self.max_in_flight = 0
        self.by_model: Counter[str] = Counter()
        self.by_path: Counter[str] = Counter()
        self.set_config(self.start_config, reseed=True)

    def set_config(self, config: FakeConfig, reseed: bool = False) -> None:
        """Install a new config, reseeding the random generators when asked or when the seed changed."""
        if reseed or config.seed != self.config.seed:
            self.error_rng = random.Random(config.seed)
            self.jitter_rng = random.Random(f"jitter-{config.seed}")
        self.config = config

    def stats(self) -> dict[str, Any]:
        """The /_fake/stats payload."""
        return {
            "name": self.name, "requests": self.requests, "by_model": dict(self.by_model),
            "by_path": dict(self.by_path), "streaming": self.streaming, "errors": self.errors,
            "in_flight": self.in_flight, "max_in_flight": self.max_in_flight, "config": self.config.as_dict(),
        }  # fmt: skip

    def serves(self, model: Any) -> bool:
        """Whether `model` is served (Ollama-style ':latest' normalisation applies)."""
        return isinstance(model, str) and _normalise(model) in {_normalise(m) for m in self.models}

    def should_fail(self) -> bool:
        """Decide whether this chat request gets an injected failure (fail_next first, then error_rate)."""
        if self.config.fail_next > 0:
            self.config = self.config.updated({"fail_next": self.config.fail_next - 1})
            return True
        return self.config.error_rate > 0 and self.error_rng.random() < self.config.error_rate

    async def latency(self) -> None:
        """Sleep for the configured latency plus jitter."""
        delay = self.config.latency_ms
        if self.config.latency_jitter_ms > 0:
            delay += self.jitter_rng.uniform(0, self.config.latency_jitter_ms)
        if delay > 0:
            await asyncio.sleep(delay / 1000)

    async def chunk_delay(self) -> None:
        """Sleep between two streamed chunks."""
        if self.config.chunk_delay_ms > 0:
            await asyncio.sleep(self.config.chunk_delay_ms / 1000)


class UpstreamMiddleware:
    """Counts non-control requests and errors, and tags every response with `x-fake-upstream`."""

    def __init__(self, app: ASGIApp, state: FakeState):
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Wrap one ASGI call."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state, counted = self.state, not scope["path"].startswith("/_fake/")
        if counted:
            state.requests += 1
            state.by_path[scope["path"]] += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)

        async def tagged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("x-fake-upstream", state.name)
                if counted and message["status"] >= 400:
                    state.errors += 1
            await send(message)

        try:
            await self.app(scope, receive, tagged_send)
        finally:
            if counted:
                state.in_flight -= 1


def _error(proto: str, status: int, message: str) -> JSONResponse:
    """An error response in the protocol's own shape."""
    body = p.openai_error(status, message) if proto == "openai" else {"error": message}
    return JSONResponse(body, status_code=status)


def _limit(value: Any) -> int | None:
    """A positive integer token limit, or None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


async def _read_request(request: Request, proto: str, kind: str) -> tuple[dict, Response | None]:
    """Parse and validate a chat body; returns (body, error response or None)."""
    state: FakeState = request.app.state.fake
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return {}, _error(proto, 400, f"invalid JSON body: {exc}")
    if not isinstance(body, dict):
        return {}, _error(proto, 400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return body, _error(proto, 400, "model is required")
    if kind == "generate":
        body["messages"] = [{"role": "user", "content": str(body.get("prompt") or "")}]
    if not isinstance(body.get("messages"), list):
        return body, _error(proto, 400, "messages must be a list")
    if not state.serves(model):
        if proto == "openai":
            return body, _error(proto, 404, f"The model `{model}` does not exist or you do not have access to it.")
        return body, _error(proto, 404, f'model "{model}" not found, try pulling it first')
    return body, None


async def _chat(request: Request, proto: str, kind: str = "chat") -> Response:
    """Shared flow of every chat endpoint: validate, count, delay, maybe fail, then answer."""
    state: FakeState = request.app.state.fake
    started = time.monotonic_ns()
    body, error = await _read_request(request, proto, kind)
    if error is not None:
        return error
    model, stream = body["model"], bool(body.get("stream", proto == "ollama"))
    state.by_model[model] += 1
    state.streaming += stream
    await state.latency()
    if state.should_fail():
        return _error(proto, state.config.error_status, f"injected failure from fake upstream {state.name}")
    if proto == "openai":
        limit = _limit(body.get("max_completion_tokens")) or _limit(body.get("max_tokens"))
    else:
        options = body.get("options") if isinstance(body.get("options"), dict) else {}
        limit = _limit(options.get("num_predict"))
    prompt = p.prompt_text(body["messages"])
    reply = p.make_reply(state.name, model, prompt, state.config.reply_words, limit)
    if state.config.reply_text:  # a fixed answer (e.g. the JSON an insight request expects); limit ignored
        reply = p.Reply(words=state.config.reply_text.split(" "), prompt_tokens=reply.prompt_tokens, truncated=False)
    if proto == "openai":
        return _openai_response(state, body, model, reply, stream)
    if not stream:
        return JSONResponse(p.ollama_final(model, kind, reply, reply.content, time.monotonic_ns() - started))
    return StreamingResponse(_ollama_stream(state, model, kind, reply, started), media_type="application/x-ndjson")


async def _ollama_stream(state: FakeState, model: str, kind: str, reply: p.Reply, started: int) -> AsyncIterator[str]:
    """NDJSON chunks of an Ollama streamed reply, then the final `done: true` object."""
    for i, piece in enumerate(reply.pieces):
        if i:
            await state.chunk_delay()
        yield json.dumps(p.ollama_chunk(model, kind, piece)) + "\n"
    await state.chunk_delay()
    yield json.dumps(p.ollama_final(model, kind, reply, "", time.monotonic_ns() - started)) + "\n"


def _openai_response(state: FakeState, body: dict, model: str, reply: p.Reply, stream: bool) -> Response:
    """The OpenAI chat completion, as one object or as an SSE stream."""
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if not stream:
        return JSONResponse(p.openai_completion(cid, created, model, reply))
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True

    async def events() -> AsyncIterator[str]:
        yield _sse(p.openai_chunk(cid, created, model, {"role": "assistant", "content": ""}, None, include_usage))
        for piece in reply.pieces:
            await state.chunk_delay()
            yield _sse(p.openai_chunk(cid, created, model, {"content": piece}, None, include_usage))
        await state.chunk_delay()
        yield _sse(p.openai_chunk(cid, created, model, {}, reply.finish_reason, include_usage))
        if include_usage:
            yield _sse(p.openai_usage_chunk(cid, created, model, reply))
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


def _sse(payload: dict) -> str:
    """One server-sent event line."""
    return f"data: {json.dumps(payload)}\n\n"


async def _ollama_tags(request: Request) -> Response:
    """GET /api/tags: the served models in Ollama's format."""
    state: FakeState = request.app.state.fake
    models = [
        {
            "name": _normalise(m), "model": _normalise(m), "modified_at": MODIFIED_AT, "size": 4_920_753_328,
            "digest": hashlib.sha256(m.encode()).hexdigest(), "details": p.OLLAMA_DETAILS,
        }  # fmt: skip
        for m in state.models
    ]
    return JSONResponse({"models": models})


async def _ollama_show(request: Request) -> Response:
    """POST /api/show: minimal model information."""
    state: FakeState = request.app.state.fake
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError as exc:
        return _error("ollama", 400, f"invalid JSON body: {exc}")
    model = (body.get("model") or body.get("name")) if isinstance(body, dict) else None
    if not state.serves(model):
        return _error("ollama", 404, f"model '{model}' not found")
    info = {"general.architecture": "llama", "general.parameter_count": 8_030_261_248, "llama.context_length": 131072}
    return JSONResponse({
        "license": "", "modelfile": f"FROM {model}", "parameters": "", "template": "{{ .Prompt }}",
        "details": p.OLLAMA_DETAILS, "model_info": info, "capabilities": ["completion"], "modified_at": MODIFIED_AT,
    })  # fmt: skip


async def _openai_models(request: Request) -> Response:
    """GET /v1/models: the served models in OpenAI's format."""
    state: FakeState = request.app.state.fake
    data = [{"id": m, "object": "model", "created": 1_700_000_000, "owned_by": state.name} for m in state.models]
    return JSONResponse({"object": "list", "data": data})


async def _control_config(request: Request) -> Response:
    """GET/POST /_fake/config: read or update the runtime config (422 on invalid values)."""
    state: FakeState = request.app.state.fake
    if request.method == "POST":
        try:
            state.set_config(state.config.updated(json.loads(await request.body() or b"{}")))
        except ValueError as exc:
            return JSONResponse({"error": {"message": str(exc), "type": "invalid_config", "code": 422}}, 422)
    return JSONResponse(state.config.as_dict())


async def _control_reset(request: Request) -> Response:
    """POST /_fake/reset: zero stats and restore the start config."""
    state: FakeState = request.app.state.fake
    state.reset()
    return JSONResponse(state.stats())


def create_app(name: str, models: list[str], config: FakeConfig | None = None) -> ASGIApp:
    """Build the fake upstream ASGI app serving both the Ollama and the OpenAI protocols."""
    state = FakeState(name, models, config or FakeConfig())

    async def stats(request: Request) -> Response:
        """GET /_fake/stats."""
        return JSONResponse(state.stats())

    async def ollama_chat(request: Request) -> Response:
        """POST /api/chat."""
        return await _chat(request, "ollama", "chat")

    async def ollama_generate(request: Request) -> Response:
        """POST /api/generate."""
        return await _chat(request, "ollama", "generate")

    async def openai_chat(request: Request) -> Response:
        """POST /v1/chat/completions."""
        return await _chat(request, "openai")

    async def root(request: Request) -> Response:
        """GET /: Ollama's liveness text."""
        return PlainTextResponse("Ollama is running")

    async def version(request: Request) -> Response:
        """GET /api/version."""
        return JSONResponse({"version": "0.9.0"})

    routes = [
        Route("/", root, methods=["GET", "HEAD"]),
        Route("/api/chat", ollama_chat, methods=["POST"]),
        Route("/api/generate", ollama_generate, methods=["POST"]),
        Route("/api/tags", _ollama_tags, methods=["GET"]),
        Route("/api/show", _ollama_show, methods=["POST"]),
        Route("/api/version", version, methods=["GET"]),
        Route("/v1/chat/completions", openai_chat, methods=["POST"]),
        Route("/chat/completions", openai_chat, methods=["POST"]),
        Route("/v1/models", _openai_models, methods=["GET"]),
        Route("/models", _openai_models, methods=["GET"]),
        Route("/_fake/stats", stats, methods=["GET"]),
        Route("/_fake/config", _control_config, methods=["GET", "POST"]),
        Route("/_fake/reset", _control_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(UpstreamMiddleware, state=state)])
    app.state.fake = state
    return app
