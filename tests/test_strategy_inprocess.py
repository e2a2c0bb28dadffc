"""The strategy on a real in-process ``litellm.Router``: re-installation and failing open."""

from __future__ import annotations

import random

import litellm
import pytest
from litellm.types.router import RoutingContext
from prometheus_client import CollectorRegistry

from wilton_plugin.metrics import Metrics
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import BalanceSettings, check_groups, parse_settings
from wilton_plugin.strategy import ensure_installed, installed_strategy

MODEL_LIST = [
    {
        "model_name": "chat",
        "litellm_params": {"model": "openai/local-a", "api_key": "sk-local", "mock_response": "local a"},
        "model_info": {"id": "a", "wilton_tier": "selfhost", "wilton_phi_score": 0.7},
    },
    {
        "model_name": "chat",
        "litellm_params": {"model": "openai/gpt-4o", "api_key": "sk-frontier", "mock_response": "frontier"},
        "model_info": {"id": "f", "wilton_tier": "frontier", "wilton_phi_score": 0.9},
    },
    {
        "model_name": "other",
        "litellm_params": {"model": "openai/x", "api_key": "sk-x", "mock_response": "other"},
        "model_info": {"id": "o"},
    },
]


def _service(registry: CollectorRegistry) -> WiltonService:
    settings = parse_settings({})
    return WiltonService(settings, check_groups(MODEL_LIST, settings), metrics=Metrics(registry), rng=random.Random(7))


async def _ids(router: litellm.Router, n: int, model: str = "chat") -> list[str]:
    ids = []
    for i in range(n):
        response = await router.acompletion(model=model, messages=[{"role": "user", "content": f"q{i}"}])
        ids.append(response._hidden_params["model_id"])
    return ids


async def test_strategy_is_reinstalled_after_litellm_resets_routing():
    router = litellm.Router(model_list=MODEL_LIST)
    service = _service(CollectorRegistry())
    assert ensure_installed(router, service) is True
    assert ensure_installed(router, service) is False  # idempotent
    router.routing_strategy_init(routing_strategy="simple-shuffle", routing_strategy_args={})
    assert installed_strategy(router) is None  # LiteLLM dropped it
    assert ensure_installed(router, service) is True
    ids = await _ids(router, 40)
    assert abs(ids.count("a") - 30) <= BalanceSettings().slack and ids.count("a") + ids.count("f") == 40  # debt starts at 0, stays in ±slack


async def test_unmanaged_groups_are_left_to_litellm():
    router = litellm.Router(model_list=MODEL_LIST)
    ensure_installed(router, _service(CollectorRegistry()))
    assert await _ids(router, 3, model="other") == ["o", "o", "o"]


async def test_an_exception_inside_wilton_fails_open_and_is_counted(caplog):
    registry = CollectorRegistry()
    service = _service(registry)

    class BrokenScorer:
        uniform = False

        def score(self, messages):
            raise RuntimeError("scorer exploded")

    service.scorer = BrokenScorer()
    router = litellm.Router(model_list=MODEL_LIST)
    ensure_installed(router, service)
    with caplog.at_level("ERROR", logger="wilton"):
        ids = await _ids(router, 20)
    assert set(ids) <= {"a", "f"} and len(ids) == 20  # every request served
    assert registry.get_sample_value("wilton_plugin_errors_total", {"stage": "route"}) == 20
    fallback = sum(
        registry.get_sample_value("wilton_routing_decisions_total", {"tier": t, "reason": "fallback"}) or 0
        for t in ("selfhost", "frontier")
    )
    assert fallback == 20
    logged = [r for r in caplog.records if "scorer exploded" in r.getMessage()]
    assert len(logged) == 1  # logged once, counted every time
    assert "sk-local" not in caplog.text and "sk-frontier" not in caplog.text


async def test_wilton_never_returns_zero_candidates_when_litellm_has_one():
    """All deployments weighted out at runtime: LiteLLM's healthy set is still used."""
    from wilton_plugin.core.engine import RuntimeSettings

    service = _service(CollectorRegistry())
    router = litellm.Router(model_list=MODEL_LIST)
    ensure_installed(router, service)
    await service.store.set_runtime(RuntimeSettings(weights={"a": 0.0, "f": 0.0}))
    ids = await _ids(router, 5)
    assert len(ids) == 5


async def test_a_request_whose_every_attempt_fails_gives_its_debt_back():
    """Retries: the proxy shares one logging object between a request's attempts, so LiteLLM logs a
    failure event for the first failed attempt only; each retry undoes the attempt before it when it
    routes, and the proxy's post-call failure hook undoes the last one."""
    import asyncio
    import datetime

    from litellm.utils import function_setup

    from wilton_plugin.proxy import WiltonHandler

    failing = [dict(d, litellm_params=dict(d["litellm_params"], mock_response="litellm.InternalServerError"))
               for d in MODEL_LIST[:2]]
    settings = parse_settings({})
    service = WiltonService(settings, check_groups(failing, settings), metrics=Metrics(CollectorRegistry()),
                            rng=random.Random(1))
    handler = WiltonHandler(service)
    saved = litellm.callbacks
    litellm.callbacks = [handler]
    try:
        router = litellm.Router(model_list=failing, num_retries=2, retry_after=0, allowed_fails=1000, cooldown_time=0)
        ensure_installed(router, service)
        messages = [{"role": "user", "content": "x"}]
        left_pending = 0
        for i in range(4):
            call_id = f"c{i}"
            logging_obj, _ = function_setup("acompletion", None, datetime.datetime.now(), model="chat",
                                            messages=messages, litellm_call_id=call_id, metadata={})
            with pytest.raises(litellm.InternalServerError) as failure:
                await router.acompletion(model="chat", messages=messages, litellm_call_id=call_id, metadata={},
                                         litellm_logging_obj=logging_obj)
            await asyncio.sleep(0.1)  # LiteLLM's failure logging runs in the background
            left_pending += call_id in service.pending  # the last attempt: no failure event reached us
            await handler.async_post_call_failure_hook({"litellm_call_id": call_id}, failure.value, None)
            assert call_id not in service.pending
    finally:
        litellm.callbacks = saved
    assert left_pending == 4  # what the hook is for: without it every request leaked one debt change
    assert service.store.debts.get("global", 0.0) == 0.0


class _FrontierOnly:
    """A LiteLLM routing plugin (``Router(plugins=[...])``): a policy leaving only the frontier model."""

    def __init__(self) -> None:
        self.runs = 0

    async def run(self, context: RoutingContext) -> RoutingContext:
        self.runs += 1
        context.candidate_models = [m for m in context.candidate_models if m == "openai/gpt-4o"]
        return context


async def test_litellm_routing_plugins_narrow_a_wilton_group_as_they_narrow_any_other():
    # LiteLLM runs its plugins in the pre-routing step of the routing call Wilton replaces: Wilton
    # must run that step too, or a plugin's policy (budget, data residency) is bypassed on its groups.
    plugin = _FrontierOnly()
    router = litellm.Router(model_list=MODEL_LIST, plugins=[plugin])
    ensure_installed(router, _service(CollectorRegistry()))
    assert await _ids(router, 8) == ["f"] * 8
    assert plugin.runs == 8
