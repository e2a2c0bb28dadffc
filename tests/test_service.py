"""The service on plain dicts (no proxy): token-weighted φ, retries, failures, headers."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry

from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.metrics import Metrics, Outcome
from wilton_plugin import service as service_module
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import check_groups, parse_settings

from helpers import DEMO_MODEL_LIST, in_process_service


async def _route(service, call_id, content="hello", metadata=None, healthy=None):
    return await service.route(
        "chat",
        healthy or DEMO_MODEL_LIST,
        [{"role": "user", "content": content}],
        {"litellm_call_id": call_id, "metadata": metadata or {}, "max_tokens": 64},
    )


async def test_tokens_unit_holds_the_token_share():
    service = in_process_service(phi_unit="tokens")
    rng = random.Random(0)
    local_tokens = total_tokens = 0
    for i in range(600):
        size = rng.choice([20, 80, 300])
        chosen = await _route(service, f"c{i}", content="x" * (size * 4))
        tokens = size + 60
        await service.served(Outcome(f"c{i}", chosen["model_info"]["id"], True, input_tokens=tokens, latency_s=0.01))
        total_tokens += tokens
        local_tokens += tokens if chosen["model_info"]["wilton_tier"] != "frontier" else 0
    totals = await service.store.totals()
    assert abs(local_tokens / total_tokens - 0.75) <= 0.02
    assert abs(totals.phi - local_tokens / total_tokens) < 1e-9  # the window counts the same tokens


async def test_a_retry_replaces_the_earlier_attempt_in_the_debt():
    service = in_process_service()
    first = await _route(service, "r1")
    debt_after_first = dict(service.store.debts)
    failed_id = first["model_info"]["id"]
    metadata = {"previous_models": [{"deployment_id": failed_id}]}
    second = await _route(service, "r1", metadata=metadata)
    assert second["model_info"]["id"] != failed_id
    # one request, one debt change: the second decision replaced the first
    side = "frontier" if second["model_info"]["wilton_tier"] == "frontier" else "local"
    expected = 0.25 - (1.0 if side == "frontier" else 0.0)
    assert abs(service.store.debts["global"] - expected) < 1e-9, (debt_after_first, service.store.debts)


async def test_a_failed_request_gives_its_work_back():
    service = in_process_service()
    await _route(service, "f1")
    assert service.store.debts["global"] != 0.0
    await service.failed("f1")
    assert service.store.debts["global"] == 0.0
    assert service.headers("f1") == {}


async def _served_and_failed(order, phi_unit):
    """Route two requests, then finish the first with the failure hook and its success event in ``order``."""
    service = in_process_service(phi_unit=phi_unit)
    chosen = await _route(service, "s1", content="x" * 400)
    await _route(service, "s2")  # another request in flight: its debt change is left alone
    ok = Outcome("s1", chosen["model_info"]["id"], True, input_tokens=180, output_tokens=20, latency_s=0.1)
    if order == "success_first":
        await service.served(ok)
        await service.failed("s1")
    else:
        await service.failed("s1")
        await service.served(ok)
    return service.store.debts, await service.store.totals()


async def test_a_failure_hook_before_the_success_event_leaves_the_same_debt_and_window():
    """LiteLLM can run async_post_call_failure_hook (an output guardrail raising after the call) before the
    queued success event of the same call: the request was served, so both orders must agree."""
    for phi_unit in ("requests", "tokens"):
        debts_a, totals_a = await _served_and_failed("success_first", phi_unit)
        debts_b, totals_b = await _served_and_failed("failure_hook_first", phi_unit)
        assert debts_a.keys() == debts_b.keys(), phi_unit
        for key in debts_a:
            assert abs(debts_a[key] - debts_b[key]) < 1e-9, (phi_unit, key, debts_a, debts_b)
        assert (totals_b.total, totals_b.local) == (totals_a.total, totals_a.local), phi_unit
        assert totals_a.total > 0


async def test_the_undone_decisions_kept_for_a_late_success_are_bounded():
    service = in_process_service()
    for i in range(service_module.MAX_UNDONE_DECISIONS + 5):
        await _route(service, f"u{i}")
        await service.failed(f"u{i}")
    assert len(service.undone) == service_module.MAX_UNDONE_DECISIONS
    assert "u0" not in service.undone and f"u{service_module.MAX_UNDONE_DECISIONS + 4}" in service.undone
    debt = service.store.debts["global"]
    await service.served(Outcome("u0", None, True))  # too late to be remembered: nothing re-applied
    assert service.store.debts["global"] == debt


async def test_headers_name_tier_reason_and_phi():
    service = in_process_service()
    chosen = await _route(service, "h1")
    headers = service.headers("h1")
    assert headers["x-wilton-tier"] == chosen["model_info"]["wilton_tier"]
    assert headers["x-wilton-reason"] in {"balance", "difficulty"}
    assert "x-wilton-phi" not in headers  # nothing served yet
    await service.served(Outcome("h1", chosen["model_info"]["id"], True, input_tokens=10, latency_s=0.01))
    await _route(service, "h2")
    assert service.headers("h2")["x-wilton-phi"] in {"1.0000", "0.0000"}


async def test_forced_tier_from_key_metadata_and_bad_team_target_is_ignored():
    service = in_process_service()
    metadata = {
        "user_api_key_metadata": {"wilton_tier": "edge", "wilton_phi_target": "lots"},
        "user_api_key_team_id": "t1",
    }
    chosen = await _route(service, "k1", metadata=metadata)
    assert chosen["model_info"]["wilton_tier"] == "edge"
    assert service.headers("k1")["x-wilton-reason"] == "forced"


@pytest.mark.parametrize("value", [True, False, "lots", 1.5, float("nan")])
def test_a_key_metadata_target_that_is_not_a_number_in_0_1_is_ignored(value):
    # true was read as 1.0 (float(True)): a key flagged "wilton_phi_target: true" was sent all local
    service = in_process_service()
    assert service._team_target({"user_api_key_metadata": {"wilton_phi_target": value}}) is None
    assert service._team_target({"user_api_key_metadata": {"wilton_phi_target": 1}}) == 1.0


async def test_pending_decisions_are_bounded():
    service = in_process_service()
    for i in range(10_050):
        await _route(service, f"p{i}")
    assert len(service.pending) == 10_000


async def test_a_client_reusing_a_call_id_is_a_new_request_not_a_retry():
    # LiteLLM takes the call id from the client's x-litellm-call-id header: two requests with the same
    # id and no failed attempt (no previous_models) must both count in the debt.
    service = in_process_service()
    first = await _route(service, "same")
    second = await _route(service, "same")
    expected = sum(0.25 - (1.0 if c["model_info"]["wilton_tier"] == "frontier" else 0.0) for c in (first, second))
    assert abs(service.store.debts["global"] - expected) < 1e-9


async def test_litellm_metadata_is_read_when_the_caller_sends_its_own_metadata():
    # /v1/messages and /v1/responses: LiteLLM keeps its data (key metadata, retries) in litellm_metadata,
    # and "metadata" is the caller's own (Claude Code sends {"user_id": ...}).
    service = in_process_service()
    kwargs = {
        "litellm_call_id": "m1",
        "metadata": {"user_id": "u1", "headers": "not a mapping"},
        "litellm_metadata": {"user_api_key_metadata": {"wilton_tier": "edge"}},
    }
    chosen = await service.route("chat", DEMO_MODEL_LIST, [{"role": "user", "content": "hi"}], kwargs)
    assert chosen["model_info"]["wilton_tier"] == "edge"
    assert service.headers("m1")["x-wilton-reason"] == "forced"


async def test_static_team_targets_apply_without_metadata_targets():
    # team_targets: false turns off targets from key/team metadata only; the static teams block still holds.
    service = in_process_service(team_targets=False, teams={"batch": 0.0})
    metadata = {"user_api_key_team_id": "batch", "user_api_key_metadata": {"wilton_phi_target": 1.0}}
    tiers = [(await _route(service, f"t{i}", metadata=metadata))["model_info"]["wilton_tier"] for i in range(12)]
    assert tiers == ["frontier"] * 12


async def test_a_key_without_a_team_is_held_to_its_own_target():
    service = in_process_service()
    metadata = {"user_api_key": "hashed-token-of-the-key", "user_api_key_metadata": {"wilton_phi_target": 0.0}}
    tiers = [(await _route(service, f"k{i}", metadata=metadata))["model_info"]["wilton_tier"] for i in range(12)]
    assert tiers == ["frontier"] * 12
    owners = [k for k in service.store.debts if k.startswith("team:key:")]
    assert len(owners) == 1 and "hashed-token" not in owners[0]  # named by a hash, never by the key


async def test_the_target_gauge_is_the_asked_target_without_bias_or_team_targets():
    registry = CollectorRegistry()
    settings = parse_settings({"teams": {"batch": 0.2}})
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), metrics=Metrics(registry), rng=random.Random(3))
    service.bind(DEMO_MODEL_LIST, None)
    await service.store.set_runtime(RuntimeSettings(phi_bias=0.15))
    await _route(service, "g1", metadata={"user_api_key_team_id": "batch"})
    assert registry.get_sample_value("wilton_phi_target") == 0.75
    await service.store.set_runtime(RuntimeSettings(phi_target=0.6, phi_bias=-0.1))
    await _route(service, "g2")
    assert registry.get_sample_value("wilton_phi_target") == 0.6


async def test_the_target_gauge_follows_an_admin_change_and_a_rebind_without_traffic():
    """An admin PUT /wilton/target (a runtime write through the store) shows at once, and a (re)bind — a
    worker start, a router re-install — shows the runtime target, not the config's, before any request."""
    registry = CollectorRegistry()
    settings = parse_settings({})
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), metrics=Metrics(registry), rng=random.Random(3))
    service.bind(DEMO_MODEL_LIST, None)
    assert registry.get_sample_value("wilton_phi_target") == 0.75
    await service.store.update_runtime(lambda runtime: (RuntimeSettings(phi_target=0.6), [{"what": "phi_target"}]))
    assert registry.get_sample_value("wilton_phi_target") == 0.6  # no request routed since
    service.bind(DEMO_MODEL_LIST, None)
    assert registry.get_sample_value("wilton_phi_target") == 0.6
    await service.store.set_runtime(RuntimeSettings(phi_target=0.7, phi_bias=0.1))
    assert registry.get_sample_value("wilton_phi_target") == 0.7  # the asked target, without the bias


