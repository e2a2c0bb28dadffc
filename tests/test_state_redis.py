"""The Redis state store against a real redis-server: replays, idempotent writes, one hash slot, errors counted."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry
from redis.crc import key_slot

from wilton_plugin import state
from wilton_plugin.devstack import free_port
from wilton_plugin.metrics import Metrics
from wilton_plugin.settings import parse_settings
from wilton_plugin.state import REDIS_TIMEOUT_S, RedisStore, tagged_prefix
from wilton_plugin.state_local import LocalStore, Record


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Injected:
    """Wraps the store's Lua script: ``fail`` calls raise before reaching Redis, ``slow`` calls reach
    Redis and then lose the reply (it arrives after the store's timeout)."""

    def __init__(self, script, fail: int = 0, slow: int = 0) -> None:
        self.script, self.fail, self.slow, self.calls = script, fail, slow, 0

    async def __call__(self, **kwargs):
        self.calls += 1
        if self.fail:
            self.fail -= 1
            raise redis.ConnectionError("injected: connection refused")
        result = await self.script(**kwargs)
        if self.slow:
            self.slow -= 1
            await asyncio.sleep(REDIS_TIMEOUT_S * 4)
        return result


@pytest.fixture
async def client(redis_server):
    c = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    yield c
    await c.aclose()


def _store(client, clock: Clock, metrics: Metrics | None = None, **settings) -> RedisStore:
    raw = {"redis_prefix": f"wilton-{uuid.uuid4().hex[:8]}:", "redis_retry_seconds": 1.0, **settings}
    kwargs = {"metrics": metrics} if metrics is not None else {}
    return RedisStore(parse_settings(raw), client, clock, **kwargs)


def _messages(caplog, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


async def _primed(client, clock: Clock, **kwargs) -> RedisStore:
    """A store whose Redis already holds its debts (so a reconnect replays instead of re-seeding)."""
    store = _store(client, clock, **kwargs)
    await store.record(Record(clock(), {"global": 0.0}, 0.0, 0.0))
    return store


@pytest.mark.parametrize("primed", [True, False], ids=["redis-kept-its-data", "redis-came-back-empty"])
async def test_concurrent_requests_replay_the_queue_once(client, caplog, primed):
    caplog.set_level(logging.WARNING, "wilton")
    clock = Clock()
    store = await _primed(client, clock) if primed else _store(client, clock)
    store._script = Injected(store._script, fail=1)
    for _ in range(3):  # the first fails (Redis down), the next two are queued without trying
        await store.record(Record(clock(), {"global": -0.5}, 0.0, 0.0))
    assert store.available is False
    clock.now += 2.0  # past the retry delay: every request below may try to reconnect
    await asyncio.gather(*(store.record(Record(clock(), {"global": 0.1}, 0.0, 0.0)) for _ in range(5)))
    assert store.available is True
    assert (await store.snapshot(("global",))).debts["global"] == pytest.approx(-1.0)  # -1.5 + 0.5, each once
    assert len(_messages(caplog, "Redis is back")) == 1
    assert _messages(caplog, "reconnect failed") == []


async def test_replay_skips_a_write_redis_ran_after_its_reply_was_lost(client):
    clock = Clock()
    store = await _primed(client, clock)
    store._script = Injected(store._script, slow=1)
    totals = await store.record(Record(clock(), {"global": 0.5}, 1.0, 1.0))  # Redis applies it; the reply is late
    assert store.available is False and totals.count == 1  # the mirror's view
    clock.now += 2.0
    totals = await store.record(Record(clock(), {"global": 0.25}, 0.0, 1.0))  # reconnect, replay, then this one
    assert store.available is True
    assert (await store.snapshot(("global",))).debts["global"] == pytest.approx(0.75)  # not 1.25
    assert (totals.count, totals.local, totals.total) == (2, 1.0, 2.0)  # not 3 entries
    await store.totals()  # carries the last acknowledgements
    assert await client.scard(store.keys[3]) == 0  # nothing left to recognise: the set stays small
    assert 0 < await client.ttl(store.keys[3]) or not await client.exists(store.keys[3])


async def test_a_replay_that_fails_keeps_the_record_first_in_the_queue(client):
    clock = Clock()
    store = await _primed(client, clock)
    store._script = Injected(store._script, fail=2)  # the write, then the first replay attempt
    await store.record(Record(clock(), {"global": -0.5}, 0.0, 0.0))
    await store.record(Record(clock(), {"global": 0.2}, 0.0, 0.0))
    clock.now += 2.0
    await store.record(Record(clock(), {"global": 0.1}, 0.0, 0.0))  # the replay fails: all three stay queued
    assert store.available is False and [r.deltas["global"] for _, r in store._pending] == [-0.5, 0.2, 0.1]
    clock.now += 2.0
    await store.record(Record(clock(), {"global": 0.05}, 0.0, 0.0))
    assert (await store.snapshot(("global",))).debts["global"] == pytest.approx(-0.15)


# --- a full replay queue: every dropped record counted, one log line per outage ---------------------

DROPPED = "wilton_state_dropped_records_total"


async def test_a_full_replay_queue_drops_the_oldest_counts_each_and_logs_once_per_outage(client, caplog, monkeypatch):
    monkeypatch.setattr(state, "MAX_PENDING", 4)
    caplog.set_level(logging.WARNING, "wilton")
    clock, registry = Clock(), CollectorRegistry()
    store = await _primed(client, clock, metrics=Metrics(registry))
    store._script = Injected(store._script, fail=1)
    for i in range(7):  # the first write fails: all seven are queued, the three oldest dropped
        await store.record(Record(clock(), {"global": 0.01 * (i + 1)}, 0.0, 0.0))
    assert registry.get_sample_value(DROPPED) == 3
    assert [r.deltas["global"] for _, r in store._pending] == pytest.approx([0.04, 0.05, 0.06, 0.07])
    assert len(_messages(caplog, "dropping the oldest")) == 1
    clock.now += 2.0
    await store.record(Record(clock(), {"global": 0.0}, 0.0, 0.0))  # Redis is back: the newest four replayed
    assert store.available and (await store.snapshot(("global",))).debts["global"] == pytest.approx(0.22)
    store._script = Injected(store._script.script, fail=1)  # a second outage logs again
    for _ in range(6):
        await store.record(Record(clock(), {"global": 0.01}, 0.0, 0.0))
    assert registry.get_sample_value(DROPPED) == 5
    assert len(_messages(caplog, "dropping the oldest")) == 2


async def test_records_queued_during_a_failed_replay_are_counted_when_the_queue_overflows(client, monkeypatch):
    monkeypatch.setattr(state, "MAX_PENDING", 3)
    clock, registry = Clock(), CollectorRegistry()
    store = await _primed(client, clock, metrics=Metrics(registry))
    store._script = Injected(store._script, fail=1)
    for i in range(3):  # down, and the queue is full
        await store.record(Record(clock(), {"global": 0.01 * (i + 1)}, 0.0, 0.0))
    started, release = asyncio.Event(), asyncio.Event()

    async def replay_fails_late(**kwargs):  # the first replayed record is in flight, then the connection fails
        started.set()
        await release.wait()
        raise redis.ConnectionError("injected: connection reset")

    store._script = replay_fails_late
    clock.now += 2.0
    replay = asyncio.create_task(store.record(Record(clock(), {"global": 0.04}, 0.0, 0.0)))
    await started.wait()
    await store.record(Record(clock(), {"global": 0.05}, 0.0, 0.0))  # queued while the replay runs
    release.set()
    await replay
    # 0.04 is queued after its reconnect attempt; the oldest went, the newest stayed (a deque's maxlen drops
    # the newest when the failed record is put back first)
    assert [r.deltas["global"] for _, r in store._pending] == pytest.approx([0.03, 0.05, 0.04])
    assert registry.get_sample_value(DROPPED) == 2  # 0.01 when the replay failed, 0.02 when 0.04 was queued


@pytest.mark.parametrize("prefix", ["wilton:", "w2:", "team-a:wilton:", "x", ":", "app:{tenant}:", "{w}", "a{b:"])
def test_every_key_of_a_prefix_hashes_to_one_slot(prefix):
    store = RedisStore(parse_settings({"redis_prefix": prefix}), redis.Redis())  # no connection is made
    keys = [*store.keys, store.runtime_key, store.audit_key]
    assert len({key_slot(k.encode()) for k in keys}) == 1, keys
    assert all(k.startswith(tagged_prefix(prefix)) for k in keys)


def test_prefixes_stay_distinct_and_readable():
    assert tagged_prefix("wilton:") == "{wilton}:"
    assert tagged_prefix("app:{tenant}:") == "app:{tenant}:"  # already tagged: the operator chose the slot
    prefixes = ["wilton:", "wilton", "wilton::", "w2:", "team-a:wilton:", "{}:", "x"]
    assert len({tagged_prefix(p) for p in prefixes}) == len(prefixes)


async def test_every_failed_operation_is_counted_but_logged_once(client, caplog):
    caplog.set_level(logging.WARNING, "wilton")
    clock = Clock()
    metrics = Metrics(CollectorRegistry())
    store = await _primed(client, clock, metrics=metrics)
    store._script = Injected(store._script, fail=3)
    await store.record(Record(clock(), {"global": 0.5}, 0.0, 0.0))  # write fails
    for _ in range(2):
        clock.now += 2.0
        await store.record(Record(clock(), {"global": 0.5}, 0.0, 0.0))  # reconnect: the replay fails
    assert metrics.errors.labels(stage="state")._value.get() == 3
    assert len(_messages(caplog, "routing on local state")) == 1
    clock.now += 2.0
    await store.record(Record(clock(), {"global": 0.5}, 0.0, 0.0))
    assert store.available and (await store.snapshot(("global",))).debts["global"] == pytest.approx(2.0)
    assert metrics.errors.labels(stage="state")._value.get() == 3


async def test_malformed_runtime_keeps_the_last_good_one_and_stays_shared(client, caplog):
    caplog.set_level(logging.WARNING, "wilton")
    clock = Clock()
    metrics = Metrics(CollectorRegistry())
    store = _store(client, clock, metrics)
    await client.set(store.runtime_key, '{"phi_target": 0.6, "phi_bias": 0.1}')
    assert (await store.snapshot(("global",))).runtime.phi_target == 0.6
    for bad in ('{"phi_target": 0.6', '{"phi_target": "high"}', "[1, 2]", '{"weights": {"a": NaN}}'):
        await client.set(store.runtime_key, bad)
        for _ in range(2):
            clock.now += 1.0  # runtime_refresh_seconds
            snap = await store.snapshot(("global",))
            assert snap.shared is True and snap.runtime.phi_target == 0.6 and snap.runtime.phi_bias == 0.1
    assert store.available is True
    logged = _messages(caplog, "malformed runtime")
    assert len(logged) == 4 and all(store.runtime_key in line for line in logged)  # once per bad value
    assert _messages(caplog, "routing on local state") == []
    assert metrics.errors.labels(stage="state")._value.get() == 8
    await client.set(store.runtime_key, '{"phi_target": 0.9}')
    clock.now += 1.0
    assert (await store.snapshot(("global",))).runtime.phi_target == 0.9


# --- a real Redis Cluster (one node holding every slot), reached through LiteLLM's own client -----


@pytest.fixture
def redis_cluster() -> Iterator[int]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server not found")
    port, directory = free_port(), tempfile.mkdtemp(prefix="wilton-cluster-")
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--cluster-enabled", "yes", "--cluster-config-file", f"{directory}/nodes.conf",
                                # the bus port defaults to port + 10000, past 65535 for a high free port
                                "--cluster-port", str(free_port()),
                                "--dir", directory, "--loglevel", "warning"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        admin = redis.Redis(host="127.0.0.1", port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                admin.execute_command("CLUSTER", "ADDSLOTSRANGE", 0, 16383)
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        while b"cluster_state:ok" not in admin.execute_command("CLUSTER", "INFO"):
            assert time.monotonic() < deadline, "cluster did not become ok"
            time.sleep(0.05)
        admin.close()
        yield port
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(directory, ignore_errors=True)


async def test_the_store_works_on_a_redis_cluster_configured_through_litellm(redis_cluster):
    from litellm import Router

    router = Router(model_list=[{"model_name": "m", "litellm_params": {"model": "openai/m", "api_key": "x"}}],
                    redis_host="127.0.0.1", redis_port=redis_cluster,
                    cache_kwargs={"startup_nodes": [{"host": "127.0.0.1", "port": redis_cluster}]})
    client = router.cache.redis_cache.init_async_client()  # what the strategy hands to the service
    assert isinstance(client, aioredis.RedisCluster)
    clock = Clock()
    store = _store(client, clock)
    try:
        for i in range(4):
            totals = await store.record(Record(clock(), {"global": 0.25}, 1.0 if i % 2 else 0.0, 1.0))
        snap = await store.snapshot(("global",))
        assert store.available is True, "a CROSSSLOT error took the store down"
        assert snap.shared and snap.debts["global"] == pytest.approx(1.0)
        assert (totals.count, totals.local) == (4, 2.0)
        runtime = type(snap.runtime)(phi_target=0.6)
        await store.set_runtime(runtime, [{"who": "t", "what": "phi_target", "old": None, "new": 0.6, "time": 1.0}])
        assert await store.read_runtime() == runtime and (await store.changes())[0]["new"] == 0.6
    finally:
        await client.aclose()


@pytest.mark.parametrize("kind, size", [("count", 10), ("time", 30)])
async def test_window_totals_say_when_their_oldest_entry_was_recorded(client, kind, size):
    # /wilton/status reports it, so the coherence sidecar can bound the age of a count window's φ.
    clock = Clock(1000.0)
    redis_store = _store(client, clock, window={"kind": kind, "size": size})
    local_store = LocalStore(redis_store.settings, clock)
    for s in (redis_store, local_store):
        assert (await s.totals()).oldest is None
    for t in [1000.0 + 4 * i for i in range(11)]:  # 1000 .. 1040
        clock.now = t
        for s in (redis_store, local_store):
            await s.record(Record(t, {}, 1.0, 1.0))
    for s in (redis_store, local_store):
        totals = await s.totals()
        assert (totals.count, totals.oldest) == ((10, 1004.0) if kind == "count" else (8, 1012.0)), s
    clock.now = 1100.0
    expected = 1004.0 if kind == "count" else None  # a count window's entries never age out
    for s in (redis_store, local_store):
        assert (await s.totals()).oldest == expected, s
