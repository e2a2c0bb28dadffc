"""LiteLLM entry point. In the proxy's YAML::

    litellm_settings:
      callbacks: ["wilton_plugin.proxy.handler"]

Importing this module (LiteLLM does it while loading its config) reads the same YAML, validates
``wilton_settings`` and every deployment's ``wilton_tier``/``wilton_phi_score``, and stops the
proxy with one line naming the bad key if anything is wrong. The handler then installs the routing
strategy on the router (at start-up, and again on any request that finds it missing), adds the
``x-wilton-*`` response headers and feeds outcomes back to the balancer and selector.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from fastapi import HTTPException
from litellm.integrations.custom_logger import CustomLogger

from wilton_plugin.admin import AdminConfig, load_admin_config, mount_admin_routes
from wilton_plugin.config_file import load_config_file
from wilton_plugin.errors import ConfigError
from wilton_plugin.metrics import Metrics, Outcome
from wilton_plugin.service import WiltonService, header_tier, request_metadata, valid_header_tier
from wilton_plugin.settings import parse_settings
from wilton_plugin.strategy import ensure_installed

log = logging.getLogger("wilton")

CONFIG_EXIT_CODE = 78  # EX_CONFIG


class WiltonHandler(CustomLogger):
    """LiteLLM callbacks: strategy installation, request validation, headers and feedback."""

    def __init__(self, service: WiltonService) -> None:
        super().__init__()
        self.service = service
        self._install_task: asyncio.Task[None] | None = None
        self.admin: AdminConfig | None = None  # admin API settings, set by build_handler

    def ensure_router(self) -> None:
        """(Re)install the strategy on the proxy's current router, if it exists."""
        from litellm.proxy import proxy_server

        router = getattr(proxy_server, "llm_router", None)
        if router is not None:
            ensure_installed(router, self.service)

    async def install_when_ready(self, timeout_s: float = 120.0) -> None:
        """Start-up task: wait for the proxy's router, then install the strategy."""
        from litellm.proxy import proxy_server

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while getattr(proxy_server, "llm_router", None) is None:
            if loop.time() > deadline:
                log.error("wilton: no router after %.0fs; the strategy will be installed on the first request", timeout_s)
                return
            await asyncio.sleep(0.05)
        self.ensure_router()
        if mount_metrics_endpoint():
            log.info("wilton: mounted /metrics (LiteLLM's prometheus callback is not configured)")
        if self.admin is not None:
            from litellm.proxy.proxy_server import app

            mount_admin_routes(app, self.service, self.admin)

    def start(self) -> None:
        """Schedule ``install_when_ready`` when imported inside a running event loop (the proxy's)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._install_task = loop.create_task(self.install_when_ready())
        self._install_task.add_done_callback(self._install_done)

    def _install_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            self.service.error("install", task.exception() or RuntimeError("install failed"))

    async def async_pre_call_hook(self, user_api_key_dict: Any, cache: Any, data: dict, call_type: Any) -> dict:
        """Re-install the strategy if LiteLLM reset it; reject a malformed ``x-wilton-tier`` header."""
        try:
            self.ensure_router()
        except Exception as exc:  # fail open: LiteLLM routes this request itself
            self.service.error("install", exc)
        if self.service.settings.allow_tier_header:
            asked = header_tier(request_metadata(data).get("headers")) or header_tier(data.get("headers"))
            if asked is not None and not valid_header_tier(asked):
                raise HTTPException(
                    status_code=400,
                    detail=f"x-wilton-tier has value {asked!r}; valid values: selfhost, edge, frontier, local",
                )
        return data

    async def async_post_call_response_headers_hook(
        self,
        data: dict,
        user_api_key_dict: Any,
        response: object,
        request_headers: dict[str, str] | None = None,
        litellm_call_info: dict[str, object] | None = None,
    ) -> dict[str, str] | None:
        """``x-wilton-tier``, ``x-wilton-phi`` and ``x-wilton-reason`` for the client."""
        try:
            return self.service.headers(str(data.get("litellm_call_id") or "")) or None
        except Exception as exc:
            self.service.error("headers", exc)
            return None

    async def async_log_success_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """Feed latency, tokens, cost and the served side back."""
        try:
            await self.service.served(outcome_of(kwargs, success=True))
        except Exception as exc:
            self.service.error("success", exc)

    async def async_log_failure_event(self, kwargs: dict, response_obj: Any, start_time: Any, end_time: Any) -> None:
        """A failed attempt: count it and undo its debt change (a retry decides afresh)."""
        try:
            await self.service.served(outcome_of(kwargs, success=False))
        except Exception as exc:
            self.service.error("failure", exc)

    async def async_post_call_failure_hook(
        self, request_data: dict, original_exception: Exception, user_api_key_dict: Any, traceback_str: str | None = None
    ) -> None:
        """The request failed for good: undo the last attempt's debt change.

        LiteLLM logs a failure event only for the first failed attempt of a request (its logging
        object is shared by the retries), and a retry undoes the attempt before it when it routes; the
        last attempt's change is undone here. Each decision is undone once, when it leaves ``pending``;
        if LiteLLM then reports the same call a success after all (a post-call hook failed a request
        that was served, and the queued success event runs after this hook), ``served`` applies the
        change again. Never changes the error the client gets.
        """
        try:
            call_id = request_data.get("litellm_call_id")
            if isinstance(call_id, str) and call_id:
                await self.service.failed(call_id)
        except Exception as exc:
            self.service.error("failure", exc)
        return None


def mount_metrics_endpoint() -> bool:
    """Serve the registry on the proxy's ``/metrics`` unless LiteLLM already does; True when mounted.

    Same app as LiteLLM's own: with several workers it reads prometheus_client's multiprocess files,
    so the numbers are summed over workers.
    """
    from litellm.integrations.prometheus_metrics_endpoint import make_metrics_asgi_app
    from litellm.proxy.proxy_server import app
    from prometheus_client import REGISTRY, CollectorRegistry, multiprocess

    if any(getattr(route, "path", None) == "/metrics" for route in app.routes):
        return False
    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    app.mount("/metrics", make_metrics_asgi_app(registry))
    return True


def outcome_of(kwargs: Mapping[str, Any], success: bool) -> Outcome:
    """The facts of a finished call from LiteLLM's standard logging object (never the prompt)."""
    slo = kwargs.get("standard_logging_object") or {}
    start, end, first = slo.get("startTime"), slo.get("endTime"), slo.get("completionStartTime")
    latency = end - start if _numbers(start, end) else None
    stream = bool(slo.get("stream"))
    ttft = first - start if stream and _numbers(start, first) and first > start else None
    model_id = slo.get("model_id")
    if model_id is None:
        model_id = ((kwargs.get("litellm_params") or {}).get("model_info") or {}).get("id")
    return Outcome(
        call_id=str(kwargs.get("litellm_call_id") or slo.get("id") or ""),
        deployment_id=str(model_id) if model_id is not None else None,
        success=success,
        input_tokens=int(slo.get("prompt_tokens") or 0),
        output_tokens=int(slo.get("completion_tokens") or 0),
        latency_s=latency,
        ttft_s=ttft,
        cost_usd=float(slo.get("response_cost") or 0.0),
        cache_hit=slo.get("cache_hit") is True,
    )


