"""The admin routes, mounted on LiteLLM's app: login, status, target, weights, decisions.

Thin glue: authenticate (master key or JWT), validate the body, apply the change (a pure edit,
``admin.edits``) to the runtime settings through the state store (Redis when shared, so every worker
and replica sees a change within ``runtime_refresh_seconds``), and audit it in the same atomic write.
That write is a compare-and-set: a change another worker or replica published meanwhile is kept and
the edit re-applied on top of it, and one that keeps conflicting answers 409 with nothing changed.
Every answer is a JSONResponse built here, so the host app's exception handlers play no part (no 400
"No connected db.").
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from wilton_plugin.admin.config import ALL_SCOPES, READ, WRITE, AdminConfig
from wilton_plugin.admin.edits import Change, set_target, set_team_target, set_weights
from wilton_plugin.admin.models import TargetRequest, TokenRequest, WeightsRequest
from wilton_plugin.admin.passwords import DEFAULT_N, DEFAULT_P, DEFAULT_R, hash_password, parse_hash, verify_password
from wilton_plugin.admin.tokens import InvalidToken, LoginLimiter, Principal, issue_token, verify_token
from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.settings import LOCAL_TIERS, TIERS, DeploymentSpec, missing_side
from wilton_plugin.state_runtime import WriteConflict, WriteOutcomeUnknown

log = logging.getLogger("wilton")
audit_log = logging.getLogger("wilton.audit")

MAX_DECISIONS = 10_000  # most records one GET /wilton/decisions returns


def dummy_hash(config: AdminConfig) -> str:
    """A hash verified for unknown users, with the scrypt parameters of the costliest user's hash (the
    defaults without users), so that a login takes as long whether the name exists or not."""
    params = [parse_hash(user.password_hash)[:3] for user in config.users.values()] or [(DEFAULT_N, DEFAULT_R, DEFAULT_P)]
    n, r, p = max(params, key=lambda nrp: nrp[0] * nrp[1] * nrp[2])
    return hash_password("no such user", n=n, r=r, p=p)


def litellm_master_key() -> str | None:
    """LiteLLM's resolved master key (``general_settings.master_key``), else ``LITELLM_MASTER_KEY``."""
    proxy_server = sys.modules.get("litellm.proxy.proxy_server")
    key = getattr(proxy_server, "master_key", None)
    return key if isinstance(key, str) and key else os.environ.get("LITELLM_MASTER_KEY") or None


