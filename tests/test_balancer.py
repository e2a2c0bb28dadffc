"""The balancer's pure pieces: ``decide_side``, ``frontier_pressure``, debts and ``ScoreQuantiles``."""

from __future__ import annotations

import asyncio
import math

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from wilton_plugin.core.balancer import (
    FRONTIER,
    LOCAL,
    ScoreQuantiles,
    SideDecision,
    debt_change,
    debt_delta,
    decide_side,
    frontier_pressure,
    settle_debt,
)
from wilton_plugin.core.engine import GLOBAL_DEBT, RequestFacts, RuntimeSettings, target_for
from wilton_plugin.settings import parse_settings

BOTH = frozenset({LOCAL, FRONTIER})
ONLY_LOCAL = frozenset({LOCAL})
ONLY_FRONTIER = frozenset({FRONTIER})


def side(
    debt: float = 0.0,
    *,
    f: float = 0.25,
    weight: float = 1.0,
    slack: float = 1.0,
    score: float = 0.5,
    threshold: float = 0.6,
    available: frozenset[str] = BOTH,
    forced: str | None = None,
    team: bool = False,
) -> SideDecision:
    return decide_side(
        debt=debt,
        frontier_target=f,
        weight=weight,
        slack=slack,
        score=score,
        threshold=threshold,
        available=available,
        forced=forced,
        team=team,
    )


# f = 0.25 (phi 0.75): local adds 0.25, frontier subtracts 0.75, band [-1, 1].
CASES = [
    # forced
    ("forced local", dict(forced=LOCAL, score=0.99), (LOCAL, "forced")),
    ("forced frontier", dict(forced=FRONTIER, score=0.0), (FRONTIER, "forced")),
    ("forced ignores band", dict(debt=1.0, forced=LOCAL), (LOCAL, "forced")),
    ("forced beats team", dict(forced=FRONTIER, team=True), (FRONTIER, "forced")),
    ("forced local unavailable", dict(forced=LOCAL, available=ONLY_FRONTIER), (FRONTIER, "spill")),
    ("forced frontier unavailable", dict(forced=FRONTIER, available=ONLY_LOCAL), (LOCAL, "spill")),
    # free choice by difficulty
    ("hard goes frontier", dict(score=0.9), (FRONTIER, "difficulty")),
    ("easy stays local", dict(score=0.1), (LOCAL, "difficulty")),
    ("score at threshold goes frontier", dict(score=0.6), (FRONTIER, "difficulty")),
    ("nan score stays local", dict(score=math.nan), (LOCAL, "difficulty")),
    ("threshold -inf sends all", dict(score=0.0, threshold=-math.inf), (FRONTIER, "difficulty")),
    ("threshold +inf keeps all", dict(score=1.0, threshold=math.inf), (LOCAL, "difficulty")),
    # band edges
    ("upper edge inclusive: local reaches +slack", dict(debt=0.75, score=0.0), (LOCAL, "difficulty")),
    ("over upper edge: frontier owed", dict(debt=0.76, score=0.0), (FRONTIER, "balance")),
    ("at +slack: frontier owed", dict(debt=1.0, score=0.0), (FRONTIER, "balance")),
    ("lower edge inclusive: frontier reaches -slack", dict(debt=-0.25, score=1.0), (FRONTIER, "difficulty")),
    ("under lower edge: local owed", dict(debt=-0.26, score=1.0), (LOCAL, "balance")),
    ("far below band (spill debt)", dict(debt=-40.0, score=1.0), (LOCAL, "balance")),
    ("far above band", dict(debt=40.0, score=0.0), (FRONTIER, "balance")),
    ("wider slack widens the band", dict(debt=1.5, slack=2.0, score=0.0), (LOCAL, "difficulty")),
    # heavier than the band (tokens unit): the side ending nearer zero
    ("heavy from zero", dict(weight=5.0, score=1.0), (LOCAL, "balance")),
    ("heavy when owed frontier", dict(debt=1.0, weight=5.0, f=0.5, score=0.0), (FRONTIER, "balance")),
    # preferred side unavailable
    ("local preferred but only frontier", dict(score=0.1, available=ONLY_FRONTIER), (FRONTIER, "spill")),
    ("balance local but only frontier", dict(debt=-0.5, available=ONLY_FRONTIER), (FRONTIER, "spill")),
    ("frontier preferred but only local", dict(score=0.9, available=ONLY_LOCAL), (LOCAL, "spill")),
    ("preferred available, other not", dict(score=0.9, available=ONLY_FRONTIER), (FRONTIER, "difficulty")),
    # team reason
    ("team free choice", dict(team=True, score=0.9), (FRONTIER, "team")),
    ("team balance", dict(team=True, debt=1.0), (FRONTIER, "team")),
    ("team spill stays spill", dict(team=True, score=0.9, available=ONLY_LOCAL), (LOCAL, "spill")),
    # target edges
    ("phi 1: always local", dict(f=0.0, score=1.0, threshold=0.0), (LOCAL, "balance")),
    ("phi 1 debt ignored", dict(f=0.0, debt=-50.0, score=1.0), (LOCAL, "balance")),
    ("phi 0: always frontier", dict(f=1.0, score=0.0, threshold=1.0), (FRONTIER, "balance")),
    ("phi 0 debt ignored", dict(f=1.0, debt=50.0, score=0.0), (FRONTIER, "balance")),
    ("phi 1 without local spills", dict(f=0.0, available=ONLY_FRONTIER), (FRONTIER, "spill")),
    ("phi 0 without frontier spills", dict(f=1.0, available=ONLY_LOCAL), (LOCAL, "spill")),
    ("phi 1 team", dict(f=0.0, team=True), (LOCAL, "team")),
]