def test_config_deployments_without_an_id_declare_no_phantom_deployment_series():
    """Specs parsed from the config before LiteLLM assigns ids have no deployment id: declaring them under
    their model-group name made deployment="chat" series that stay at 0 for ever."""
    registry = CollectorRegistry()
    settings = parse_settings({})
    model_list = [{k: v for k, v in d.items() if k != "model_info"} | {"model_info": {
        k: v for k, v in d["model_info"].items() if k != "id"}} for d in DEMO_MODEL_LIST]
    groups = check_groups(model_list, settings)
    assert all(spec.deployment_id is None for specs in groups.values() for spec in specs)
    service = WiltonService(settings, groups, metrics=Metrics(registry))
    service.bind(DEMO_MODEL_LIST, None)  # the router's deployments, with their ids
    labels = [sample.labels for family in registry.collect() for sample in family.samples]
    deployments = {lab["deployment"] for lab in labels if "deployment" in lab}
    assert deployments == {d["model_info"]["id"] for d in DEMO_MODEL_LIST}
    assert "chat" not in deployments


async def test_phi_has_no_series_before_the_window_has_work():
    """wilton_phi read 0 (all frontier) after every start; it appears with the first served request."""
    registry = CollectorRegistry()
    settings = parse_settings({})
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), metrics=Metrics(registry),
                            rng=random.Random(3))
    service.bind(DEMO_MODEL_LIST, None)
    assert registry.get_sample_value("wilton_phi", {"unit": "requests"}) is None
    assert not [s for f in registry.collect() if f.name == "wilton_phi" for s in f.samples]
    chosen = await _route(service, "p1")
    await service.served(Outcome("p1", chosen["model_info"]["id"], True, input_tokens=5, latency_s=0.01))
    local = chosen["model_info"]["wilton_tier"] != "frontier"
    assert registry.get_sample_value("wilton_phi", {"unit": "requests"}) == (1.0 if local else 0.0)


