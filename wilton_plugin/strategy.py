"""The routing strategy installed on LiteLLM's router: thin glue between ``Router`` and the service.

LiteLLM replaces ``router.async_get_available_deployment`` with ours via
``Router.set_custom_routing_strategy``; it removes it again whenever routing settings are
re-initialised, so ``ensure_installed`` is called on every request and re-installs it when needed.
For a Wilton-managed group the strategy asks LiteLLM for the healthy deployments (cooldowns,
health checks, tags, order and retry exclusions applied) and lets the service pick one; for any
other group, and whenever Wilton fails, the request is routed exactly as LiteLLM would route it.
"""

from __future__ import annotations

import logging
from typing import Any

from litellm import Router
from litellm.router_strategy.simple_shuffle import simple_shuffle
from litellm.types.router import CustomRoutingStrategyBase

from wilton_plugin.service import WiltonService
from wilton_plugin.settings import TIERS

log = logging.getLogger("wilton")


class WiltonRoutingStrategy(CustomRoutingStrategyBase):
    """φ-balanced choice among LiteLLM's healthy deployments, failing open to LiteLLM's own."""

    def __init__(self, router: Router, service: WiltonService) -> None:
        self.router = router
        self.service = service

    async def async_get_available_deployment(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> Any:
        """Pick a deployment for ``model`` (LiteLLM's signature)."""
        request_kwargs = request_kwargs if request_kwargs is not None else {}
        if specific_deployment or not self.service.manages(model) or self._rewritten_by_litellm(model, request_kwargs):
            return await Router.async_get_available_deployment(
                self.router,
                model=model,
                request_kwargs=request_kwargs,
                messages=messages,
                input=input,
                specific_deployment=specific_deployment,
            )
        # LiteLLM's pre-routing step, as its own routing call runs it: its plugins narrow the candidates
        # (a budget or residency policy), session keys are stamped. No strategy claims this group
        # (checked above), so the step leaves the model as it is.
        rewritten = await self.router.async_pre_routing_hook(
            model=model, request_kwargs=request_kwargs, messages=messages, input=input,
            specific_deployment=specific_deployment,
        )
        if rewritten is not None:  # not expected (no strategy claims the group): LiteLLM routes it, step and all
            self.service.error("route", RuntimeError("LiteLLM's pre-routing step rewrote a Wilton group"),
                               f"model_group={model}")
            return await Router.async_get_available_deployment(
                self.router, model=model, request_kwargs=request_kwargs, messages=messages, input=input,
                specific_deployment=specific_deployment,
            )
        self.router._restore_client_ceiling_no_tier_pins(request_kwargs)
        healthy = await self.router.async_get_healthy_deployments(
            model=model,
            request_kwargs=request_kwargs,
            messages=messages,
            input=input,
            specific_deployment=specific_deployment,
        )
        if isinstance(healthy, dict):
            return healthy
        try:
            return await self.service.route(model, healthy, messages, request_kwargs)
        except Exception as exc:  # fail open: routed as LiteLLM's default strategy would
            self.service.error("route", exc, f"model_group={model} candidates={len(healthy)}")
            chosen = simple_shuffle(
                resolve_model_alias=self.router.get_model_from_alias,
                healthy_deployments=healthy,
                model=model,
                request_kwargs=request_kwargs,
            )
            if self.service.metrics is not None:
                self.service.metrics.decisions.labels(tier=_tier_of(chosen), reason="fallback").inc()
            return chosen

    def _rewritten_by_litellm(self, model: str, request_kwargs: dict) -> bool:
        """True when one of LiteLLM's pre-routing strategies (auto, complexity, adaptive or quality
        router) is registered under ``model``: it picks the group, so LiteLLM routes the request."""
        return self.router._select_pre_routing_strategy(self.router.get_model_from_alias(model=model) or model,
                                                        request_kwargs) is not None

    def get_available_deployment(  # type: ignore[override]
        self,
        model: str,
        messages: list[dict[str, str]] | None = None,
        input: str | list | None = None,
        specific_deployment: bool | None = False,
        request_kwargs: dict | None = None,
    ) -> Any:
        """The synchronous path (``router.completion``): LiteLLM's own choice; the proxy uses the async one."""
        return Router.get_available_deployment(
            self.router,
            model=model,
            messages=messages,
            input=input,
            specific_deployment=specific_deployment,
            request_kwargs=request_kwargs,
        )


def installed_strategy(router: Router) -> WiltonRoutingStrategy | None:
    """The Wilton strategy currently installed on ``router``, if any."""
    method = router.__dict__.get("async_get_available_deployment")
    owner = getattr(method, "__self__", None)
    return owner if isinstance(owner, WiltonRoutingStrategy) else None


def ensure_installed(router: Router, service: WiltonService) -> bool:
    """Install the strategy on ``router`` unless it is already there; True when (re)installed."""
    current = installed_strategy(router)
    if current is not None and current.service is service:
        return False
    service.bind(router.model_list or [], _redis_client(router))
    router.set_custom_routing_strategy(WiltonRoutingStrategy(router, service))
    log.info("wilton: routing strategy installed on the router (%d managed groups)", len(service.groups))
    return True


def _redis_client(router: Router) -> Any | None:
    cache = getattr(router, "cache", None)
    redis_cache = getattr(cache, "redis_cache", None)
    if redis_cache is None:
        return None
    return redis_cache.init_async_client()


def _tier_of(deployment: Any) -> str:
    info = deployment.get("model_info") if isinstance(deployment, dict) else None
    tier = (info or {}).get("wilton_tier")
    return tier if tier in TIERS else "unmanaged"