@pytest.mark.parametrize(("kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide_side(kwargs: dict, expected: tuple[str, str]) -> None:
    assert side(**kwargs) == SideDecision(*expected)


def test_decide_side_needs_a_side() -> None:
    with pytest.raises(ValueError):
        side(available=frozenset())


@hsettings(max_examples=300, deadline=None, database=None)
@given(
    debt=st.floats(-1.0, 1.0),
    f=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
    slack=st.floats(0.5, 5.0),
    score=st.floats(0.0, 1.0),
    threshold=st.floats(0.0, 1.0),
)
def test_decision_keeps_debt_in_band(debt: float, f: float, slack: float, score: float, threshold: float) -> None:
    debt *= slack
    choice = side(debt, f=f, slack=slack, score=score, threshold=threshold)
    after = debt + debt_delta(choice.side, 1.0, f)
    assert -slack - 1e-9 <= after <= slack + 1e-9
    if choice.reason == "difficulty":
        assert choice.side == (FRONTIER if score >= threshold else LOCAL)


# --- frontier_pressure -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("debt", "f", "slack", "expected"),
    [
        (0.0, 0.25, 1.0, 0.25),
        (0.5, 0.25, 1.0, 0.375),
        (1.0, 0.25, 1.0, 0.5),
        (-0.5, 0.25, 1.0, 0.125),
        (-1.0, 0.25, 1.0, 0.0),
        (-5.0, 0.25, 1.0, 0.0),  # clamped at 0
        (5.0, 0.25, 1.0, 1.0),  # clamped at 1
        (1.0, 0.25, 2.0, 0.375),
        (0.0, 0.5, 1.0, 0.5),
        (3.0, 0.0, 1.0, 0.0),  # target 0: never raised
        (-3.0, 1.0, 1.0, 1.0),  # target 1: never lowered
    ],
)
def test_frontier_pressure(debt: float, f: float, slack: float, expected: float) -> None:
    assert frontier_pressure(debt, f, slack) == pytest.approx(expected)


# --- debts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side_", "weight", "f", "expected"),
    [(LOCAL, 1.0, 0.25, 0.25), (FRONTIER, 1.0, 0.25, -0.75), (LOCAL, 2.0, 0.1, 0.2), (FRONTIER, 3.0, 0.5, -1.5),
     (LOCAL, 1.0, 0.0, 0.0), (FRONTIER, 1.0, 0.0, -1.0)],
)
def test_debt_delta(side_: str, weight: float, f: float, expected: float) -> None:
    assert debt_delta(side_, weight, f) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("debt", "side_", "weight", "f", "expected"),
    [(-50.0, FRONTIER, 1.0, 0.0, 1.0), (-50.0, LOCAL, 1.0, 0.0, 1.0), (50.0, LOCAL, 1.0, 1.0, -1.0),
     (0.3, FRONTIER, 1.0, 1.0, -0.3), (-0.3, LOCAL, 2.0, 0.0, 0.3), (0.0, FRONTIER, 1.0, 0.0, 0.0)],
)
def test_debt_change_at_target_0_or_1_settles_towards_zero(debt: float, side_: str, weight: float, f: float,
                                                           expected: float) -> None:
    assert debt_change(debt, side_, weight, f) == pytest.approx(expected)


