"""The fake upstreams speak real Ollama and OpenAI protocols, and their injection knobs work."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from wilton_plugin.fakes import FakeUpstreamProcess

PROMPT = [{"role": "user", "content": "Say something deterministic, please."}]
PROMPT_TOKENS = 9  # ceil(36 chars / 4)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeUpstreamProcess]:
    with FakeUpstreamProcess("fake-a", ["llama3.1", "gpt-4o-mini"]) as proc:
        yield proc


@pytest.fixture(autouse=True)
def _fresh(fake: FakeUpstreamProcess) -> None:
    if not fake.running:
        fake.start()
    fake.reset()


@pytest.fixture
def oai(fake: FakeUpstreamProcess) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{fake.url}/v1", api_key="sk-fake", max_retries=0, timeout=5) as client:
        yield client


@pytest.fixture
def oll(fake: FakeUpstreamProcess) -> Iterator[ollama.Client]:
    with ollama.Client(host=fake.url, timeout=5) as client:
        yield client


def test_openai_non_streaming(oai: openai.OpenAI) -> None:
    resp = oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert resp.object == "chat.completion"
    assert resp.choices[0].message.content.startswith("[fake fake-a gpt-4o-mini]")
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage.prompt_tokens == PROMPT_TOKENS
    assert resp.usage.completion_tokens == len(resp.choices[0].message.content.split()) == 16
    assert resp.usage.total_tokens == PROMPT_TOKENS + 16
    again = oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert again.choices[0].message.content == resp.choices[0].message.content


def test_openai_streaming_with_usage(oai: openai.OpenAI) -> None:
    with oai.chat.completions.create(
        model="gpt-4o-mini", messages=PROMPT, stream=True, stream_options={"include_usage": True}, max_tokens=5
    ) as stream:
        chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "[fake fake-a gpt-4o-mini] " + text.split()[-2] + " " + text.split()[-1]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 5


def test_openai_models_and_unknown_model(oai: openai.OpenAI) -> None:
    assert [m.id for m in oai.models.list()] == ["llama3.1", "gpt-4o-mini"]
    with pytest.raises(openai.NotFoundError):
        oai.chat.completions.create(model="gpt-5", messages=PROMPT)


def test_ollama_chat_non_streaming(oll: ollama.Client) -> None:
    resp = oll.chat(model="llama3.1", messages=PROMPT, stream=False, options={"num_predict": 4})
    assert resp.done and resp.done_reason == "length"
    assert resp.message.content == "[fake fake-a llama3.1] " + resp.message.content.split()[-1]
    assert resp.eval_count == 4 and resp.prompt_eval_count == PROMPT_TOKENS
    assert resp.total_duration > 0


def test_ollama_chat_streaming_and_list(oll: ollama.Client) -> None:
    parts = list(oll.chat(model="llama3.1", messages=PROMPT, stream=True))
    assert all(not p.done for p in parts[:-1]) and parts[-1].done
    assert parts[-1].eval_count == 16 and parts[-1].done_reason == "stop"
    assert "".join(p.message.content for p in parts).startswith("[fake fake-a llama3.1]")
    assert [m.model for m in oll.list().models] == ["llama3.1:latest", "gpt-4o-mini:latest"]
    assert oll.show("llama3.1").modelinfo["llama.context_length"] > 0


def test_latency_injection(fake: FakeUpstreamProcess, oai: openai.OpenAI, oll: ollama.Client) -> None:
    fake.configure(latency_ms=200)
    start = time.monotonic()
    oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert time.monotonic() - start >= 0.2
    start = time.monotonic()
    oll.chat(model="llama3.1", messages=PROMPT)
    assert time.monotonic() - start >= 0.2


def test_fail_next(fake: FakeUpstreamProcess, oai: openai.OpenAI, oll: ollama.Client) -> None:
    fake.configure(fail_next=1)
    with pytest.raises(openai.InternalServerError):
        oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT)
    assert oai.chat.completions.create(model="gpt-4o-mini", messages=PROMPT).choices[0].message.content
    fake.configure(fail_next=1, error_status=503)
    with pytest.raises(ollama.ResponseError) as info:
        oll.chat(model="llama3.1", messages=PROMPT)
    assert info.value.status_code == 503
    assert fake.stats()["errors"] == 2


def test_error_rate_is_reproducible(fake: FakeUpstreamProcess) -> None:
    def outcomes() -> list[int]:
        body = {"model": "gpt-4o-mini", "messages": PROMPT}
        with httpx.Client(base_url=fake.url) as client:
            return [client.post("/chat/completions", json=body).status_code for _ in range(20)]

    fake.configure(error_rate=0.5, seed=7)
    first = outcomes()
    fake.configure(seed=0)
    fake.configure(seed=7)  # changing the seed reseeds the generator
    assert outcomes() == first and set(first) == {200, 500}


def test_invalid_config_is_422(fake: FakeUpstreamProcess) -> None:
    for bad in ({"error_rate": 1.5}, {"latency_ms": -1}, {"fail_next": "2"}, {"nope": 1}):
        resp = httpx.post(f"{fake.url}/_fake/config", json=bad)
        assert resp.status_code == 422, bad
        assert resp.json()["error"]["message"]
    with pytest.raises(ValueError, match="error_rate"):
        fake.configure(error_rate=2)
    assert fake.configure()["error_rate"] == 0


def test_stats_and_header(fake: FakeUpstreamProcess, oai: openai.OpenAI, oll: ollama.Client) -> None:
    oll.chat(model="llama3.1", messages=PROMPT)
    list(oll.chat(model="llama3.1", messages=PROMPT, stream=True))
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o-mini", messages=PROMPT)
    assert raw.headers["x-fake-upstream"] == "fake-a"
    stats = fake.stats()
    assert stats["name"] == "fake-a" and stats["requests"] == 3 and stats["streaming"] == 1
    assert stats["by_model"] == {"llama3.1": 2, "gpt-4o-mini": 1}
    assert stats["by_path"] == {"/api/chat": 2, "/v1/chat/completions": 1}
    assert fake.reset()["requests"] == 0


def test_kill_and_restart_on_same_port(fake: FakeUpstreamProcess) -> None:
    port = fake.port
    fake.kill()
    assert not fake.running
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{fake.url}/_fake/stats", timeout=1)
    fake.start()
    assert fake.port == port and fake.stats()["requests"] == 0
    assert fake.stop() == 0  # SIGTERM is a clean exit
    fake.start()
