"""Admin API auth and validation, in process: a small FastAPI app with the admin routes (no proxy)."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import sys
import time

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from wilton_plugin.admin import load_admin_config
from wilton_plugin.admin.api import mount_admin_routes
from wilton_plugin.admin.passwords import hash_password, verify_password
from wilton_plugin.admin.tokens import LoginLimiter, issue_token
from wilton_plugin.devstack import demo_config
from wilton_plugin.errors import ConfigError
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import check_groups, parse_settings

SECRET = "s" * 64
OLD_SECRET = "o" * 40
MASTER = "sk-master-0123456789"
ALICE_PW = "correct horse battery"
BOB_PW = "read only reader"
ALICE = hash_password(ALICE_PW, n=2**12)
BOB = hash_password(BOB_PW, n=2**12)
ENV = {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"alice:{ALICE},bob:{BOB}:read"}


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _service() -> WiltonService:
    service = WiltonService(parse_settings(None, {}), {})
    service.bind(demo_config("http://127.0.0.1:9", "http://127.0.0.1:9")["model_list"], None)
    return service


def _app(env=ENV, clock=None, limiter=None):
    service = _service()
    app = FastAPI()
    kwargs = {"master_key": lambda: MASTER}
    if clock is not None:
        kwargs["clock"] = clock
    if limiter is not None:
        kwargs["limiter"] = limiter
    assert mount_admin_routes(app, service, load_admin_config(env), **kwargs)
    assert not mount_admin_routes(app, service, load_admin_config(env), **kwargs)  # idempotent
    return app, service


def _client(app, ip="10.0.0.1"):
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(ip, 1234)), base_url="http://test")


def _bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def _login(c, user="alice", password=ALICE_PW):
    r = await c.post("/wilton/token", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def _claims(**over):
    now = int(time.time())
    claims = {"iss": "wilton", "aud": "wilton-admin", "sub": "alice", "iat": now, "nbf": now, "exp": now + 300,
              "jti": "x", "scope": "wilton:read wilton:write", "pwf": load_admin_config(ENV).users["alice"].fingerprint}
    claims.update(over)
    return claims


def _kid(env=ENV):
    return load_admin_config(env).current.kid


async def test_login_issues_a_token_with_the_contract_claims():
    app, _ = _app()
    async with _client(app) as c:
        r = await c.post("/wilton/token", json={"username": "alice", "password": ALICE_PW})
    body = r.json()
    assert r.status_code == 200 and body["token_type"] == "bearer" and body["expires_in"] == 300
    header = jwt.get_unverified_header(body["access_token"])
    claims = jwt.decode(body["access_token"], SECRET, algorithms=["HS256"], audience="wilton-admin", issuer="wilton")
    assert header["alg"] == "HS256" and header["kid"] == _kid()
    assert claims["sub"] == "alice" and claims["scope"] == "wilton:read wilton:write"
    assert claims["exp"] - claims["iat"] == 300 and claims["nbf"] == claims["iat"] and claims["jti"]


async def test_bad_password_and_unknown_user_are_401():
    app, _ = _app()
    async with _client(app) as c:
        for user, pw in (("alice", "nope"), ("mallory", ALICE_PW)):
            r = await c.post("/wilton/token", json={"username": user, "password": pw})
            assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"


REJECTED = {
    "no token": lambda: {},
    "not bearer": lambda: {"Authorization": f"Basic {SECRET}"},
    "garbage": lambda: _bearer("not-a-jwt"),
    "expired": lambda: _bearer(jwt.encode(_claims(exp=int(time.time()) - 60, iat=int(time.time()) - 400, nbf=int(time.time()) - 400),
                                          SECRET, "HS256", headers={"kid": _kid()})),
    "wrong signature": lambda: _bearer(jwt.encode(_claims(), "x" * 40, "HS256", headers={"kid": _kid()})),
    "wrong audience": lambda: _bearer(jwt.encode(_claims(aud="someone-else"), SECRET, "HS256", headers={"kid": _kid()})),
    "wrong issuer": lambda: _bearer(jwt.encode(_claims(iss="evil"), SECRET, "HS256", headers={"kid": _kid()})),
    "unknown kid": lambda: _bearer(jwt.encode(_claims(), SECRET, "HS256", headers={"kid": "nobody"})),
    "no kid": lambda: _bearer(jwt.encode(_claims(), SECRET, "HS256")),
    "wrong algorithm": lambda: _bearer(jwt.encode(_claims(), SECRET, "HS512", headers={"kid": _kid()})),
    "missing exp": lambda: _bearer(jwt.encode({k: v for k, v in _claims().items() if k != "exp"}, SECRET, "HS256",
                                              headers={"kid": _kid()})),
    "wrong master key": lambda: _bearer(MASTER + "x"),
}


def _alg_none() -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none', 'typ': 'JWT', 'kid': _kid()})}.{enc(_claims())}."


REJECTED["alg none"] = lambda: _bearer(_alg_none())
REJECTED["no password fingerprint"] = lambda: _bearer(jwt.encode({k: v for k, v in _claims().items() if k != "pwf"}, SECRET,
                                                                 "HS256", headers={"kid": _kid()}))
REJECTED["unknown subject"] = lambda: _bearer(jwt.encode(_claims(sub="mallory"), SECRET, "HS256", headers={"kid": _kid()}))
REJECTED["alg none with signature"] = lambda: _bearer(_alg_none() + "c2ln")


@pytest.mark.parametrize("name", sorted(REJECTED))
async def test_every_bad_token_is_401(name):
    app, _ = _app()
    async with _client(app) as c:
        for method, path in (("GET", "/wilton/status"), ("PUT", "/wilton/target"), ("GET", "/wilton/weights")):
            r = await c.request(method, path, headers=REJECTED[name](), json={"phi_target": 0.5})
            assert r.status_code == 401, (name, path, r.text)
            assert r.headers["www-authenticate"] == "Bearer"


async def test_missing_scope_is_403_and_read_works():
    app, service = _app()
    async with _client(app) as c:
        token = await _login(c, "bob", BOB_PW)
        assert (await c.get("/wilton/status", headers=_bearer(token))).status_code == 200
        assert (await c.get("/wilton/weights", headers=_bearer(token))).status_code == 200
        for path, body in (("/wilton/target", {"phi_target": 0.5}), ("/wilton/weights", {"phi_bias": 0.1})):
            r = await c.put(path, headers=_bearer(token), json=body)
            assert r.status_code == 403 and "insufficient_scope" in r.headers["www-authenticate"]
        scopeless = jwt.encode(_claims(scope=""), SECRET, "HS256", headers={"kid": _kid()})
        assert (await c.get("/wilton/status", headers=_bearer(scopeless))).status_code == 403
    assert service.store.runtime_hint().phi_target is None


async def _restarted(env, token, method="GET", path="/wilton/status", body=None):
    """The answer of a proxy restarted with ``env`` (same signing key) to a token issued before."""
    app, service = _app(env)
    async with _client(app) as c:
        r = await c.request(method, path, headers=_bearer(token), json=body)
    return r, service


async def test_a_token_is_worth_what_its_user_is_worth_now():
    app, _ = _app()
    async with _client(app) as c:
        token = await _login(c)
    r, _ = await _restarted(ENV, token, "PUT", "/wilton/target", {"phi_target": 0.6})
    assert r.status_code == 200  # same users: the token still works
    removed = {**ENV, "WILTON_ADMIN_USERS": f"bob:{BOB}:read"}
    r, _ = await _restarted(removed, token)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    demoted = {**ENV, "WILTON_ADMIN_USERS": f"alice:{ALICE}:read,bob:{BOB}:read"}
    r, service = await _restarted(demoted, token, "PUT", "/wilton/target", {"phi_target": 0.6})
    assert r.status_code == 403 and "insufficient_scope" in r.headers["www-authenticate"]
    assert service.store.runtime_hint().phi_target is None
    r, _ = await _restarted(demoted, token)
    assert r.status_code == 200  # still a reader
    new_password = {**ENV, "WILTON_ADMIN_USERS": f"alice:{hash_password('a brand new password', n=2**12)},bob:{BOB}:read"}
    r, _ = await _restarted(new_password, token)
    assert r.status_code == 401
    app, _ = _app(new_password)
    async with _client(app) as c:
        fresh = await _login(c, password="a brand new password")
        assert (await c.put("/wilton/target", headers=_bearer(fresh), json={"phi_target": 0.6})).status_code == 200
    claims = jwt.decode(fresh, SECRET, algorithms=["HS256"], audience="wilton-admin")
    assert claims["pwf"] and claims["pwf"] not in hash_password("x", n=2**12) and "$" not in claims["pwf"]


async def test_ui_user_tokens_work_on_every_worker_until_ui_password_changes():
    env = {"WILTON_JWT_SECRET": SECRET, "UI_USERNAME": "ops", "UI_PASSWORD": "s3cret-pass"}
    app, _ = _app(env)
    async with _client(app) as c:
        token = await _login(c, "ops", "s3cret-pass")
    r, _ = await _restarted(env, token)  # another worker or a restart hashes the password alike
    assert r.status_code == 200
    r, _ = await _restarted({**env, "UI_PASSWORD": "another-pass"}, token)
    assert r.status_code == 401


async def test_master_key_is_full_admin_and_audited_as_such(caplog):
    app, service = _app()
    logging.getLogger("wilton.audit").addHandler(caplog.handler)
    try:
        async with _client(app) as c:
            r = await c.put("/wilton/target", headers=_bearer(MASTER), json={"phi_target": 0.8})
            assert r.json() == {"phi_target": 0.8, "team": None, "previous": 0.75}
            status = (await c.get("/wilton/status", headers=_bearer(MASTER))).json()
    finally:
        logging.getLogger("wilton.audit").removeHandler(caplog.handler)
    assert status["phi_target"] == 0.8 and status["last_changes"][0]["who"] == "master-key"
    line = [r.getMessage() for r in caplog.records if r.name == "wilton.audit"]
    assert len(line) == 1 and '"who": "master-key"' in line[0] and '"old": 0.75' in line[0] and '"new": 0.8' in line[0]
    assert MASTER not in line[0]
    assert service.store.runtime_hint().phi_target == 0.8


async def test_target_team_reset_and_weights_round_trip():
    app, service = _app()
    async with _client(app) as c:
        h = _bearer(await _login(c))
        assert (await c.put("/wilton/target", headers=h, json={"phi_target": 0.9, "team": "t1"})).json() == {
            "phi_target": 0.9, "team": "t1", "previous": None}
        await c.put("/wilton/target", headers=h, json={"phi_target": 0.6})
        r = await c.put("/wilton/target", headers=h, json={"phi_target": None})
        assert r.json() == {"phi_target": 0.75, "team": None, "previous": 0.6}
        r = await c.put("/wilton/weights", headers=h, json={"weights": {"edge-llama3.2": 0.5}})
        assert r.json() == {"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.0}
        r = await c.put("/wilton/weights", headers=h, json={"phi_bias": -0.1})
        assert r.json() == {"weights": {"edge-llama3.2": 0.5}, "phi_bias": -0.1}
        assert (await c.get("/wilton/weights", headers=h)).json() == r.json()
        status = (await c.get("/wilton/status", headers=h)).json()
    assert status["team_targets"] == {"t1": 0.9} and status["phi_target"] == 0.75
    assert [e["what"] for e in status["last_changes"]] == ["phi_bias", "weights", "phi_target", "phi_target", "team_target[t1]"]
    assert all(e["who"] == "alice" for e in status["last_changes"])
    assert set(status) >= {"phi", "unit", "window", "tiers", "shared_state", "worker_pid"}
    assert status["tiers"] == {"selfhost": 0, "edge": 0, "frontier": 0} and status["shared_state"] is False
    assert service.store.runtime_hint().phi_bias == -0.1


BAD_BODIES = [
    ("/wilton/target", b'{"phi_target": 1.5}'),
    ("/wilton/target", b'{"phi_target": -0.1}'),
    ("/wilton/target", b'{"phi_target": NaN}'),
    ("/wilton/target", b'{"phi_target": Infinity}'),
    ("/wilton/target", b'{"phi_target": 1e999}'),
    ("/wilton/target", b'{"phi_target": "0.5"}'),
    ("/wilton/target", b'{"phi_target": true}'),
    ("/wilton/target", b'{"phi_target": [0.5]}'),
    ("/wilton/target", b'{}'),
    ("/wilton/target", b'{"phi_target": 0.5, "team": 3}'),
    ("/wilton/target", b'{"phi_target": 0.5, "extra": 1}'),
    ("/wilton/target", b'not json'),
    ("/wilton/weights", b'{"phi_bias": 0.6}'),
    ("/wilton/weights", b'{"phi_bias": NaN}'),
    ("/wilton/weights", b'{"phi_bias": "0.1"}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": -1}}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": Infinity}}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": NaN}}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": "1"}}'),
    ("/wilton/weights", b'{"weights": [1, 2]}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": 0.5}, "phi_bias": 0.9}'),
    ("/wilton/weights", b'{"weights": {"no-such-deployment": 1.0}}'),
    ("/wilton/weights", b'{"weights": {"edge-llama3.2": 0.5, "no-such-deployment": 1.0}, "phi_bias": 0.1}'),
]


async def test_bad_bodies_are_422_and_change_nothing():
    app, service = _app()
    async with _client(app) as c:
        h = _bearer(await _login(c))
        before = (await c.get("/wilton/status", headers=h)).json()
        for path, raw in BAD_BODIES:
            r = await c.put(path, headers={**h, "content-type": "application/json"}, content=raw)
            assert r.status_code == 422, (path, raw, r.status_code, r.text)
        after = (await c.get("/wilton/status", headers=h)).json()
    after.pop("time"), before.pop("time")  # the worker's clock, not a setting
    assert after == before and after["last_changes"] == []
    assert service.store.runtime_hint() == type(service.store.runtime_hint())()


async def test_a_target_the_groups_cannot_hold_is_422_and_changes_nothing():
    model_list = [d for d in demo_config("http://127.0.0.1:9", "http://127.0.0.1:9")["model_list"]
                  if d["model_info"]["wilton_tier"] != "frontier"]  # start-up accepts only phi_target 1
    settings = parse_settings({"phi_target": 1.0})
    service = WiltonService(settings, check_groups(model_list, settings))
    service.bind(model_list, None)
    app = FastAPI()
    mount_admin_routes(app, service, load_admin_config(ENV), master_key=lambda: MASTER)
    async with _client(app) as c:
        for body in ({"phi_target": 0.5}, {"phi_target": 0.0, "team": "t1"}, {"phi_target": 0.999}):
            r = await c.put("/wilton/target", headers=_bearer(MASTER), json=body)
            assert r.status_code == 422, (body, r.text)
            assert "no frontier deployment" in r.json()["detail"] and "Nothing changed" in r.json()["detail"]
        assert service.store.runtime_hint() == type(service.store.runtime_hint())()
        assert (await c.get("/wilton/status", headers=_bearer(MASTER))).json()["last_changes"] == []
        for body in ({"phi_target": 1.0}, {"phi_target": 1.0, "team": "t1"}, {"phi_target": None}):
            assert (await c.put("/wilton/target", headers=_bearer(MASTER), json=body)).status_code == 200, body


async def test_unknown_deployment_id_names_it():
    app, _ = _app()
    async with _client(app) as c:
        r = await c.put("/wilton/weights", headers=_bearer(MASTER), json={"weights": {"gpt-5": 1.0}})
    assert r.status_code == 422 and "gpt-5" in r.json()["detail"]


async def test_failed_logins_are_rate_limited_per_user_and_ip():
    clock = Clock()
    app, _ = _app(limiter=LoginLimiter(limit=5, period=60.0, clock=clock))
    async with _client(app) as c, _client(app, ip="10.0.0.2") as other:
        for _ in range(5):
            assert (await c.post("/wilton/token", json={"username": "alice", "password": "bad"})).status_code == 401
        r = await c.post("/wilton/token", json={"username": "alice", "password": ALICE_PW})
        assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 61
        assert (await other.post("/wilton/token", json={"username": "alice", "password": ALICE_PW})).status_code == 200
        assert (await c.post("/wilton/token", json={"username": "bob", "password": BOB_PW})).status_code == 200
        clock.now += 61
        assert (await c.post("/wilton/token", json={"username": "alice", "password": ALICE_PW})).status_code == 200


async def test_key_rotation_grace_period():
    clock = Clock()
    old_env = {**ENV, "WILTON_JWT_SECRET": OLD_SECRET}
    old_app, _ = _app(old_env)
    async with _client(old_app) as c:
        old_token = await _login(c)
    rotated = {**ENV, "WILTON_JWT_PREVIOUS_SECRET": OLD_SECRET, "WILTON_JWT_PREVIOUS_VALID_UNTIL": str(clock.now + 100)}
    app, _ = _app(rotated, clock=clock)
    async with _client(app) as c:
        assert (await c.get("/wilton/status", headers=_bearer(old_token))).status_code == 200
        new_token = await _login(c)
        assert jwt.get_unverified_header(new_token)["kid"] == _kid() != jwt.get_unverified_header(old_token)["kid"]
        jwt.decode(new_token, SECRET, algorithms=["HS256"], audience="wilton-admin")  # signed with the new key
        clock.now += 101
        assert (await c.get("/wilton/status", headers=_bearer(old_token))).status_code == 401
        assert (await c.get("/wilton/status", headers=_bearer(new_token))).status_code == 200


def test_rotation_deadline_accepts_iso_and_is_required():
    base = {"WILTON_JWT_SECRET": SECRET, "WILTON_JWT_PREVIOUS_SECRET": OLD_SECRET}
    config = load_admin_config({**base, "WILTON_JWT_PREVIOUS_VALID_UNTIL": "2030-01-01T00:00:00Z"})
    assert config.previous.valid_until == 1893456000.0 and config.previous.sign is None
    with pytest.raises(ConfigError, match="WILTON_JWT_PREVIOUS_VALID_UNTIL"):
        load_admin_config(base)


async def test_es256_keys_from_files(tmp_path):
    private = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "key.pem"
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    env = {"WILTON_JWT_PRIVATE_KEY_FILE": str(path), "WILTON_ADMIN_USERS": f"alice:{ALICE}"}
    app, _ = _app(env)
    async with _client(app) as c:
        token = await _login(c)
        assert jwt.get_unverified_header(token)["alg"] == "ES256"
        assert (await c.get("/wilton/status", headers=_bearer(token))).status_code == 200
        forged = jwt.encode(_claims(), SECRET, "HS256", headers={"kid": jwt.get_unverified_header(token)["kid"]})
        assert (await c.get("/wilton/status", headers=_bearer(forged))).status_code == 401


def _pem_files(tmp_path, private, public, name="k"):
    key, pub = tmp_path / f"{name}.pem", tmp_path / f"{name}.pub"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    pub.write_bytes(public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return {"WILTON_JWT_PRIVATE_KEY_FILE": str(key), "WILTON_JWT_PUBLIC_KEY_FILE": str(pub), "WILTON_ADMIN_USERS": f"alice:{ALICE}"}


@pytest.mark.parametrize("other", ["another RSA key", "an EC key"])
def test_a_public_key_file_that_is_not_the_private_keys_stops_start_up(tmp_path, other):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048) if other == "another RSA key" \
        else ec.generate_private_key(ec.SECP256R1())
    env = _pem_files(tmp_path, private, stranger.public_key())
    with pytest.raises(ConfigError) as err:
        load_admin_config(env)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"Wilton config 'WILTON_JWT_PUBLIC_KEY_FILE' has value '{tmp_path}/k.pub'.")
    assert "Not the public key of WILTON_JWT_PRIVATE_KEY_FILE" in message


async def test_a_matching_public_key_file_is_accepted(tmp_path):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    app, _ = _app(_pem_files(tmp_path, private, private.public_key()))
    async with _client(app) as c:
        token = await _login(c)
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert (await c.get("/wilton/status", headers=_bearer(token))).status_code == 200


CONFIG_ERRORS = {
    "short secret": ({"WILTON_JWT_SECRET": "short-secret"}, "WILTON_JWT_SECRET", "32 bytes"),
    "users without a key": ({"WILTON_ADMIN_USERS": f"alice:{ALICE}"}, "WILTON_JWT_SECRET", "WILTON_DEV_MODE=1"),
    "bad hash": ({**ENV, "WILTON_ADMIN_USERS": "alice:plaintext"}, "WILTON_ADMIN_USERS", "passwords hash"),
    "bad scope": ({**ENV, "WILTON_ADMIN_USERS": f"alice:{ALICE}:root"}, "WILTON_ADMIN_USERS", "Scopes"),
    "seed password hashed": ({**ENV, "WILTON_ADMIN_USERS": f"admin:{hash_password('wilton', n=2**12)}"},
                             "WILTON_ADMIN_USERS", "well-known password 'wilton'"),
    "seed password in UI_PASSWORD": ({"WILTON_JWT_SECRET": SECRET, "UI_PASSWORD": "wilton"}, "UI_PASSWORD", "WILTON_DEV_MODE=1"),
    "bad UI_USERNAME": ({"WILTON_JWT_SECRET": SECRET, "UI_USERNAME": "ops team\n", "UI_PASSWORD": "s3cret-pass"},
                        "UI_USERNAME", "1-64 of A-Z"),
    "bad dev flag": ({"WILTON_DEV_MODE": "yes"}, "WILTON_DEV_MODE", "Valid values"),
    "bad expiry": ({"WILTON_JWT_EXPIRES_SECONDS": "0"}, "WILTON_JWT_EXPIRES_SECONDS", "[10, 86400]"),
}


@pytest.mark.parametrize("name", sorted(CONFIG_ERRORS))
def test_config_errors_are_one_line_and_never_print_secrets(name):
    env, key, valid = CONFIG_ERRORS[name]
    with pytest.raises(ConfigError) as err:
        load_admin_config(env)
    message = str(err.value)
    assert "\n" not in message and f"'{key}'" in message and valid in message
    for value in env.values():
        if key not in ("WILTON_DEV_MODE", "WILTON_JWT_EXPIRES_SECONDS") and value != "wilton":  # the seed is public
            assert value not in message


@pytest.mark.parametrize("entry, secret", [(f"alice{ALICE}", ALICE.split("$")[-1]),  # the ':' forgotten
                                           ("correcthorsebattery", "correcthorsebattery"),  # a bare password
                                           (ALICE, ALICE.split("$")[-1])])  # a bare hash
def test_an_entry_without_colon_is_redacted_whole(tmp_path, entry, secret):
    users_file = tmp_path / "users"
    users_file.write_text(f"bob:{BOB}:read\n{entry}\n")
    for env in ({"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS": f"bob:{BOB}:read,{entry}"},
                {"WILTON_JWT_SECRET": SECRET, "WILTON_ADMIN_USERS_FILE": str(users_file)}):
        with pytest.raises(ConfigError) as err:
            load_admin_config(env)
        message = str(err.value)
        assert secret not in message and "entry #2: <redacted>" in message and "name:hash[:scopes]" in message
        assert "\n" not in message


def test_dev_mode_allows_seed_password_and_generates_a_key():
    config = load_admin_config({"WILTON_DEV_MODE": "1", "UI_USERNAME": "admin", "UI_PASSWORD": "wilton"})
    assert config.dev_mode and config.current is not None and config.current.algorithm == "HS256"
    assert verify_password("wilton", config.users["admin"].password_hash)
    assert load_admin_config({}).current is None  # no users, no key: master key only, nothing derived


def test_token_for_ui_fallback_user():
    config = load_admin_config({"WILTON_JWT_SECRET": SECRET, "UI_USERNAME": "ops", "UI_PASSWORD": "s3cret-pass"})
    assert set(config.users) == {"ops"} and "s3cret-pass" not in config.users["ops"].password_hash
    assert issue_token(config, "ops", config.users["ops"].scopes)


def test_password_hash_cli_reads_stdin():
    out = subprocess.run([sys.executable, "-m", "wilton_plugin.admin.passwords", "hash"], input="hunter2-long\n",
                         capture_output=True, text=True, check=True)
    encoded = out.stdout.strip()
    assert encoded.startswith("scrypt$16384$8$1$") and "hunter2" not in out.stdout + out.stderr
    assert verify_password("hunter2-long", encoded) and not verify_password("hunter2", encoded)
