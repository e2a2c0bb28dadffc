"""The balancer: which side (local or frontier) serves a request.

It keeps a *debt*: frontier work owed, in work units (one request, or one mean-sized request
when φ is counted in tokens). Serving a request of weight w locally adds ``w * f`` (f = frontier
target); serving it on the frontier subtracts ``w * (1 - f)``. The balancer keeps the debt inside
``[-slack, +slack]``, so any run of consecutive requests deviates from the target by at most
``2 * slack`` work units: the share is held exactly, not on average. At a target of 0 or 1 nothing
can be owed: the debt settles towards 0 (``debt_change``). Inside the band the choice is
free and goes by difficulty: the request goes to the frontier when its score is above a
threshold, a quantile of recent scores, lowered as the debt grows (see ``ScoreQuantiles``).
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass

LOCAL = "local"
FRONTIER = "frontier"
SIDES = (LOCAL, FRONTIER)

REASONS = ("balance", "difficulty", "forced", "spill", "team", "fallback")


@dataclass(frozen=True)
class SideDecision:
    """The side chosen for one request and why (one of ``REASONS``)."""

    side: str
    reason: str


def frontier_pressure(debt: float, frontier_target: float, slack: float) -> float:
    """The frontier share to aim at now: the target, raised while frontier work is owed."""
    if frontier_target <= 0.0 or frontier_target >= 1.0:
        return frontier_target
    return min(1.0, max(0.0, frontier_target * (1.0 + debt / slack)))


def decide_side(
    *,
    debt: float,
    frontier_target: float,
    weight: float,
    slack: float,
    score: float,
    threshold: float,
    available: frozenset[str],
    forced: str | None = None,
    team: bool = False,
) -> SideDecision:
    """Choose local or frontier for one request; pure, deterministic."""
    if not available:
        raise ValueError("decide_side needs at least one available side")
    if forced is not None:
        if forced in available:
            return SideDecision(forced, "forced")
        return SideDecision(_other(forced), "spill")
    preferred = _preferred_side(debt, frontier_target, weight, slack, score, threshold)
    if preferred.side in available:
        if team and preferred.reason in ("balance", "difficulty"):
            return SideDecision(preferred.side, "team")
        return preferred
    return SideDecision(_other(preferred.side), "spill")


def _preferred_side(
    debt: float, frontier_target: float, weight: float, slack: float, score: float, threshold: float
) -> SideDecision:
    if frontier_target <= 0.0:
        return SideDecision(LOCAL, "balance")
    if frontier_target >= 1.0:
        return SideDecision(FRONTIER, "balance")
    after_local = debt + weight * frontier_target
    after_frontier = debt - weight * (1.0 - frontier_target)
    local_ok = after_local <= slack
    frontier_ok = after_frontier >= -slack
    if local_ok and frontier_ok:
        return SideDecision(FRONTIER if score >= threshold else LOCAL, "difficulty")
    if local_ok != frontier_ok:
        return SideDecision(LOCAL if local_ok else FRONTIER, "balance")
    # A request heavier than the band (tokens unit): take the side that ends nearer zero.
    return SideDecision(LOCAL if abs(after_local) <= abs(after_frontier) else FRONTIER, "balance")


def _other(side: str) -> str:
    return FRONTIER if side == LOCAL else LOCAL


def debt_delta(side: str, weight: float, frontier_target: float) -> float:
    """How serving ``weight`` on ``side`` changes the debt."""
    return weight * (frontier_target - (1.0 if side == FRONTIER else 0.0))


def debt_change(debt: float, side: str, weight: float, frontier_target: float) -> float:
    """How serving ``weight`` on ``side`` changes a debt that stands at ``debt``.

    At an ordinary target, ``debt_delta``. At a target of 0 or 1 one side takes all the work, so
    owed work could never be served back (a spill-over at local target 1 would owe local work for
    ever, and burst out when the target changes): the debt settles towards 0 by up to ``weight`` per
    request instead, whatever the side.
    """
    if 0.0 < frontier_target < 1.0:
        return debt_delta(side, weight, frontier_target)
    return -math.copysign(min(abs(debt), weight), debt) if debt else 0.0


def settle_debt(debt: float, delta: float, max_debt: float) -> float:
    """Apply a change to the debt and clamp it to ``[-max_debt, +max_debt]``."""
    return min(max_debt, max(-max_debt, debt + delta))


class ScoreQuantiles:
    """Recent difficulty scores, kept sorted, for the threshold: the (1 - p) quantile.

    With ``uniform_prior`` (a scorer whose scores are spread evenly over [0, 1] on its training
    data, such as ``learned``) the window starts full of evenly spaced scores, which real ones push
    out: right after a start the threshold is the training quantile instead of a guess from the
    first few requests.
    """

    def __init__(self, size: int = 512, uniform_prior: bool = False) -> None:
        self._order: deque[float] = deque()
        self._sorted: list[float] = []
        self._size = size
        if uniform_prior:
            self._order.extend((i + 0.5) / size for i in range(size))
            self._sorted = list(self._order)

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, score: float) -> None:
        """Remember one score, forgetting the oldest beyond ``size``."""
        if not math.isfinite(score):
            return
        self._order.append(score)
        bisect.insort(self._sorted, score)
        if len(self._order) > self._size:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def threshold(self, frontier_share: float) -> float:
        """The score above which a share ``frontier_share`` of recent requests lies."""
        if frontier_share <= 0.0:
            return math.inf
        if frontier_share >= 1.0 or not self._sorted:
            return -math.inf
        n = len(self._sorted)
        index = min(n - 1, max(0, math.ceil((1.0 - frontier_share) * n) - 1))
        # Scores at the threshold itself go to the frontier: with ties the band evens it out.
        return self._sorted[index] if n >= 8 else -math.inf
