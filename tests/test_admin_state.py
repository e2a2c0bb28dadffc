"""The admin API's writes against a real Redis (atomic runtime + audit, compare-and-set between workers),
its login limiter and timing parameters under concurrency, and the effective team targets it reports."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from wilton_plugin.admin import api as admin_api
from wilton_plugin.admin import load_admin_config, mount_admin_routes
from wilton_plugin.admin.api import dummy_hash
from wilton_plugin.admin.passwords import DEFAULT_N, DEFAULT_P, DEFAULT_R, hash_password, parse_hash
from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.devstack import demo_config, free_port
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import parse_settings
from wilton_plugin.state import REDIS_TIMEOUT_S
from wilton_plugin.state_runtime import CAS_ATTEMPTS, parse_runtime

SECRET = "s" * 64
MASTER = "sk-master-0123456789"
PASSWORD = "correct horse battery"
HASH = hash_password(PASSWORD, n=2**12)
ENV = {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"alice:{HASH}"}
H = {"Authorization": f"Bearer {MASTER}"}


def _app(redis_client=None, settings=None, env=ENV):
    service = WiltonService(parse_settings(settings or {"redis_prefix": f"wilton-{uuid.uuid4().hex[:8]}:"}), {})
    service.bind(demo_config("http://127.0.0.1:9", "http://127.0.0.1:9")["model_list"], redis_client)
    app = FastAPI()
    assert mount_admin_routes(app, service, load_admin_config(env), master_key=lambda: MASTER)
    return app, service


def _client(app):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=("10.0.0.1", 1234)), base_url="http://test")

async def _put_logged(app, caplog, path: str, **kwargs):
    """PUT ``path`` on ``app`` with the audit log captured by ``caplog``."""
    logging.getLogger("wilton.audit").addHandler(caplog.handler)
    try:
        async with _client(app) as c:
            return await c.put(path, **kwargs)
    finally:
        logging.getLogger("wilton.audit").removeHandler(caplog.handler)



@pytest.fixture
async def redis_client(redis_server):
    c = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    yield c
    await c.aclose()


# --- finding: a change and its audit entry are one write ----------------------------------------


@pytest.mark.parametrize("path, body", [("/wilton/target", {"phi_target": 0.5}),
                                        ("/wilton/target", {"phi_target": 0.9, "team": "t1"}),
                                        ("/wilton/weights", {"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.1})])
async def test_a_failing_audit_write_changes_nothing_and_says_so(redis_client, caplog, path, body):
    app, service = _app(redis_client)
    store = service.store
    assert store.shared
    await redis_client.set(store.audit_key, "not a list")  # LPUSH fails with WRONGTYPE
    caplog.set_level(logging.INFO, "wilton.audit")
    r = await _put_logged(app, caplog, path, headers=H, json=body)
    assert r.status_code == 503 and "nothing changed" in r.json()["detail"]
    assert await redis_client.get(store.runtime_key) is None
    assert await store.read_runtime() == RuntimeSettings() and store.runtime_hint() == RuntimeSettings()
    assert [rec for rec in caplog.records if rec.name == "wilton.audit"] == []  # no audit line for a change not made


async def test_weights_and_bias_are_one_write_with_both_audit_entries(redis_client):
    app, service = _app(redis_client)
    writes = []
    real = service.store._publish

    async def counted(**kwargs):
        writes.append(kwargs["args"])
        return await real(**kwargs)

    service.store._publish = counted
    async with _client(app) as c:
        r = await c.put("/wilton/weights", headers=H, json={"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.1})
        status = (await c.get("/wilton/status", headers=H)).json()
    assert r.status_code == 200 and r.json() == {"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.1}
    assert len(writes) == 1 and len(writes[0]) == 5  # expected value, runtime, entries kept, two audit entries
    assert await service.store.read_runtime() == RuntimeSettings(phi_bias=0.1, weights={"edge-llama3.2": 0.5})
    assert [(e["what"], e["old"], e["new"]) for e in status["last_changes"]] == [
        ("phi_bias", 0.0, 0.1), ("weights", {}, {"edge-llama3.2": 0.5})]
    assert status["last_changes"][0]["time"] == status["last_changes"][1]["time"]


async def test_a_write_that_times_out_says_it_may_have_been_applied(redis_client, caplog):
    app, service = _app(redis_client)
    real = service.store._publish

    async def late(**kwargs):  # Redis runs it; the reply comes after the timeout
        result = await real(**kwargs)
        await asyncio.sleep(REDIS_TIMEOUT_S * 4)
        return result

    service.store._publish = late
    r = await _put_logged(app, caplog, "/wilton/target", headers=H, json={"phi_target": 0.5})
    assert r.status_code == 503 and "may have been applied" in r.json()["detail"]
    assert "nothing changed" not in r.json()["detail"]
    assert (await service.store.read_runtime()).phi_target == 0.5  # it was
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "wilton.audit"]
    assert len(lines) == 1 and "outcome unknown" in lines[0] and '"new": 0.5' in lines[0]


class ReplyCutter:
    """A TCP proxy to Redis that cuts the connection instead of relaying the answer to the first ``cuts``
    scripts run (EVALSHA): Redis ran the write, the client never hears back."""

    def __init__(self, redis_port: int, cuts: int) -> None:
        self.redis_port, self.cuts = redis_port, cuts
        self.tasks: set[asyncio.Task] = set()

    async def __aenter__(self) -> ReplyCutter:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc_info) -> None:
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _serve(self, reader, writer) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.redis_port)
        cut = asyncio.Event()  # set when the command just forwarded is a script to cut the answer of

        async def to_redis():
            while data := await reader.read(65536):
                if b"EVALSHA" in data.upper() and self.cuts > 0:
                    cut.set()
                up_writer.write(data)
                await up_writer.drain()

        async def to_client():
            while data := await up_reader.read(65536):
                if cut.is_set() and data.startswith(b"-NOSCRIPT"):  # not run: redis-py loads it and sends it again
                    cut.clear()
                elif cut.is_set():  # Redis answered: the script ran
                    self.cuts -= 1
                    writer.transport.abort()
                    up_writer.close()
                    return
                writer.write(data)
                await writer.drain()

        pumps = [asyncio.create_task(to_redis()), asyncio.create_task(to_client())]
        self.tasks.update(pumps)
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        writer.close()
        up_writer.close()


async def test_a_write_that_lost_its_connection_after_being_sent_says_it_may_have_been_applied(redis_server, caplog):
    no_retry = Retry(NoBackoff(), 0)  # the client's own re-sends are the next test's matter
    refused = aioredis.Redis(host="127.0.0.1", port=free_port(), retry=no_retry)  # before sending: no connection
    app, service = _app(refused)
    async with _client(app) as c:
        r = await c.put("/wilton/target", headers=H, json={"phi_target": 0.5})
    await refused.aclose()
    assert r.status_code == 503 and "nothing changed" in r.json()["detail"]

    async with ReplyCutter(redis_server.port, cuts=1) as cutter:
        client = aioredis.Redis(host="127.0.0.1", port=cutter.port, retry=no_retry)
        app, service = _app(client)
        r = await _put_logged(app, caplog, "/wilton/target", headers=H, json={"phi_target": 0.5})
        await client.aclose()
        assert cutter.cuts == 0  # the answer was cut
    assert r.status_code == 503 and "may have been applied" in r.json()["detail"]
    assert "nothing changed" not in r.json()["detail"] and "ConnectionError" in r.json()["detail"]
    direct = aioredis.Redis(host="127.0.0.1", port=redis_server.port)
    assert parse_runtime(await direct.get(service.store.runtime_key)).phi_target == 0.5  # it was applied
    await direct.aclose()
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "wilton.audit"]
    assert len(lines) == 1 and "outcome unknown" in lines[0] and '"new": 0.5' in lines[0]


async def test_a_write_redis_py_sends_again_after_a_lost_answer_is_applied_once(redis_server):
    async with ReplyCutter(redis_server.port, cuts=1) as cutter:
        client = aioredis.Redis(host="127.0.0.1", port=cutter.port)  # redis-py's default: re-send on a lost connection
        app, _ = _app(client)
        async with _client(app) as c:
            r = await c.put("/wilton/target", headers=H, json={"phi_target": 0.5})
            status = (await c.get("/wilton/status", headers=H)).json()
        await client.aclose()
        assert cutter.cuts == 0
    assert r.status_code == 200 and r.json() == {"phi_target": 0.5, "team": None, "previous": 0.75}
    assert [(e["what"], e["new"]) for e in status["last_changes"]] == [("phi_target", 0.5)]  # once


async def test_admin_change_repairs_a_malformed_runtime(redis_client):
    app, service = _app(redis_client)
    await service.store.set_runtime(RuntimeSettings(weights={"edge-llama3.2": 0.5}))
    await redis_client.set(service.store.runtime_key, "{broken")
    async with _client(app) as c:
        assert (await c.get("/wilton/weights", headers=H)).json() == {"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.0}
        r = await c.put("/wilton/target", headers=H, json={"phi_target": 0.6})
    assert r.status_code == 200
    assert await service.store.read_runtime() == RuntimeSettings(phi_target=0.6, weights={"edge-llama3.2": 0.5})


# --- finding: concurrent changes from several workers are compare-and-set writes ----------------


class ReadTogether:
    """A Redis client whose first ``parties`` reads of ``key`` return only once all of them have read, so
    the writes that follow all start from the same value (two workers' changes interleaved)."""

    def __init__(self, client, parties: int = 2) -> None:
        self.client, self.key, self.waiting = client, None, parties
        self.barrier = asyncio.Barrier(parties)

    def __getattr__(self, name):
        return getattr(self.client, name)

    async def get(self, key):
        value = await self.client.get(key)
        if key == self.key and self.waiting > 0:
            self.waiting -= 1
            await self.barrier.wait()
        return value


async def test_two_workers_changing_the_runtime_at_once_both_keep_their_change(redis_client):
    prefix = {"redis_prefix": f"wilton-{uuid.uuid4().hex[:8]}:"}
    shared = ReadTogether(redis_client)
    (app_a, service_a), (app_b, _) = _app(shared, settings=prefix), _app(shared, settings=prefix)
    shared.key = service_a.store.runtime_key
    async with _client(app_a) as a, _client(app_b) as b:
        ra, rb = await asyncio.gather(a.put("/wilton/target", headers=H, json={"phi_target": 0.9, "team": "x"}),
                                      b.put("/wilton/weights", headers=H, json={"weights": {"edge-llama3.2": 0.5}}))
        status = (await a.get("/wilton/status", headers=H)).json()
    assert ra.status_code == 200 and rb.status_code == 200
    assert shared.waiting == 0  # both read the same runtime before either wrote
    assert await service_a.store.read_runtime() == RuntimeSettings(team_targets={"x": 0.9}, weights={"edge-llama3.2": 0.5})
    assert sorted(e["what"] for e in status["last_changes"]) == ["team_target[x]", "weights"]


class AnotherWriter:
    """A Redis client after each read of whose ``key`` another worker publishes a new value."""

    def __init__(self, client) -> None:
        self.client, self.key, self.writes = client, None, 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    async def get(self, key):
        value = await self.client.get(key)
        if key == self.key:
            self.writes += 1
            await self.client.set(key, json.dumps({"phi_target": 0.4, "revision": f"other-{self.writes}"}))
        return value


async def test_a_change_that_keeps_conflicting_answers_409_and_changes_nothing(redis_client, caplog):
    racing = AnotherWriter(redis_client)
    app, service = _app(racing)
    racing.key = service.store.runtime_key
    r = await _put_logged(app, caplog, "/wilton/target", headers=H, json={"phi_target": 0.9, "team": "x"})
    assert r.status_code == 409 and "nothing changed" in r.json()["detail"]
    assert racing.writes == CAS_ATTEMPTS
    assert json.loads(await redis_client.get(service.store.runtime_key)) == {"phi_target": 0.4, "revision": f"other-{CAS_ATTEMPTS}"}
    assert await redis_client.llen(service.store.audit_key) == 0
    assert [rec for rec in caplog.records if rec.name == "wilton.audit"] == []


async def test_a_write_the_client_sends_twice_is_applied_once(redis_client):
    app, service = _app(redis_client)
    real = service.store._publish

    async def sent_twice(**kwargs):  # what redis-py does when the connection fails after the first send
        await real(**kwargs)
        return await real(**kwargs)

    service.store._publish = sent_twice
    async with _client(app) as c:
        r = await c.put("/wilton/target", headers=H, json={"phi_target": 0.5})
        status = (await c.get("/wilton/status", headers=H)).json()
    assert r.status_code == 200 and r.json() == {"phi_target": 0.5, "team": None, "previous": 0.75}
    assert [(e["what"], e["new"]) for e in status["last_changes"]] == [("phi_target", 0.5)]  # one audit entry


# --- finding: unknown users cost as much as known ones ------------------------------------------


def test_dummy_hash_uses_the_costliest_users_parameters():
    default = load_admin_config({"WILTON_JWT_SECRET": SECRET})
    assert parse_hash(dummy_hash(default))[:3] == (DEFAULT_N, DEFAULT_R, DEFAULT_P)
    strong = hash_password("another password", n=2**14)
    mixed = load_admin_config({**ENV, "WILTON_ADMIN_USERS": f"alice:{HASH},bob:{strong}"})
    assert parse_hash(dummy_hash(mixed))[:3] == (2**14, 8, 1)
    assert parse_hash(dummy_hash(load_admin_config(ENV)))[:3] == (2**12, 8, 1)


async def test_unknown_user_is_checked_with_the_known_users_parameters(monkeypatch):
    strong = hash_password(PASSWORD, n=2**14)  # what `python -m wilton_plugin.admin.passwords hash` makes
    app, _ = _app(env={**ENV, "WILTON_ADMIN_USERS": f"alice:{strong}"})
    checked = []
    real = admin_api.verify_password
    monkeypatch.setattr(admin_api, "verify_password", lambda pw, encoded: checked.append(parse_hash(encoded)[:3]) or real(pw, encoded))
    async with _client(app) as c:
        for user in ("alice", "mallory"):
            assert (await c.post("/wilton/token", json={"username": user, "password": "wrong"})).status_code == 401
    assert checked == [(2**14, 8, 1), (2**14, 8, 1)]


# --- finding: concurrent wrong passwords stay within the limit ----------------------------------


async def test_concurrent_logins_check_at_most_the_limit(monkeypatch):
    app, _ = _app()
    checked = []
    real = admin_api.verify_password

    def slow_verify(pw, encoded):
        checked.append(1)
        return real(pw, encoded)

    monkeypatch.setattr(admin_api, "verify_password", slow_verify)
    async with _client(app) as c:
        replies = await asyncio.gather(*(c.post("/wilton/token", json={"username": "alice", "password": f"guess-{i}"})
                                         for i in range(40)))
    codes = sorted(r.status_code for r in replies)
    assert codes == [401] * 5 + [429] * 35 and len(checked) == 5


async def test_a_good_login_undoes_its_reservation():
    app, _ = _app()
    async with _client(app) as c:
        for _ in range(3):
            assert (await c.post("/wilton/token", json={"username": "alice", "password": PASSWORD})).status_code == 200
        for _ in range(5):
            assert (await c.post("/wilton/token", json={"username": "alice", "password": "bad"})).status_code == 401
        assert (await c.post("/wilton/token", json={"username": "alice", "password": PASSWORD})).status_code == 429


# --- finding: status reports the effective team targets -----------------------------------------


async def test_status_team_targets_merge_static_teams_and_overrides():
    app, _ = _app(settings={"teams": {"static-only": 0.6, "both": 0.7}})
    async with _client(app) as c:
        assert (await c.get("/wilton/status", headers=H)).json()["team_targets"] == {"static-only": 0.6, "both": 0.7}
        await c.put("/wilton/target", headers=H, json={"phi_target": 0.9, "team": "both"})
        await c.put("/wilton/target", headers=H, json={"phi_target": 0.2, "team": "admin-only"})
        assert (await c.get("/wilton/status", headers=H)).json()["team_targets"] == {
            "static-only": 0.6, "both": 0.9, "admin-only": 0.2}
        await c.put("/wilton/target", headers=H, json={"phi_target": None, "team": "both"})  # back to the static one
        assert (await c.get("/wilton/status", headers=H)).json()["team_targets"] == {
            "static-only": 0.6, "both": 0.7, "admin-only": 0.2}


# --- finding: a team's previous and current targets are its effective ones ----------------------


async def test_team_target_answers_and_audits_the_effective_targets():
    app, _ = _app(settings={"teams": {"batch": 0.6}})
    async with _client(app) as c:
        first = (await c.put("/wilton/target", headers=H, json={"phi_target": 0.9, "team": "batch"})).json()
        reset = (await c.put("/wilton/target", headers=H, json={"phi_target": None, "team": "batch"})).json()
        status = (await c.get("/wilton/status", headers=H)).json()
        other = [(await c.put("/wilton/target", headers=H, json={"phi_target": t, "team": "other"})).json()
                 for t in (0.3, None)]
    assert first == {"phi_target": 0.9, "team": "batch", "previous": 0.6}  # the static target was in force
    assert reset == {"phi_target": 0.6, "team": "batch", "previous": 0.9}  # and is in force again
    assert status["team_targets"] == {"batch": 0.6}
    assert [(e["what"], e["old"], e["new"]) for e in status["last_changes"]] == [
        ("team_target[batch]", 0.9, 0.6), ("team_target[batch]", 0.6, 0.9)]
    # a team without a static target: from none and back to none
    assert other == [{"phi_target": 0.3, "team": "other", "previous": None},
                     {"phi_target": None, "team": "other", "previous": 0.3}]
