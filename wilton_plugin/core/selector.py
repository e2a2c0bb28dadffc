"""The selector: which deployment inside the chosen side serves the request.

Each eligible candidate gets a utility in [0, 1] from its phi_score, its observed latency (EWMA,
relative to the slowest candidate) and its cost per token (relative to the dearest), weighed by
``SelectorSettings``. The pick is random with probability proportional to
``runtime_weight * exp(sharpness * utility)`` (only ratios of weights matter: any finite
weight, however large or small, is fine), so load spreads while the best candidate gets most
of it, and latency keeps being observed for every candidate. A runtime weight of 0 excludes a
candidate.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from wilton_plugin.errors import RoutingError
from wilton_plugin.settings import SelectorSettings


@dataclass(frozen=True)
class Candidate:
    """A deployment as the core sees it: no URLs, no keys."""

    key: str  # LiteLLM's deployment id (model_info.id)
    tier: str
    is_local: bool
    phi_score: float
    cost_per_token: float  # input + output, USD
    latency_s: float | None = None  # EWMA of observed latency, None before the first sample
    weight: float = 1.0  # runtime weight, >= 0; 0 excludes


def utilities(candidates: Sequence[Candidate], settings: SelectorSettings) -> list[float]:
    """Utility in [0, 1] of each candidate (same order)."""
    known = [c.latency_s for c in candidates if c.latency_s is not None]
    slowest = max(known, default=0.0)
    typical = sum(known) / len(known) if known else 0.0
    dearest = max((c.cost_per_token for c in candidates), default=0.0)
    total_weight = settings.phi_score + settings.latency + settings.cost
    result = []
    for c in candidates:
        latency = c.latency_s if c.latency_s is not None else typical
        speed = 1.0 - latency / slowest if slowest > 0 else 1.0
        cheapness = 1.0 - c.cost_per_token / dearest if dearest > 0 else 1.0
        raw = settings.phi_score * c.phi_score + settings.latency * speed + settings.cost * cheapness
        result.append(raw / total_weight if total_weight > 0 else 0.0)
    return result


def eligible(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Candidates that may be chosen: runtime weight above zero."""
    return [c for c in candidates if c.weight > 0 and math.isfinite(c.weight)]


def select(candidates: Sequence[Candidate], settings: SelectorSettings, rng: random.Random) -> Candidate:
    """Pick one eligible candidate; raises RoutingError when none is eligible."""
    pool = eligible(candidates)
    if not pool:
        raise RoutingError("no eligible deployment among the candidates")
    if len(pool) == 1:
        return pool[0]
    scores = utilities(pool, settings)
    best = max(scores)
    heaviest = max(c.weight for c in pool)  # weights relative to it: huge ones cannot sum to inf, tiny ones to 0
    weights = [c.weight / heaviest * math.exp(settings.sharpness * (u - best)) for c, u in zip(pool, scores)]
    point = rng.random() * sum(weights)
    for candidate, weight in zip(pool, weights):
        point -= weight
        if point < 0:
            return candidate
    return pool[-1]