@given(debt=st.floats(-50, 50), side_=st.sampled_from([LOCAL, FRONTIER]), weight=st.floats(0, 10),
       f=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True))
def test_debt_change_at_an_ordinary_target_is_debt_delta(debt: float, side_: str, weight: float, f: float) -> None:
    assert debt_change(debt, side_, weight, f) == debt_delta(side_, weight, f)


@pytest.mark.parametrize(
    ("debt", "delta", "max_debt", "expected"),
    [(0.0, 0.25, 50.0, 0.25), (49.9, 0.25, 50.0, 50.0), (-49.9, -0.75, 50.0, -50.0), (-50.0, 0.25, 50.0, -49.75),
     (3.0, 0.0, 2.0, 2.0)],
)
def test_settle_debt(debt: float, delta: float, max_debt: float, expected: float) -> None:
    assert settle_debt(debt, delta, max_debt) == pytest.approx(expected)


# --- target_for ----------------------------------------------------------------------------------


def test_target_for_precedence() -> None:
    s = parse_settings({"phi_target": 0.75, "teams": {"static": 0.6}})
    rt = RuntimeSettings()
    assert target_for(RequestFacts("g"), s, rt) == (0.75, GLOBAL_DEBT, False)
    assert target_for(RequestFacts("g", team_id="nobody"), s, rt) == (0.75, GLOBAL_DEBT, False)
    assert target_for(RequestFacts("g", team_id="static"), s, rt) == (0.6, "team:static", True)
    assert target_for(RequestFacts("g", team_id="static", team_target=0.9), s, rt) == (0.9, "team:static", True)
    runtime_team = RuntimeSettings(team_targets={"static": 0.3})
    assert target_for(RequestFacts("g", team_id="static", team_target=0.9), s, runtime_team)[0] == 0.3
    assert target_for(RequestFacts("g"), s, RuntimeSettings(phi_target=0.5))[0] == 0.5
    assert target_for(RequestFacts("g"), s, RuntimeSettings(phi_bias=0.5))[0] == 1.0  # clamped
    assert target_for(RequestFacts("g"), s, RuntimeSettings(phi_bias=-0.1))[0] == pytest.approx(0.65)
    off = parse_settings({"team_targets": False, "teams": {"static": 0.6}})
    # team_targets: false ignores the metadata's target only; the static block (and admin overrides) still hold
    assert target_for(RequestFacts("g", team_id="static", team_target=0.9), off, rt) == (0.6, "team:static", True)
    assert target_for(RequestFacts("g", team_id="other", team_target=0.9), off, rt) == (0.75, GLOBAL_DEBT, False)
    assert target_for(RequestFacts("g", team_id="other", team_target=0.9), off, runtime_team) == (0.75, GLOBAL_DEBT, False)
    assert target_for(RequestFacts("g", team_id="static"), off, runtime_team)[0] == 0.3


# --- ScoreQuantiles ------------------------------------------------------------------------------


def test_threshold_quarter_of_uniform_is_three_quarter_quantile() -> None:
    q = ScoreQuantiles(size=1000)
    for i in range(1000):
        q.add(((i * 7919) % 1000) / 1000)  # 0.000 .. 0.999, shuffled
    assert len(q) == 1000
    t = q.threshold(0.25)
    assert t == pytest.approx(0.75, abs=0.002)
    above = sum(1 for i in range(1000) if i / 1000 >= t)
    assert 250 <= above <= 252
    assert q.threshold(0.5) == pytest.approx(0.5, abs=0.002)
    assert q.threshold(0.1) == pytest.approx(0.9, abs=0.002)