def _numbers(*values: object) -> bool:
    return all(isinstance(v, int | float) for v in values)


def _config_path(environ: Mapping[str, str]) -> str | None:
    if environ.get("WILTON_CONFIG"):
        return environ["WILTON_CONFIG"]
    proxy_server = sys.modules.get("litellm.proxy.proxy_server")
    path = getattr(proxy_server, "user_config_file_path", None)
    return path or environ.get("CONFIG_FILE_PATH") or environ.get("WORKER_CONFIG")


def refuse_to_start(error: ConfigError) -> None:
    """Print the one-line error and stop the proxy (the whole proxy, also with several workers)."""
    print(f"wilton: {error}", file=sys.stderr, flush=True)
    if multiprocessing.parent_process() is not None and _parent_is_litellm():
        os.kill(os.getppid(), signal.SIGTERM)  # uvicorn's supervisor would otherwise respawn us forever
    os._exit(CONFIG_EXIT_CODE)


def _parent_is_litellm() -> bool:
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as handle:
            return b"litellm" in handle.read()
    except OSError:
        return False


def _check_readable(key: str, path: str) -> None:
    """ConfigError naming ``key`` unless ``path`` is a file this process can read."""
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ConfigError(key, path, f"Cannot read the file ({exc.strerror}); name a readable LiteLLM YAML file, "
                                     "or unset it to read the file LiteLLM was started with.") from None


def build_handler(environ: Mapping[str, str] | None = None) -> WiltonHandler:
    """Validate the proxy's config and build the handler; refuse to start on a bad setting."""
    environ = os.environ if environ is None else environ
    path = _config_path(environ)
    try:
        if environ.get("WILTON_CONFIG"):  # named on purpose: a file that is not there is an error, not a guess
            _check_readable("WILTON_CONFIG", environ["WILTON_CONFIG"])
        if path is None or not os.path.isfile(path):
            settings, groups = parse_settings(None, environ), {}
            log.warning("wilton: no config file found (%s); defaults, no managed groups", path)
        else:
            settings, groups = load_config_file(path, environ)
        admin = load_admin_config(environ)
        service = WiltonService(settings, groups, metrics=Metrics())  # loads the scorer's artifact
    except ConfigError as exc:
        refuse_to_start(exc)
        raise  # unreachable outside the proxy's process model, kept for type checkers and tests
    handler = WiltonHandler(service)
    handler.admin = admin
    handler.start()
    return handler


_handler: WiltonHandler | None = None


def __getattr__(name: str) -> Any:
    """``wilton_plugin.proxy.handler`` is built on first access (LiteLLM's config load), not on import."""
    global _handler
    if name == "handler":
        if _handler is None:
            _handler = build_handler()
        return _handler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
