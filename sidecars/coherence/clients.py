"""HTTP clients of the coherence sidecar: a Prometheus reader and the proxy's admin API client.

Both take an ``httpx.Client`` so tests can hand in one built on ``httpx.MockTransport``. Neither
ever logs the password or the token.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from sidecars.common.http import REQUEST_ERRORS, PrometheusError, SidecarError, prometheus_data, request_error
from sidecars.common.numbers import finite
from sidecars.common.redact import redact_urls

from sidecars.coherence.controller import Observation

log = logging.getLogger("wilton.coherence")


# The recorded φ of each proxy ``phi_unit`` (wilton_plugin/observability/recording_rules.py): the share the
# proxy's balancer holds, so the one the sidecar must hold too.
PHI_QUERIES = {"requests": "wilton:phi:ratio_rate5m", "tokens": "wilton:phi_tokens:ratio_rate5m"}


def phi_query_for(status: dict[str, Any]) -> str:
    """The φ query of the unit a /wilton/status body reports (``unit``; a proxy without one counts requests)."""
    unit = status.get("unit", "requests")
    if unit not in PHI_QUERIES:
        raise SidecarError(f"the proxy's /wilton/status reports unit {unit!r}; known: {', '.join(PHI_QUERIES)}")
    return PHI_QUERIES[unit]


class NoData(PrometheusError):
    """The query answered but without a usable value (empty vector, NaN: e.g. no traffic)."""


class AdminError(SidecarError):
    stage = "proxy"


class AuthError(AdminError):
    stage = "auth"


def _result(data: Any) -> tuple[str, list[Any]]:
    """The result type and the ``[timestamp, value]`` samples of an instant query's ``data``."""
    kind = data["resultType"]
    if kind == "scalar":
        return kind, [data["result"]]
    return kind, [item["value"] for item in data["result"]]


class PrometheusReader:
    """Reads the global φ and the age of its sample with two instant queries (``/api/v1/query``).

    An instant query's sample carries the *evaluation* time, not the time of the data, so the age
    comes from a second query, ``timestamp(<query>)``, evaluated at the same instant: for a series
    (a recording rule, a plain selector) that is the time it was written; for any other expression it
    is the evaluation time, the expression's own range (``rate(...[30s])``) bounding the data's age.
    Both times are Prometheus's, so clock skew between the sidecar and Prometheus does not count.

    ``query`` None: the query follows the proxy's ``phi_unit`` (``follows_unit``); the loop sets
    ``query`` from each /wilton/status it reads (:func:`phi_query_for`) before reading.
    """

    def __init__(self, base_url: str, query: str | None, client: httpx.Client):
        self.base_url = base_url.rstrip("/")
        self.follows_unit = query is None
        self.query = query
        self.client = client

    def _instant(self, query: str, at: float | None = None) -> tuple[str, list[Any]]:
        params = {"query": query} if at is None else {"query": query, "time": repr(at)}
        try:
            response = self.client.get(f"{self.base_url}/api/v1/query", params=params)
        except REQUEST_ERRORS as exc:
            raise PrometheusError(f"Prometheus unreachable: {request_error(exc)}") from exc
        return prometheus_data(response, _result)

    def _one(self, query: str, samples: list[Any]) -> tuple[float | None, float | None]:
        if not samples:
            raise NoData(f"no sample for {query!r} (no traffic?)")
        if len(samples) > 1:
            raise PrometheusError(f"{query!r} returned {len(samples)} series; it must aggregate to one")
        return finite(samples[0][0]), finite(samples[0][1])

    def read(self) -> Observation:
        """The φ sample, its timestamp and its age (NoData when Prometheus has no value for it)."""
        if self.query is None:
            raise SidecarError("no φ query yet: the proxy's unit is not known (its /wilton/status was not read)")
        kind, samples = self._instant(self.query)
        evaluated_at, phi = self._one(self.query, samples)
        if kind != "vector":
            raise PrometheusError(f"{self.query!r} returned a {kind}, whose age Prometheus cannot give; "
                                  "it must be an instant vector of one series")
        if evaluated_at is None:
            raise PrometheusError("Prometheus answered a sample without a finite time")
        if phi is None:
            raise NoData(f"{self.query!r} has no finite value (no traffic?)")
        stamp_query = f"timestamp(\n{self.query}\n)"  # own lines: a trailing PromQL comment stays closed
        _kind, samples = self._instant(stamp_query, at=evaluated_at)
        _at, timestamp = self._one(self.query, samples)
        if timestamp is None:
            raise PrometheusError(f"timestamp({self.query}) has no finite value")
        age = max(0.0, evaluated_at - timestamp)
        return Observation(phi=phi, age_s=age, timestamp=timestamp, source="prometheus")


@dataclass
class _Token:
    value: str
    renew_at: float  # monotonic clock