async def test_a_cache_hit_counts_as_served_work_but_teaches_no_latency():
    """LiteLLM calls the success handler on cache hits: no upstream call, so no latency histogram sample and
    no latency EWMA update (a 1 ms hit would make the selector prefer that deployment); the request was
    routed (its debt charged) and served, so it counts in requests, tokens and the φ window."""
    from wilton_plugin.proxy import outcome_of

    registry = CollectorRegistry()
    settings = parse_settings({})
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), metrics=Metrics(registry),
                            rng=random.Random(3))
    service.bind(DEMO_MODEL_LIST, None)
    chosen = await _route(service, "h1")
    deployment, tier = chosen["model_info"]["id"], chosen["model_info"]["wilton_tier"]
    slo = {"model_id": deployment, "startTime": 100.0, "endTime": 100.001, "prompt_tokens": 7, "cache_hit": True}
    hit = outcome_of({"litellm_call_id": "h1", "standard_logging_object": slo}, success=True)
    assert hit.cache_hit and hit.latency_s is not None
    await service.served(hit)
    assert service.latency.get(deployment) is None
    labels = {"deployment": deployment, "tier": tier}
    assert registry.get_sample_value("wilton_request_latency_seconds_count", labels) == 0
    assert registry.get_sample_value("wilton_requests_total", {**labels, "model_group": "chat", "status": "success"}) == 1
    assert (await service.store.totals()).total == 1.0
    miss = outcome_of({"litellm_call_id": "h2", "standard_logging_object": {**slo, "cache_hit": None}}, success=True)
    assert not miss.cache_hit
    await service.served(miss)
    assert service.latency.get(deployment) is not None
    assert registry.get_sample_value("wilton_request_latency_seconds_count", labels) == 1


def test_a_run_time_deployment_with_a_bad_tier_is_logged_once_and_counted(caplog):
    registry = CollectorRegistry()
    settings = parse_settings({})
    service = WiltonService(settings, check_groups(DEMO_MODEL_LIST, settings), metrics=Metrics(registry))
    bad = {"model_name": "chat", "litellm_params": {"model": "openai/x", "api_key": "sk-secret-123"},
           "model_info": {"id": "new-1", "wilton_tier": "Frontier"}}
    with caplog.at_level("ERROR", logger="wilton"):
        assert service.spec_of(bad) is None
        assert service.spec_of(bad) is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "new-1" in lines[0] and "wilton_tier" in lines[0] and "Frontier" in lines[0]
    assert "sk-secret" not in lines[0]
    assert registry.get_sample_value("wilton_plugin_errors_total", {"stage": "deployment"}) == 2
