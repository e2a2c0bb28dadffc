"""One routing decision, end to end, as a pure function of plain data.

``decide`` takes the request's facts, the candidate deployments LiteLLM considers healthy, the
current debts and the settings, and returns the deployment, the side, the reason and the debt
changes to record. The glue (``wilton_plugin.strategy``) supplies state and applies the result.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from wilton_plugin.core.balancer import FRONTIER, LOCAL, ScoreQuantiles, debt_change, decide_side, frontier_pressure
from wilton_plugin.core.selector import Candidate, eligible, select
from wilton_plugin.settings import LOCAL_TIERS, TIERS, WiltonSettings

GLOBAL_DEBT = "global"


@dataclass(frozen=True)
class RuntimeSettings:
    """What operators (and the coherence sidecar) change at run time through the admin API."""

    phi_target: float | None = None  # overrides wilton_settings.phi_target when set
    phi_bias: float = 0.0  # added to every target, in [-1, 1]; the coherence sidecar's lever
    team_targets: Mapping[str, float] = field(default_factory=dict)
    weights: Mapping[str, float] = field(default_factory=dict)  # deployment id -> weight >= 0


@dataclass(frozen=True)
class RequestFacts:
    """What the glue extracted from one request; never the prompt beyond what the scorer needs."""

    model_group: str
    weight: float = 1.0  # work units (1 per request, or estimated tokens / mean tokens)
    score: float = 0.5  # difficulty in [0, 1]
    forced_tier: str | None = None  # selfhost | edge | frontier | local
    team_id: str | None = None
    team_target: float | None = None  # from key/team metadata, already validated
    excluded: frozenset[str] = frozenset()  # deployments that already failed this request


@dataclass(frozen=True)
class Decision:
    """The outcome: which deployment, which side, why, and what to record."""

    deployment: Candidate
    side: str
    reason: str
    phi_target: float  # the local target this decision was held to
    debt_key: str  # which debt decided (global or a team's)
    deltas: Mapping[str, float]  # debt key -> change to apply
    threshold: float

    @property
    def tier(self) -> str:
        """The chosen deployment's tier."""
        return self.deployment.tier


def clamp01(value: float) -> float:
    """Clamp to [0, 1]."""
    return min(1.0, max(0.0, value))


def base_target(settings: WiltonSettings, runtime: RuntimeSettings) -> float:
    """The global local share operators asked for: the runtime target, else ``phi_target``; no bias."""
    return runtime.phi_target if runtime.phi_target is not None else settings.phi_target


def target_for(facts: RequestFacts, settings: WiltonSettings, runtime: RuntimeSettings) -> tuple[float, str, bool]:
    """(local target, debt key, is a team target) for this request."""
    base = base_target(settings, runtime)
    if facts.team_id is not None:
        # admin override, then key/team metadata (only with ``team_targets``), then the static ``teams`` block
        team = runtime.team_targets.get(facts.team_id)
        if team is None and settings.team_targets:
            team = facts.team_target
        if team is None:
            team = settings.teams.get(facts.team_id)
        if team is not None:
            return clamp01(team + runtime.phi_bias), f"team:{facts.team_id}", True
    return clamp01(base + runtime.phi_bias), GLOBAL_DEBT, False


def decide(
    facts: RequestFacts,
    candidates: Sequence[Candidate],
    debts: Mapping[str, float],
    settings: WiltonSettings,
    runtime: RuntimeSettings,
    quantiles: ScoreQuantiles,
    rng: random.Random,
) -> Decision:
    """Choose a deployment among ``candidates`` (LiteLLM's healthy set, non-empty)."""
    weighted = [_with_weight(c, runtime) for c in candidates]
    usable = [c for c in eligible(weighted) if c.key not in facts.excluded]
    if not usable:  # everything failed already or is weighted out: any healthy one, weights ignored
        usable = eligible(weighted) or [replace(c, weight=1.0) for c in candidates]
    sides = {LOCAL: [c for c in usable if c.is_local], FRONTIER: [c for c in usable if not c.is_local]}
    available = frozenset(side for side, members in sides.items() if members)

    phi_target, debt_key, is_team = target_for(facts, settings, runtime)
    frontier_target = 1.0 - phi_target
    debt = debts.get(debt_key, 0.0)
    slack = settings.balance.slack
    threshold = quantiles.threshold(frontier_pressure(debt, frontier_target, slack))
    forced_side = _side_of(facts.forced_tier)
    choice = decide_side(
        debt=debt,
        frontier_target=frontier_target,
        weight=facts.weight,
        slack=slack,
        score=facts.score,
        threshold=threshold,
        available=available,
        forced=forced_side,
        team=is_team,
    )
    pool = sides[choice.side]
    if facts.forced_tier in TIERS and choice.reason == "forced":
        pool = [c for c in pool if c.tier == facts.forced_tier] or pool
    deployment = select(pool, settings.selector, rng)

    forgive = choice.reason == "spill" and settings.spill_policy == "forgive"
    deltas: dict[str, float] = {}
    if not forgive:
        deltas[debt_key] = debt_change(debt, choice.side, facts.weight, frontier_target)
        if debt_key != GLOBAL_DEBT:  # team work counts in the global share too
            global_target = 1.0 - target_for(RequestFacts(facts.model_group), settings, runtime)[0]
            deltas[GLOBAL_DEBT] = debt_change(debts.get(GLOBAL_DEBT, 0.0), choice.side, facts.weight, global_target)
    return Decision(deployment, choice.side, choice.reason, phi_target, debt_key, deltas, threshold)


def _with_weight(candidate: Candidate, runtime: RuntimeSettings) -> Candidate:
    weight = runtime.weights.get(candidate.key)
    if weight is None or weight == candidate.weight:
        return candidate
    return Candidate(
        key=candidate.key,
        tier=candidate.tier,
        is_local=candidate.is_local,
        phi_score=candidate.phi_score,
        cost_per_token=candidate.cost_per_token,
        latency_s=candidate.latency_s,
        weight=weight if math.isfinite(weight) and weight >= 0 else candidate.weight,
    )


def _side_of(tier: str | None) -> str | None:
    if tier is None:
        return None
    if tier == "local" or tier in LOCAL_TIERS:
        return LOCAL
    return FRONTIER