class AdminApi:
    """State of the admin routes in one worker."""

    def __init__(self, service: Any, config: AdminConfig, *, master_key: Callable[[], str | None] = litellm_master_key,
                 limiter: LoginLimiter | None = None, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.config = config
        self.master_key = master_key
        self.limiter = limiter or LoginLimiter()
        self.clock = clock
        self.dummy_hash = dummy_hash(config)
        self.lock = asyncio.Lock()

    # --- auth --------------------------------------------------------------------------------

    def authenticate(self, request: Request, scope: str) -> Principal | JSONResponse:
        """The caller, or the 401/403 response to send."""
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        token = token.strip()
        if kind.lower() != "bearer" or not token:
            return _unauthorized("missing bearer token")
        master = self.master_key()
        if master and hmac.compare_digest(token.encode(), master.encode()):
            principal = Principal("master-key", ALL_SCOPES)
        else:
            try:
                principal = verify_token(self.config, token, self.clock())
            except InvalidToken as exc:
                log.info("wilton: admin token rejected (%s)", exc)
                return _unauthorized("invalid token")
        if scope not in principal.scopes:
            return JSONResponse({"detail": f"token lacks scope {scope}"}, 403,
                                {"WWW-Authenticate": f'Bearer error="insufficient_scope", scope="{scope}"'})
        return principal

    async def login(self, request: Request) -> JSONResponse:
        """POST /wilton/token."""
        body = await _body(request, TokenRequest)
        if isinstance(body, JSONResponse):
            return body
        ip = request.client.host if request.client else "?"
        wait = self.limiter.reserve(body.username, ip)  # counted as failed until it succeeds
        if wait:
            return JSONResponse({"detail": "too many failed logins"}, 429, {"Retry-After": str(wait)})
        user = self.config.users.get(body.username)
        ok = await asyncio.to_thread(verify_password, body.password, user.password_hash if user else self.dummy_hash)
        if not ok or user is None or self.config.current is None:
            return JSONResponse({"detail": "bad username or password"}, 401, {"WWW-Authenticate": "Bearer"})
        self.limiter.succeeded(body.username, ip)
        token = issue_token(self.config, user.name, user.scopes, self.clock())
        return JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": self.config.expires_seconds})

    # --- runtime settings and audit ----------------------------------------------------------

    async def runtime(self) -> RuntimeSettings:
        """The runtime settings as published (read from Redis when shared)."""
        return await self.service.store.read_runtime()

    async def change(self, who: str, edit: Callable[[RuntimeSettings], tuple[RuntimeSettings, list[Change]]]
                     ) -> tuple[RuntimeSettings, list[dict[str, Any]]]:
        """Apply ``edit`` to the published settings, with one audit entry per (what, old, new), in one
        compare-and-set write; then log the entries. Returns the settings and entries written."""
        now = round(self.clock(), 3)
        tried: list[dict[str, Any]] = []  # the last attempt's entries

        def audited(runtime: RuntimeSettings) -> tuple[RuntimeSettings, list[dict[str, Any]]]:
            new, changes = edit(runtime)
            tried[:] = [{"time": now, "who": who, "what": what, "old": old, "new": value} for what, old, value in changes]
            return new, list(tried)

        try:
            runtime, entries = await self.service.store.update_runtime(audited)
        except WriteOutcomeUnknown as exc:
            for entry in tried:
                audit_log.warning("wilton audit (outcome unknown: %s) %s", exc, json.dumps(entry, sort_keys=True))
            raise
        for entry in entries:
            audit_log.info("wilton audit %s", json.dumps(entry, sort_keys=True))
        return runtime, entries

    async def last_changes(self) -> list[Mapping[str, Any]]:
        """Audit entries, newest first."""
        return await self.service.store.changes()

    # --- routes ------------------------------------------------------------------------------

    async def status(self) -> dict[str, Any]:
        """GET /wilton/status."""
        settings, store = self.service.settings, self.service.store
        runtime = await self.runtime()
        totals = await store.totals()
        recent = list(getattr(self.service, "recent_served", ()))
        tiers = {tier: sum(1 for t, _ in recent if t == tier) for tier in TIERS}
        work = sum(w for _, w in recent)
        local = sum(w for t, w in recent if t in LOCAL_TIERS)
        return {
            "phi_target": runtime.phi_target if runtime.phi_target is not None else settings.phi_target,
            "phi_bias": runtime.phi_bias,
            "phi": {"replica": local / work if work > 0 else None, "global": totals.phi if store.shared else None},
            "unit": settings.phi_unit,
            "window": {"kind": settings.window.kind, "size": settings.window.size, "count": totals.count,
                       "total": totals.total, "local": totals.local, "oldest_at": totals.oldest},
            "time": self.clock(),  # this worker's clock, which stamps the window's entries (oldest_at)
            "tiers": tiers,
            "tiers_scope": f"this worker's last {len(recent)} served requests",
            "weights": dict(runtime.weights),
            "team_targets": {**settings.teams, **runtime.team_targets},  # effective: static, then admin overrides
            "shared_state": store.shared,
            "worker_pid": os.getpid(),
            "last_changes": await self.last_changes(),
        }

    def target_problem(self, target: float) -> str | None:
        """Why ``target`` cannot be held in the managed groups (start-up's check), or None."""
        groups: dict[str, list[DeploymentSpec]] = {group: list(specs) for group, specs in self.service.groups.items()}
        for spec in getattr(self.service, "specs", {}).values():  # deployments added at run time count too
            if spec.model_group in groups:
                groups[spec.model_group].append(spec)
        return missing_side(groups, [target])

    async def put_target(self, who: str, body: TargetRequest) -> dict[str, Any] | JSONResponse:
        """PUT /wilton/target."""
        settings = self.service.settings
        problem = self.target_problem(body.phi_target) if body.phi_target is not None else None
        if problem is not None:  # start-up refuses such a target: so does the API (every request would spill)
            return JSONResponse({"detail": f"phi_target {body.phi_target:g} cannot be held: {problem} Nothing changed."}, 422)
        if body.team is None:
            edit = partial(set_target, target=body.phi_target, config_value=settings.phi_target)
        else:
            edit = partial(set_team_target, team=body.team, target=body.phi_target, static=settings.teams.get(body.team))
        async with self.lock:  # spares this worker's own requests a conflict; other writers are met by the CAS
            _, [entry] = await self.change(who, edit)
        return {"phi_target": entry["new"], "team": body.team, "previous": entry["old"]}

    async def put_weights(self, who: str, body: WeightsRequest) -> dict[str, Any] | JSONResponse:
        """PUT /wilton/weights."""
        known = set(self.service.specs) | {s.deployment_id for specs in self.service.groups.values() for s in specs}
        unknown = sorted(set(body.weights or {}) - known)
        if unknown:
            return JSONResponse({"detail": f"unknown deployment id(s): {', '.join(unknown)}; known: {', '.join(sorted(k for k in known if k))}"}, 422)
        async with self.lock:  # weights and bias in one write: both applied or neither
            new, _ = await self.change(who, partial(set_weights, weights=body.weights, bias=body.phi_bias))
        return {"weights": dict(new.weights), "phi_bias": new.phi_bias}

    def decisions(self, limit_text: str | None) -> dict[str, Any] | JSONResponse:
        """GET /wilton/decisions?limit=N: this worker's newest N decisions, oldest first."""
        try:
            limit = int(limit_text) if limit_text is not None else 100
        except ValueError:
            limit = -1
        if not 1 <= limit <= MAX_DECISIONS:
            return JSONResponse({"detail": f"limit has value {limit_text!r}; expected a whole number in [1, {MAX_DECISIONS}]"}, 422)
        log_ = self.service.decisions
        records = [r.as_dict() for r in log_.latest(limit)]
        return {"decisions": records, "count": len(records), "size": log_.size, "prompts": log_.prompts,
                "worker_pid": os.getpid()}

    def routes(self) -> list[tuple[str, str, Callable]]:
        """(method, path, endpoint) of the admin routes."""

        async def token(request: Request) -> JSONResponse:
            return await self.login(request)

        async def status(request: Request) -> Any:
            return await self._guarded(request, READ, None, lambda who, _: self.status())

        async def put_target(request: Request) -> Any:
            return await self._guarded(request, WRITE, TargetRequest, self.put_target)

        async def read_weights(who: str, _: Any) -> dict[str, Any]:
            runtime = await self.runtime()
            return {"weights": dict(runtime.weights), "phi_bias": runtime.phi_bias}

        async def get_weights(request: Request) -> Any:
            return await self._guarded(request, READ, None, read_weights)

        async def put_weights(request: Request) -> Any:
            return await self._guarded(request, WRITE, WeightsRequest, self.put_weights)

        async def read_decisions(who: str, _: Any, request: Request) -> dict[str, Any] | JSONResponse:
            return self.decisions(request.query_params.get("limit"))

        async def get_decisions(request: Request) -> Any:
            return await self._guarded(request, READ, None, lambda who, body: read_decisions(who, body, request))

        return [("POST", "/wilton/token", token), ("GET", "/wilton/status", status), ("PUT", "/wilton/target", put_target),
                ("GET", "/wilton/weights", get_weights), ("PUT", "/wilton/weights", put_weights),
                ("GET", "/wilton/decisions", get_decisions)]

    async def _guarded(self, request: Request, scope: str, model: type[BaseModel] | None, handler: Callable) -> Any:
        principal = self.authenticate(request, scope)
        if isinstance(principal, JSONResponse):
            return principal
        body = None
        if model is not None:
            body = await _body(request, model)
            if isinstance(body, JSONResponse):
                return body
        try:
            result = await handler(principal.who, body)
        except WriteConflict as exc:  # other writers kept changing the settings: nothing was written
            log.warning("wilton: admin change not made (%s)", exc)
            return JSONResponse({"detail": f"{exc}; nothing changed: send the change again"}, 409)
        except WriteOutcomeUnknown as exc:  # the write was sent: it may have been applied
            self.service.error("admin", exc)
            return JSONResponse({"detail": f"shared state: {exc}; the change may have been applied: "
                                           "check GET /wilton/status"}, 503)
        except Exception as exc:  # Redis away before the write was sent, or it answered an error: nothing changed
            self.service.error("admin", exc)
            return JSONResponse({"detail": f"shared state unavailable ({type(exc).__name__}); nothing changed"}, 503)
        return result if isinstance(result, JSONResponse) else JSONResponse(result)


def _unauthorized(detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, 401, {"WWW-Authenticate": "Bearer"})


async def _body(request: Request, model: type[BaseModel]) -> Any:
    try:
        return model.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"detail": json.loads(exc.json(include_url=False, include_input=False))}, 422)


def mount_admin_routes(app: FastAPI, service: Any, config: AdminConfig, **kwargs: Any) -> bool:
    """Add the admin routes in front of the app's own (once); True when mounted."""
    if any(getattr(route, "path", None) == "/wilton/status" for route in app.router.routes):
        return False
    if not audit_log.handlers:  # the audit trail must reach the proxy log whatever LiteLLM configured
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        audit_log.addHandler(handler)
        audit_log.setLevel(logging.INFO)
        audit_log.propagate = False
    before = len(app.router.routes)
    for method, path, endpoint in AdminApi(service, config, **kwargs).routes():
        app.add_api_route(path, endpoint, methods=[method], tags=["wilton admin"])
    added = app.router.routes[before:]
    del app.router.routes[before:]
    app.router.routes[0:0] = added
    return True
