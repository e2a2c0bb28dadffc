"""The admin API on a real proxy: two workers sharing Redis, a change seen by both and routing on it."""

from __future__ import annotations

import subprocess
import time

import httpx
import pytest

from helpers import chat, client, local_flags
from wilton_plugin.admin.passwords import hash_password
from wilton_plugin.devstack import ProxyProcess, write_config
from wilton_plugin.proxy import CONFIG_EXIT_CODE

pytestmark = pytest.mark.proxy

SECRET = "proxy-test-secret-0123456789abcdef-xyz"
PASSWORD = "ops-password-not-the-seed"


@pytest.fixture(scope="module")
def proxy(proxies, redis_server):
    config = proxies.config(
        router_settings={"redis_host": "127.0.0.1", "redis_port": redis_server.port},
        wilton_settings={"redis_prefix": "wilton-admin-test:"},
    )
    env = {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"ops:{hash_password(PASSWORD, n=2**12)}"}
    started = proxies.start(config, workers=2, env=env)
    yield started
    started.stop()


def _token(proxy) -> str:
    r = httpx.post(f"{proxy.url}/wilton/token", json={"username": "ops", "password": PASSWORD}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _status(proxy, token) -> dict:
    with httpx.Client(timeout=5) as fresh:  # a new connection each time: uvicorn spreads them over workers
        r = fresh.get(f"{proxy.url}/wilton/status", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()


def test_routes_answer_401_themselves_not_litellm(proxy):
    assert httpx.get(f"{proxy.url}/wilton/status", timeout=5).status_code == 401
    r = httpx.get(f"{proxy.url}/wilton/status", headers={"Authorization": "Bearer sk-wrong"}, timeout=5)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    r = httpx.get(f"{proxy.url}/wilton/weights", headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"weights": {}, "phi_bias": 0.0}


def test_target_change_reaches_both_workers_and_routing(proxy):
    token = _token(proxy)
    r = httpx.put(f"{proxy.url}/wilton/target", json={"phi_target": 1.0},
                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json() == {"phi_target": 1.0, "team": None, "previous": 0.75}
    changed_at = time.monotonic()
    seen: dict[int, float] = {}
    while time.monotonic() - changed_at < 5 and len(seen) < 2:
        status = _status(proxy, token)
        assert status["phi_target"] == 1.0  # Redis holds it: every worker reads the same
        assert status["shared_state"] is True
        seen.setdefault(status["worker_pid"], time.monotonic() - changed_at)
    print(f"target visible on workers after {seen}")
    assert len(seen) == 2 and max(seen.values()) < 1.0
    assert status["last_changes"][0]["who"] == "ops" and status["last_changes"][0]["new"] == 1.0

    time.sleep(1.1)  # runtime_refresh_seconds: routing re-reads the runtime settings
    c = client(proxy)
    flags = local_flags([chat(c, i) for i in range(20)])
    assert all(flags), flags

    status = _status(proxy, token)
    assert status["phi"]["global"] is not None and status["window"]["count"] >= 20
    # the shared window's oldest entry, on the proxy's clock: how old the global φ's data is, at most
    assert 0 <= status["time"] - status["window"]["oldest_at"] < 600
    log = proxy.log_text()
    lines = [line for line in log.splitlines() if "wilton audit" in line]
    assert len(lines) == 1, lines
    assert '"who": "ops"' in lines[0] and '"old": 0.75' in lines[0] and '"new": 1.0' in lines[0]
    assert token not in log and PASSWORD not in log and SECRET not in log

    r = httpx.put(f"{proxy.url}/wilton/target", json={"phi_target": None},
                  headers={"Authorization": f"Bearer {proxy.master_key}"}, timeout=10)
    assert r.json() == {"phi_target": 0.75, "team": None, "previous": 1.0}


def test_bad_body_changes_nothing_on_the_proxy(proxy):
    token = _token(proxy)
    before = _status(proxy, token)
    for body in ('{"phi_target": NaN}', '{"phi_target": 2}', '{"weights": {"nope": 1}}'):
        path = "/wilton/weights" if "weights" in body else "/wilton/target"
        r = httpx.put(f"{proxy.url}{path}", content=body, timeout=10,
                      headers={"Authorization": f"Bearer {token}", "content-type": "application/json"})
        assert r.status_code == 422, r.text
    after = _status(proxy, token)
    assert {k: v for k, v in after.items() if k in ("phi_target", "weights", "phi_bias", "last_changes")} == {
        k: v for k, v in before.items() if k in ("phi_target", "weights", "phi_bias", "last_changes")}


def test_seed_password_refuses_start_without_dev_mode(proxies, tmp_path):
    config = proxies.config()
    env = {"WILTON_JWT_SECRET": SECRET, "UI_USERNAME": "admin", "UI_PASSWORD": "wilton"}
    refused = ProxyProcess(write_config(config, tmp_path), env=env)
    refused.start(wait=False)
    try:
        code = refused.process.wait(60)
    except subprocess.TimeoutExpired:
        refused.stop()
        pytest.fail(f"proxy started with the seed password:\n{refused.log_tail()}")
    log = refused.log_text()
    refused.stop()
    assert code == CONFIG_EXIT_CODE
    lines = [line for line in log.splitlines() if line.startswith("wilton: ")]
    assert lines == ["wilton: Wilton config 'UI_PASSWORD' has value '<redacted>'. "
                     "The well-known password 'wilton' is refused; choose another or set WILTON_DEV_MODE=1."], log[-2000:]
    assert "Traceback" not in log