class AdminClient:
    """The proxy's admin API: logs in, renews its token before it expires, retries once on 401."""

    #: renew when this fraction of the token's lifetime has passed
    RENEW_FRACTION = 0.8

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        client: httpx.Client,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.base_url = base_url.rstrip("/")
        self.username = username
        self._password = password
        self.client = client
        self.clock = clock
        self._token: _Token | None = None
        self.logins = 0

    def __repr__(self) -> str:  # never show the password
        return f"AdminClient({redact_urls(self.base_url)!r}, username={self.username!r})"

    # --- authentication -------------------------------------------------------------------------
    def login(self) -> None:
        """Get a new token (POST /wilton/token)."""
        try:
            response = self.client.post(
                f"{self.base_url}/wilton/token", json={"username": self.username, "password": self._password}
            )
        except REQUEST_ERRORS as exc:
            self._token = None
            raise AdminError(f"proxy unreachable at login: {request_error(exc)}") from exc
        if response.status_code == 401:
            self._token = None
            raise AuthError(f"login refused for user {self.username!r} (HTTP 401): check the username and password")
        if response.status_code == 429:
            self._token = None
            raise AuthError("login rate limited by the proxy (HTTP 429)")
        if response.status_code != 200:
            self._token = None
            raise AdminError(f"login failed with HTTP {response.status_code}")
        try:
            body = response.json()
            value = str(body["access_token"])
            expires_in = finite(body.get("expires_in", 300)) or 300.0
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise AdminError("login answered an unexpected body") from exc
        self._token = _Token(value=value, renew_at=self.clock() + max(0.0, expires_in) * self.RENEW_FRACTION)
        self.logins += 1
        log.debug("logged in to %s as %s (token valid %.0f s)", redact_urls(self.base_url), self.username, expires_in)

    def _bearer(self) -> str:
        if self._token is None or self.clock() >= self._token.renew_at:
            self.login()
        assert self._token is not None
        return self._token.value

    def _request(self, method: str, path: str, json: Any = None) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._bearer()}"}
            try:
                response = self.client.request(method, f"{self.base_url}{path}", json=json, headers=headers)
            except REQUEST_ERRORS as exc:
                raise AdminError(f"{method} {path}: proxy unreachable ({request_error(exc)})") from exc
            if response.status_code == 401 and attempt == 1:
                log.info("%s %s: token refused (HTTP 401); logging in again", method, path)
                self._token = None
                continue
            if response.status_code in (401, 403):
                raise AuthError(f"{method} {path}: HTTP {response.status_code} (does the user have wilton:write?)")
            if response.status_code >= 300:
                raise AdminError(f"{method} {path}: HTTP {response.status_code}")
            try:
                return response.json() if response.content else None
            except ValueError as exc:
                raise AdminError(f"{method} {path}: unexpected body") from exc
        raise AssertionError("unreachable")

    # --- API --------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        body = self._request("GET", "/wilton/status")
        if not isinstance(body, dict):
            raise AdminError("GET /wilton/status: unexpected body")
        return body

    def observe(self, status: dict[str, Any] | None = None) -> Observation:
        """φ from /wilton/status: the global value, else this replica's; its age by :func:`status_age`."""
        status = self.status() if status is None else status
        phi = status.get("phi") if isinstance(status.get("phi"), dict) else {}
        for key in ("global", "replica"):
            value = finite(phi.get(key))
            if value is not None:
                return Observation(phi=value, age_s=status_age(status, key), timestamp=None, source=f"status:{key}")
        raise SidecarError("the proxy's /wilton/status has no φ yet (no traffic?)")

    def bias(self) -> float:
        """The proxy's current ``phi_bias`` (GET /wilton/weights)."""
        body = self._request("GET", "/wilton/weights")
        value = finite(body.get("phi_bias")) if isinstance(body, dict) else None
        if value is None:
            raise AdminError("GET /wilton/weights: no finite phi_bias")
        return value

    def set_bias(self, bias: float) -> None:
        """PUT /wilton/weights ``{"phi_bias": bias}``."""
        self._request("PUT", "/wilton/weights", json={"phi_bias": round(bias, 6)})


def status_age(status: dict[str, Any], key: str) -> float:
    """How old, at most, the data behind /wilton/status's φ ``key`` is, in seconds; ``inf`` when unknown.

    The ``global`` φ is the shared window's. A proxy that reports when the window's oldest entry was
    recorded (``window.oldest_at``) and its own clock (``time``, the clock that stamps the entries)
    bounds it by their difference, whatever the window's kind. Without them only a *time* window bounds
    it: it holds the work of the last ``window.size`` seconds (and with no traffic in that span it is
    empty and φ is null). A *count* window without ``oldest_at`` (the last N requests, however old) and
    the ``replica`` φ (this worker's last 1000 served requests) say nothing about when: ``inf``, which
    the loop and the controller never act on.
    """
    if key != "global":
        return math.inf
    window = status.get("window") if isinstance(status.get("window"), dict) else {}
    size = finite(window.get("size"))
    bound = size if window.get("kind") == "time" and size is not None and size > 0 else math.inf
    oldest, now = finite(window.get("oldest_at")), finite(status.get("time"))
    if oldest is not None and now is not None:
        return min(bound, max(0.0, now - oldest))
    return bound


def status_bias(status: dict[str, Any]) -> float | None:
    """``phi_bias`` from a /wilton/status body, if present and finite."""
    return finite(status.get("phi_bias"))
