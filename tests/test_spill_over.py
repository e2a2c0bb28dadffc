"""The local upstream dies mid-run: requests spill to the frontier, then the share is repaid."""

from __future__ import annotations

import pytest

from wilton_plugin.settings import BalanceSettings
from helpers import LOCAL, chat, client

SLACK = BalanceSettings().slack  # the default band

pytestmark = pytest.mark.proxy

TARGET = 0.75


def test_killing_ollama_spills_without_client_errors_and_the_share_recovers(proxies, ollama):
    # LiteLLM's own cooldown (router_settings.cooldown_time) decides how long a failed deployment
    # stays out; Wilton respects it. 1 s keeps the test short.
    proxy = proxies.start(proxies.config(router_settings={"cooldown_time": 1}))
    c = client(proxy)
    outcomes = []
    try:
        outcomes += [chat(c, i) for i in range(200)]
        ollama.kill()
        outage = [chat(c, 200 + i) for i in range(40)]  # raises on any client-visible error
        outcomes += outage
        ollama.start()
        back_at = len(outcomes)
        outcomes += [chat(c, back_at + i) for i in range(300)]
    finally:
        proxy.stop()
        if not ollama.running:
            ollama.start()

    assert all(o.tier == "frontier" for o in outage), [(o.tier, o.reason) for o in outage]
    assert all(o.reason == "spill" for o in outage[3:]), [(o.tier, o.reason) for o in outage]
    # After the upstream is back, the cumulative share returns to target ± 0.02 within 200 requests
    # and stays there.
    local = 0
    shares = []
    for o in outcomes:
        local += o.tier in LOCAL
        shares.append(local / (len(shares) + 1))
    inside = [abs(s - TARGET) <= 0.02 for s in shares[back_at:]]
    recovered_after = next(i for i in range(len(inside)) if all(inside[i:]))
    print(f"spill-over: share at outage end {shares[back_at - 1]:.3f}, back within ±0.02 after "
          f"{recovered_after} requests, final {shares[-1]:.4f}")
    assert recovered_after <= 200
    assert abs(shares[-1] - TARGET) <= 0.01


def test_killing_the_frontier_spills_to_local_tiers(proxies, openai_upstream):
    proxy = proxies.start(proxies.config(router_settings={"cooldown_time": 1}))
    c = client(proxy)
    try:
        before = [chat(c, i) for i in range(40)]
        openai_upstream.kill()
        outage = [chat(c, 40 + i) for i in range(40)]
    finally:
        proxy.stop()
        if not openai_upstream.running:
            openai_upstream.start()
    assert abs(sum(o.tier in LOCAL for o in before) - 30) <= SLACK  # the debt started at 0 and stays in the band
    assert all(o.tier in LOCAL for o in outage), [(o.tier, o.reason) for o in outage]
    # The owed frontier work grows by 0.25 with every local request: after crossing the band
    # (2 * SLACK / 0.25 requests at most) every request is a spill.
    assert all(o.reason == "spill" for o in outage[int(2 * SLACK / 0.25):]), [o.reason for o in outage]
