"""Properties of the selector: which deployment of a side is picked, by utility and weight."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from wilton_plugin.core.selector import Candidate, select, utilities
from wilton_plugin.errors import RoutingError
from wilton_plugin.settings import SelectorSettings

from helpers import expected_share


def pick_counts(candidates: Sequence[Candidate], picks: int = 2000, seed: int = 11,
                settings: SelectorSettings | None = None) -> Counter[str]:
    rng = random.Random(seed)
    chosen = Counter(select(candidates, settings or SelectorSettings(), rng).key for _ in range(picks))
    return chosen


def c(key: str, *, phi: float = 0.5, cost: float = 0.0, latency: float | None = 1.0, weight: float = 1.0) -> Candidate:
    return Candidate(key, "frontier", False, phi_score=phi, cost_per_token=cost, latency_s=latency, weight=weight)


@pytest.mark.parametrize(
    ("better", "worse", "p_better"),
    [
        # phi_score 0.9 vs 0.3: utility gap 0.5 * 0.6 = 0.3
        (c("hi", phi=0.9), c("lo", phi=0.3), expected_share(0.3)),
        # latency 0.1 s vs 1.0 s: speed 0.9 vs 0: gap 0.3 * 0.9 = 0.27
        (c("fast", latency=0.1), c("slow", latency=1.0), expected_share(0.27)),
        # cost 1e-6 vs 1e-5: cheapness 0.9 vs 0: gap 0.2 * 0.9 = 0.18
        (c("cheap", cost=1e-6), c("dear", cost=1e-5), expected_share(0.18)),
        # runtime weight 3 vs 1, otherwise equal
        (c("heavy", weight=3.0), c("light", weight=1.0), 0.75),
    ],
)
def test_selector_favours_better_candidates(better: Candidate, worse: Candidate, p_better: float) -> None:
    counts = pick_counts([worse, better])
    share = counts[better.key] / 2000
    sigma = math.sqrt(p_better * (1 - p_better) / 2000)
    assert p_better > 0.5
    assert abs(share - p_better) <= 4 * sigma, (share, p_better)


def test_selector_utilities_values() -> None:
    pool = [c("a", phi=1.0, cost=0.0, latency=0.5), c("b", phi=0.0, cost=1e-5, latency=1.0), c("c", phi=0.5, latency=None)]
    u = utilities(pool, SelectorSettings())
    # a: 0.5*1 + 0.3*(1-0.5) + 0.2*1; b: 0 + 0 + 0; c: 0.5*0.5 + 0.3*(1-0.75) + 0.2*1 (latency: the mean)
    assert u == pytest.approx([0.85, 0.0, 0.25 + 0.075 + 0.2])
    assert utilities(pool, SelectorSettings(phi_score=0, latency=0, cost=0)) == [0.0, 0.0, 0.0]


def test_selector_spreads_load_among_equals() -> None:
    counts = pick_counts([c("a"), c("b"), c("d")], picks=3000)
    assert set(counts) == {"a", "b", "d"}
    assert all(abs(v - 1000) < 4 * math.sqrt(3000 * (1 / 3) * (2 / 3)) for v in counts.values())


def test_selector_sharpness_zero_ignores_quality() -> None:
    counts = pick_counts([c("hi", phi=1.0), c("lo", phi=0.0)], settings=SelectorSettings(sharpness=0.0))
    assert abs(counts["hi"] - 1000) < 4 * math.sqrt(500)


@pytest.mark.parametrize("bad", [0.0, -1.0, math.nan, math.inf])
def test_selector_never_picks_ineligible(bad: float) -> None:
    pool = [c("best", phi=1.0, cost=0.0, latency=0.01, weight=bad), c("ok", phi=0.1, cost=1e-5, latency=2.0)]
    counts = pick_counts(pool, picks=500)
    assert counts == Counter({"ok": 500})


@pytest.mark.parametrize(
    "pool",
    [[], [c("a", weight=0.0)], [c("a", weight=0.0), c("b", weight=math.nan), c("d", weight=-2.0)]],
)
def test_selector_raises_when_none_eligible(pool: list[Candidate]) -> None:
    with pytest.raises(RoutingError):
        select(pool, SelectorSettings(), random.Random(0))


def test_selector_single_candidate_needs_no_randomness() -> None:
    class NoRandom(random.Random):
        def random(self) -> float:  # pragma: no cover - must not be called
            raise AssertionError("random() called for a single candidate")

    assert select([c("only")], SelectorSettings(), NoRandom()).key == "only"


@pytest.mark.parametrize("weights", [(1e308, 1e308), (1.5e308, 1e308), (5e-324, 5e-324)])
def test_selector_weights_are_ratios_whatever_their_size(weights: tuple[float, float]) -> None:
    """Weights near the float limits (the admin API takes any finite weight) neither overflow the sum to inf
    (then the last candidate always won) nor underflow it to 0."""
    counts = pick_counts([c("a", weight=weights[0]), c("b", weight=weights[1])])
    p_a = 1.0 / (1.0 + weights[1] / weights[0])  # the sum of the weights may not be a float
    assert abs(counts["a"] / 2000 - p_a) <= 4 * math.sqrt(p_a * (1 - p_a) / 2000), counts


@hsettings(max_examples=100, deadline=None, database=None)
@given(weights=st.lists(st.sampled_from([0.5, 0.75, 1.0]), min_size=2, max_size=5), k=st.sampled_from([-1000, -1, 0, 1, 600, 1022, 1023]),
       seed=st.integers(0, 2**32))
def test_selector_picks_the_same_when_every_weight_is_scaled(weights: list[float], k: int, seed: int) -> None:
    pool = [c(str(i), phi=i / 5, weight=w) for i, w in enumerate(weights)]
    scaled = [c(str(i), phi=i / 5, weight=math.ldexp(w, k)) for i, w in enumerate(weights)]
    assert select(scaled, SelectorSettings(), random.Random(seed)).key == select(pool, SelectorSettings(), random.Random(seed)).key