def test_threshold_edges() -> None:
    q = ScoreQuantiles()
    assert q.threshold(0.25) == -math.inf  # nothing seen: every in-band request may go frontier
    for s in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7):
        q.add(s)
    assert q.threshold(0.25) == -math.inf  # fewer than 8 scores: not calibrated yet
    q.add(0.8)
    # The (1 - p) quantile by the inverse CDF: the 6th of 8 sorted scores; scores at it go frontier too.
    assert q.threshold(0.25) == 0.6
    assert q.threshold(0.0) == math.inf
    assert q.threshold(-0.5) == math.inf
    assert q.threshold(1.0) == -math.inf
    assert q.threshold(0.001) == 0.8  # the top score at least
    assert q.threshold(0.5) == 0.4
    assert q.threshold(0.999) == 0.1


def test_quantiles_bounded_memory_forgets_oldest() -> None:
    q = ScoreQuantiles(size=16)
    for _ in range(1000):
        q.add(0.0)
    for _ in range(16):
        q.add(1.0)
    assert len(q) == 16
    assert q.threshold(0.99) == 1.0
    assert q.threshold(0.01) == 1.0  # every remembered score is 1.0: the zeros are forgotten
    q.add(0.0)
    assert len(q) == 16


def test_a_uniform_prior_gives_the_training_threshold_at_once_and_real_scores_push_it_out() -> None:
    q = ScoreQuantiles(size=16, uniform_prior=True)
    assert len(q) == 16
    assert q.threshold(0.25) == pytest.approx(0.75, abs=1 / 16)  # before any request
    for _ in range(8):
        q.add(0.1)
    # the oldest (lowest) half of the prior is gone: the 12th of 8 x 0.1 and the grid's upper half
    assert q.threshold(0.25) == 11.5 / 16
    for _ in range(8):
        q.add(0.1)
    assert q.threshold(0.25) == 0.1 and len(q) == 16  # the prior is gone


def test_the_service_uses_the_prior_only_for_a_scorer_with_uniform_scores() -> None:
    from helpers import DEMO_MODEL_LIST, in_process_service

    for scorer, remembered in (("learned", 512), ("heuristic", 1)):  # the window is full from the start
        service = in_process_service(scorer={"name": scorer})
        asyncio.run(service.route("chat", DEMO_MODEL_LIST, [{"role": "user", "content": "hello"}],
                                  {"litellm_call_id": "c1", "metadata": {}}))
        assert len(service.quantiles["chat"]) == remembered


def test_quantiles_ignore_non_finite() -> None:
    q = ScoreQuantiles(size=16)
    for s in (math.nan, math.inf, -math.inf):
        q.add(s)
    assert len(q) == 0
    for i in range(10):
        q.add(i / 10)
        q.add(math.nan)
    assert len(q) == 10
    assert q.threshold(0.2) == 0.7  # 8th of 0.0 .. 0.9: the nans took no place


@hsettings(max_examples=200, deadline=None, database=None)
@given(
    scores=st.lists(st.one_of(st.floats(0.0, 1.0), st.just(math.nan)), min_size=8, max_size=300),
    size=st.integers(8, 64),
    share=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
)
def test_threshold_splits_recent_scores(scores: list[float], size: int, share: float) -> None:
    q = ScoreQuantiles(size=size)
    for s in scores:
        q.add(s)
    recent = [s for s in scores if not math.isnan(s)][-size:]
    assert len(q) == len(recent)
    t = q.threshold(share)
    if len(recent) < 8:
        assert t == -math.inf
        return
    assert t in recent
    n = len(recent)
    assert sum(s >= t for s in recent) >= share * n - 1e-9  # at least the share lies at or above it
    assert sum(s > t for s in recent) <= share * n + 1e-9  # at most the share lies strictly above
