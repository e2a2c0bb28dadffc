"""What both sidecars' HTTP clients share: the errors their loops count and back off from (and the
httpx errors a request turns into them), and reading the ``data`` of a Prometheus API answer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import httpx

from sidecars.common.redact import redact_urls

T = TypeVar("T")

#: what an httpx request can raise for a reason outside the program: transport and protocol errors, and
#: ``InvalidURL`` (not an ``HTTPError``), e.g. from a URL built out of a bad base URL
REQUEST_ERRORS: tuple[type[Exception], ...] = (httpx.HTTPError, httpx.InvalidURL)


def request_error(exc: Exception) -> str:
    """One of :data:`REQUEST_ERRORS` in a few words: its type (``ConnectError``), and for ``InvalidURL``
    what is invalid (``InvalidURL: Invalid port: 'x'``), URLs redacted."""
    if isinstance(exc, httpx.InvalidURL):
        return redact_urls(f"{type(exc).__name__}: {exc}")
    return type(exc).__name__


class SidecarError(Exception):
    """A failure the loop counts, logs and backs off from. ``stage`` labels the errors metric."""

    stage = "observe"


class PrometheusError(SidecarError):
    """Prometheus could not be reached or gave no usable answer."""

    stage = "prometheus"


def prometheus_data(response: httpx.Response, read: Callable[[Any], T]) -> T:
    """``read(data)`` of a successful Prometheus API answer; PrometheusError for any other answer.

    An error status, a body that is not JSON, or a ``data`` that ``read`` finds the wrong shape
    (KeyError, TypeError, …) each raise PrometheusError with one line saying which.
    """
    if response.status_code != 200:
        raise PrometheusError(f"Prometheus answered HTTP {response.status_code}")
    try:
        body = response.json()
        if body.get("status") != "success":
            raise PrometheusError(f"Prometheus query failed: {body.get('error', 'unknown error')}")
        return read(body["data"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise PrometheusError("Prometheus answered an unexpected body") from exc
