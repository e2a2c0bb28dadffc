"""Replays of labelled prompts through the proxy's own routing path, and what they show.

``route_prompts`` feeds prompts, in order, to ``WiltonService.route`` with LiteLLM-shaped
deployment dicts (the demo config's ``chat`` group) and closes each decision with
``WiltonService.served``, exactly as the proxy's strategy and success callback do. It sees the
prompts only; the labels are read afterwards by ``quality_report``. During an outage
(``outage=(start, length)``) only the frontier deployment is passed as healthy, which is how the
proxy sees a local tier that is down.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wilton_plugin.core.engine import GLOBAL_DEBT
from wilton_plugin.core.scorer import Scorer
from wilton_plugin.devstack import demo_config
from wilton_plugin.metrics import Outcome
from wilton_plugin.scoring.data import Row
from wilton_plugin.service import WiltonService
from wilton_plugin.settings import LOCAL_TIERS, WiltonSettings, check_groups, parse_settings

GROUP = "chat"


def replay_settings(
    target: float, scorer: str = "learned", artifact: str | None = None, extra: Mapping[str, Any] | None = None
) -> WiltonSettings:
    """The settings of a replay: the target, the scorer, and any other ``wilton_settings`` keys."""
    return parse_settings({"phi_target": target, "scorer": {"name": scorer, "artifact": artifact}, **(extra or {})})


def route_prompts(
    prompts: Sequence[str],
    settings: WiltonSettings,
    *,
    seed: int = 0,
    outage: tuple[int, int] | None = None,
    scorer: Scorer | None = None,
    debts: list[float] | None = None,
) -> list[bool]:
    """True where a prompt went to the frontier; the proxy's path, in order, prompts only.

    ``debts``, when given, receives the balancer's global debt after each request.
    """
    return asyncio.run(_route(list(prompts), settings, seed, outage, scorer, debts))


async def _route(
    prompts: list[str],
    settings: WiltonSettings,
    seed: int,
    outage: tuple[int, int] | None,
    scorer: Scorer | None,
    debts: list[float] | None,
) -> list[bool]:
    model_list = demo_config("http://127.0.0.1:1", "http://127.0.0.1:2", group=GROUP)["model_list"]
    ticks = iter(range(1, 1 << 62))
    service = WiltonService(
        settings, check_groups(model_list, settings), clock=lambda: float(next(ticks)), rng=random.Random(seed)
    )
    if scorer is not None:
        service.scorer = scorer
    service.bind(model_list, None)
    frontier_only = [d for d in model_list if d["model_info"]["wilton_tier"] not in LOCAL_TIERS]
    start, length = outage or (0, 0)
    sent: list[bool] = []
    for i, prompt in enumerate(prompts):
        healthy = frontier_only if start <= i < start + length else model_list
        call_id = f"replay-{i}"
        chosen = await service.route(GROUP, healthy, [{"role": "user", "content": prompt}], {"litellm_call_id": call_id, "metadata": {}})
        tokens = max(1, len(prompt) // 4)
        await service.served(Outcome(call_id, chosen["model_info"]["id"], True, tokens, 64, 0.5))
        sent.append(chosen["model_info"]["wilton_tier"] not in LOCAL_TIERS)
        if debts is not None:
            debts.append((await service.store.snapshot((GLOBAL_DEBT,))).debts[GLOBAL_DEBT])
    return sent


# --- quality ---------------------------------------------------------------------------------


def pgr(quality: float, local_mean: float, frontier_mean: float) -> float:
    """Performance gap recovered: 0 all-local, 1 all-frontier."""
    gap = frontier_mean - local_mean
    return (quality - local_mean) / gap if gap != 0 else math.nan


def quality_report(rows: Sequence[Row], frontier: Sequence[bool], seed: int = 0) -> dict[str, Any]:
    """Quality of the routing, with random and oracle baselines at the same frontier share."""
    n = len(rows)
    k = sum(frontier)
    local_mean = sum(r.local for r in rows) / n
    frontier_mean = sum(r.frontier for r in rows) / n
    quality = sum(r.frontier if f else r.local for r, f in zip(rows, frontier)) / n
    gains = sorted((r.frontier - r.local for r in rows), reverse=True)
    oracle = local_mean + sum(gains[:k]) / n
    rng = random.Random(seed)
    draws = []
    for _ in range(20):  # a few seeded random splits of the same size
        picked = set(rng.sample(range(n), k))
        draws.append(sum(r.frontier if i in picked else r.local for i, r in enumerate(rows)) / n)
    random_quality = sum(draws) / len(draws)
    return {
        "n": n,
        "frontier_share": k / n,
        "quality": quality,
        "local_quality": local_mean,
        "frontier_quality": frontier_mean,
        "pgr": pgr(quality, local_mean, frontier_mean),
        "random_quality": random_quality,
        "random_pgr": pgr(random_quality, local_mean, frontier_mean),
        "oracle_quality": oracle,
        "oracle_pgr": pgr(oracle, local_mean, frontier_mean),
    }


# --- φ ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PhiReport:
    """How exactly a replay held the local share.

    ``recovery_requests`` and ``repaid_requests`` count the same way: the requests served after the
    outage's last request until the condition holds and keeps holding to the end of the replay (every
    complete window within 1 pp of the target; the balancer's debt within ±slack). 0: it already holds
    once the outage's last request is served; None: it does not hold at the replay's last request
    (never recovered within the replay).
    """

    n: int
    target: float
    window: int
    overall_local_share: float
    max_window_dev_pp: float
    windows_outside_1pp: int
    windows: int
    recovery_requests: int | None = None
    repaid_requests: int | None = None
    outage: bool = False  # whether the replay had an outage (the two counts above are then reported)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready; the outage keys only when there was an outage (None: never recovered)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("recovery_requests", "repaid_requests", "outage")}
        if self.outage:
            out["recovery_requests"] = self.recovery_requests
            out["repaid_requests"] = self.repaid_requests
        return out


def window_shares(local: Sequence[bool], window: int) -> list[float]:
    """Local share of every run of ``window`` consecutive requests (index i: requests i..i+window-1)."""
    if len(local) < window:
        return []
    count = sum(local[:window])
    shares = [count / window]
    for i in range(window, len(local)):
        count += local[i] - local[i - window]
        shares.append(count / window)
    return shares


def phi_report(
    frontier: Sequence[bool],
    target: float,
    window: int,
    outage: tuple[int, int] | None = None,
    debts: Sequence[float] | None = None,
    slack: float = 1.0,
) -> PhiReport:
    """Share per window, deviation, and with an outage the recovery (see ``PhiReport`` and docs/quality.md).

    ``ValueError`` when ``window`` is longer than the replay or the outage does not end before it does:
    neither could be measured.
    """
    local = [not f for f in frontier]
    n = len(local)
    if not 1 <= window <= n:
        raise ValueError(f"window has value {window}; expected 1..{n}, the requests replayed")
    shares = window_shares(local, window)
    deviations = [abs(s - target) for s in shares]
    recovery = repaid = None
    if outage is not None:
        end = outage[0] + outage[1]  # first request after the outage
        if outage[1] < 1 or not 0 < end < n:
            raise ValueError(f"outage has value {outage}; expected one that ends before the {n} requests replayed do")
        recovery = _recovery_window(shares, target, window, end)
        repaid = _repaid(debts, end, slack) if debts is not None else None
    return PhiReport(
        n=n,
        target=target,
        window=window,
        overall_local_share=sum(local) / n,
        max_window_dev_pp=round(100.0 * max(deviations), 9),  # no float noise in reports
        windows_outside_1pp=sum(1 for d in deviations if d > 0.01 + 1e-12),
        windows=len(shares),
        recovery_requests=recovery,
        repaid_requests=repaid,
        outage=outage is not None,
    )


def _settled(failing: Sequence[bool], first: int = 0) -> int | None:
    """The requests after an outage until a condition holds for good (``PhiReport``).

    ``failing[j]``: whether it fails once ``first + j`` requests have been served after the outage's
    last request (checkpoints before ``first``, if any, cannot be measured and are not counted against
    it). The count is one past the last failing checkpoint: 0 when none fails, None when the last one
    does (never recovered within the replay).
    """
    last = next((j for j in range(len(failing) - 1, -1, -1) if failing[j]), None)
    if last is None:
        return 0
    if last == len(failing) - 1:
        return None
    return first + last + 1


def _recovery_window(shares: Sequence[float], target: float, window: int, end: int) -> int | None:
    """Requests after the outage until every later complete window is within 1 pp of the target."""
    # shares[i] covers requests i .. i + window - 1: after k requests past the outage (request end - 1 + k)
    start = max(0, end - window)
    return _settled([abs(s - target) > 0.01 + 1e-12 for s in shares[start:]], start + window - end)


def _repaid(debts: Sequence[float], end: int, slack: float) -> int | None:
    """Requests after the outage until the balancer's debt is back in its band and stays there."""
    # debts[i] is the debt once request i is served: debts[end - 1 + k] after k requests past the outage
    return _settled([abs(d) > slack + 1e-9 for d in debts[end - 1:]])
