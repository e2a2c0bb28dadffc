"""The service on plain dicts (no proxy): token-weighted φ, retries, failures, headers."""

from __future__ import annotations

import random

from wilton_plugin.metrics import Outcome

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


async def test_pending_decisions_are_bounded():
    service = in_process_service()
    for i in range(10_050):
        await _route(service, f"p{i}")
    assert len(service.pending) == 10_000
