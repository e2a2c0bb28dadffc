"""Properties of the decision core, driven the way the service drives it.

Each request: ``decide`` with the current debts, then every ``decision.deltas`` entry is applied
with ``settle_debt(..., max_debt)`` and the request's score is added to the quantiles. The selector
on its own (``select``, ``utilities``) is in test_selector_properties.py.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st

from wilton_plugin.core.balancer import FRONTIER, LOCAL, ScoreQuantiles, settle_debt
from wilton_plugin.core.engine import GLOBAL_DEBT, Decision, RequestFacts, RuntimeSettings, decide
from wilton_plugin.core.selector import Candidate
from wilton_plugin.settings import BalanceSettings, WiltonSettings, parse_settings

from helpers import expected_share

PROPS = hsettings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

SELFHOST = Candidate("sh-1", "selfhost", True, phi_score=0.45, cost_per_token=0.0, latency_s=0.8)
SELFHOST2 = Candidate("sh-2", "selfhost", True, phi_score=0.5, cost_per_token=0.0, latency_s=None)
EDGE = Candidate("edge-1", "edge", True, phi_score=0.3, cost_per_token=0.0, latency_s=0.2)
FRONT = Candidate("fr-1", "frontier", False, phi_score=0.95, cost_per_token=2e-5, latency_s=1.5)
FRONT2 = Candidate("fr-2", "frontier", False, phi_score=0.85, cost_per_token=5e-6, latency_s=0.9)
ALL = (SELFHOST, SELFHOST2, EDGE, FRONT, FRONT2)
FRONTIER_ONLY = (FRONT, FRONT2)

scores_st = st.lists(st.floats(0.0, 1.0), min_size=50, max_size=600)
phi_st = st.sampled_from([0.5, 0.6, 0.75, 0.9])

SLACK = BalanceSettings().slack  # the default band


@dataclass
class Driver:
    """The service's loop around ``decide``: one model group, in-process debts."""

    settings: WiltonSettings
    runtime: RuntimeSettings = field(default_factory=RuntimeSettings)
    seed: int = 0
    debts: dict[str, float] = field(default_factory=dict)
    quantiles: ScoreQuantiles = field(default_factory=ScoreQuantiles)
    decisions: list[Decision] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def step(self, facts: RequestFacts, candidates: Sequence[Candidate] = ALL) -> Decision:
        decision = decide(facts, candidates, dict(self.debts), self.settings, self.runtime, self.quantiles, self.rng)
        for key, delta in decision.deltas.items():
            self.debts[key] = settle_debt(self.debts.get(key, 0.0), delta, self.settings.balance.max_debt)
        self.quantiles.add(facts.score)
        self.decisions.append(decision)
        return decision

    def run(self, scores: Sequence[float], candidates: Sequence[Candidate] = ALL, **facts: object) -> list[Decision]:
        return [self.step(RequestFacts("chat", score=s, **facts), candidates) for s in scores]  # type: ignore[arg-type]


def local_flags(decisions: Sequence[Decision]) -> list[int]:
    return [1 if d.side == LOCAL else 0 for d in decisions]


def assert_consistent(decision: Decision) -> None:
    """Side, tier and chosen deployment always agree."""
    assert decision.side == (LOCAL if decision.deployment.is_local else FRONTIER)
    assert decision.tier == decision.deployment.tier


# --- the band -----------------------------------------------------------------------------------


@PROPS
@given(scores=scores_st, phi=phi_st)
def test_share_is_held_over_the_run_and_every_window(scores: list[float], phi: float) -> None:
    settings = parse_settings({"phi_target": phi})
    slack = settings.balance.slack  # the default band
    driver = Driver(settings)
    decisions = driver.run(scores)
    flags = local_flags(decisions)
    n = len(flags)
    assert abs(sum(flags) - phi * n) <= slack + 1e-9  # the debt starts at 0 and stays in the band
    window = 40
    running = sum(flags[:window])
    for start in range(n - window + 1):
        if start:
            running += flags[start + window - 1] - flags[start - 1]
        assert abs(running - phi * window) <= 2 * slack + 1e-9, (start, running)
    for d in decisions:
        assert_consistent(d)
        assert d.reason in ("balance", "difficulty")
        assert d.phi_target == phi
        assert d.debt_key == GLOBAL_DEBT
    assert -slack - 1e-9 <= driver.debts[GLOBAL_DEBT] <= slack + 1e-9


@PROPS
@given(scores=scores_st, phi=phi_st, slack=st.sampled_from([0.5, 1.0, 2.5]))
def test_every_window_deviates_at_most_twice_the_slack(scores: list[float], phi: float, slack: float) -> None:
    driver = Driver(parse_settings({"phi_target": phi, "balance": {"slack": slack}}))
    flags = local_flags(driver.run(scores))
    prefix = [0]
    for flag in flags:
        prefix.append(prefix[-1] + flag)
    n = len(flags)
    for size in (1, 7, 25, n):
        worst = max(abs(prefix[i + size] - prefix[i] - phi * size) for i in range(n - size + 1))
        assert worst <= 2 * slack + 1e-9, (size, worst)


def test_difficulty_decides_inside_the_band() -> None:
    """With a calibrated threshold the hard requests are the ones sent to the frontier."""
    rng = random.Random(7)
    scores = [rng.random() for _ in range(2000)]
    decisions = Driver(parse_settings({"phi_target": 0.75})).run(scores)
    later = list(zip(scores, decisions))[600:]
    frontier = [s for s, d in later if d.side == FRONTIER]
    local = [s for s, d in later if d.side == LOCAL]
    assert abs(len(local) - 0.75 * len(later)) <= 2
    assert sum(frontier) / len(frontier) > 0.7
    assert sum(local) / len(local) < 0.45
    by_difficulty = [d for _, d in later if d.reason == "difficulty"]
    assert len(by_difficulty) > len(later) / 2


def test_constant_scores_still_hold_the_share() -> None:
    decisions = Driver(parse_settings({"phi_target": 0.6})).run([0.5] * 500)
    assert abs(sum(local_flags(decisions)) - 300) <= 1


# --- exclusions ---------------------------------------------------------------------------------


@PROPS
@given(
    scores=st.lists(st.floats(0.0, 1.0), min_size=20, max_size=200),
    zero=st.sets(st.sampled_from([c.key for c in ALL]), max_size=4),
    excluded=st.sets(st.sampled_from([c.key for c in ALL]), max_size=4),
    phi=phi_st,
    seed=st.integers(0, 2**32),
)
def test_excluded_and_zero_weight_are_never_chosen(
    scores: list[float], zero: set[str], excluded: set[str], phi: float, seed: int
) -> None:
    runtime = RuntimeSettings(weights={key: 0.0 for key in zero})
    driver = Driver(parse_settings({"phi_target": phi}), runtime=runtime, seed=seed)
    banned = zero | excluded
    usable = [c for c in ALL if c.key not in banned]
    decisions = driver.run(scores, excluded=frozenset(excluded))
    for d in decisions:
        assert_consistent(d)
        if usable:
            assert d.deployment.key not in banned
        assert d.deployment.key not in zero or not [c for c in ALL if c.key not in zero]
    sides = {c.is_local for c in usable}
    if sides == {True, False}:  # both sides usable: the share is held
        assert abs(sum(local_flags(decisions)) - phi * len(decisions)) <= 2 * SLACK + 1e-9
    elif usable:  # one side gone: everything goes to the other, as spill when the other was wanted
        assert {d.side for d in decisions} == {LOCAL if sides == {True} else FRONTIER}


def test_all_excluded_falls_back_to_weighted_candidates() -> None:
    """Every candidate already failed this request: the retry may use any with a weight."""
    driver = Driver(parse_settings({"phi_target": 0.75}))
    facts = RequestFacts("chat", excluded=frozenset(c.key for c in ALL))
    for _ in range(20):
        assert driver.step(facts).deployment in ALL


def test_all_weighted_out_falls_back_to_every_healthy_candidate() -> None:
    """Runtime weights may not leave a request with no candidate: they are ignored then."""
    runtime = RuntimeSettings(weights={c.key: 0.0 for c in ALL})
    driver = Driver(parse_settings({}), runtime=runtime)
    chosen = {driver.step(RequestFacts("chat")).deployment.key for _ in range(40)}
    assert chosen <= {c.key for c in ALL} and len(chosen) >= 2


@pytest.mark.parametrize(("tier", "side"), [("selfhost", LOCAL), ("edge", LOCAL), ("frontier", FRONTIER)])
def test_forced_tier_picks_that_tier_and_counts_in_the_debt(tier: str, side: str) -> None:
    driver = Driver(parse_settings({"phi_target": 0.75}))
    for _ in range(30):
        d = driver.step(RequestFacts("chat", forced_tier=tier, score=0.5))
        assert (d.tier, d.side, d.reason) == (tier, side, "forced")
    expected = 30 * (0.25 if side == LOCAL else -0.75)
    assert driver.debts[GLOBAL_DEBT] == pytest.approx(max(-50.0, min(50.0, expected)))
    # after the forced run the free requests pay the debt back
    frees = driver.run([0.5] * 200)
    total_local = sum(local_flags(driver.decisions))
    assert abs(total_local - 0.75 * 230) <= SLACK + 1e-9
    assert {d.reason for d in frees[:5]} == {"balance"}


# --- reproducibility ------------------------------------------------------------------------------


@PROPS
@given(scores=st.lists(st.floats(0.0, 1.0), min_size=50, max_size=300), seed=st.integers(0, 2**32), phi=phi_st)
def test_seeded_runs_are_reproducible(scores: list[float], seed: int, phi: float) -> None:
    settings = parse_settings({"phi_target": phi})
    first = [d.deployment.key for d in Driver(settings, seed=seed).run(scores)]
    second = [d.deployment.key for d in Driver(settings, seed=seed).run(scores)]
    assert first == second


def test_different_seeds_spread_differently() -> None:
    scores = [i / 200 for i in range(200)]
    settings = parse_settings({})
    runs = {tuple(d.deployment.key for d in Driver(settings, seed=seed).run(scores)) for seed in range(5)}
    assert len(runs) == 5
    sides = {tuple(d.side for d in Driver(settings, seed=seed).run(scores)) for seed in range(5)}
    assert len(sides) == 1  # the side does not depend on the random source


# --- spill-over ----------------------------------------------------------------------------------


@PROPS
@given(
    data=st.data(),
    phi=phi_st,
    max_debt=st.sampled_from([5.0, 20.0, 50.0]),
    before=st.integers(10, 150),
    outage=st.integers(1, 120),
)
def test_local_outage_spills_then_compensates(
    data: st.DataObject, phi: float, max_debt: float, before: int, outage: int
) -> None:
    settings = parse_settings({"phi_target": phi, "balance": {"max_debt": max_debt}})
    slack = settings.balance.slack
    f = 1.0 - phi
    owed = min(max_debt, phi * outage + slack)
    after = math.ceil((owed + slack) / f) + data.draw(st.integers(0, 60), label="extra")
    n = before + outage + after
    scores = data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n), label="scores")
    driver = Driver(settings)

    driver.run(scores[:before])
    debt_before = driver.debts.get(GLOBAL_DEBT, 0.0)
    assert -slack - 1e-9 <= debt_before <= slack + 1e-9

    free = 0
    for score in scores[before : before + outage]:
        debt = driver.debts.get(GLOBAL_DEBT, 0.0)
        d = driver.step(RequestFacts("chat", score=score), FRONTIER_ONLY)
        assert d.side == FRONTIER and d.tier == "frontier"
        if d.reason != "spill":  # the frontier was wanted anyway: only possible while it keeps the band
            assert d.reason in ("balance", "difficulty")
            assert debt - phi >= -slack - 1e-9
            free += 1
        elif debt - phi < -slack:  # once below the band every outage decision is a spill
            assert d.deltas == {GLOBAL_DEBT: pytest.approx(-phi)}
    assert free <= math.floor(2 * slack / phi + 1e-9)
    debt_end = driver.debts[GLOBAL_DEBT]
    assert debt_end == pytest.approx(max(-max_debt, debt_before - phi * outage))

    post = driver.run(scores[before + outage :])
    extra_local = sum(local_flags(post)) - phi * len(post)
    # the owed local work is served back, but no more than max_debt of it
    assert extra_local >= min(max_debt, phi * outage) - 2 * slack - 1e-9
    assert extra_local <= max_debt + slack + 1e-9
    assert -slack - 1e-9 <= driver.debts[GLOBAL_DEBT] <= slack + 1e-9
    if phi * outage + 2 * slack <= max_debt:  # nothing was forgotten: the whole run is back on target
        assert abs(sum(local_flags(driver.decisions)) - phi * n) <= 2 * slack + 1e-9


def test_spill_forgive_policy_records_nothing() -> None:
    driver = Driver(parse_settings({"phi_target": 0.75, "spill_policy": "forgive"}))
    during = driver.run([0.2] * 40, FRONTIER_ONLY)
    spills = [d for d in during if d.reason == "spill"]
    assert len(spills) >= 38
    assert all(not d.deltas for d in spills)
    assert driver.debts[GLOBAL_DEBT] >= -SLACK
    post = driver.run([0.2] * 100)
    assert abs(sum(local_flags(post)) - 75) <= 2


def test_frontier_outage_spills_to_local() -> None:
    driver = Driver(parse_settings({"phi_target": 0.75}))
    during = driver.run([0.9] * 40, (SELFHOST, EDGE))
    assert all(d.side == LOCAL for d in during)
    assert sum(d.reason == "spill" for d in during) >= 8
    assert driver.debts[GLOBAL_DEBT] == pytest.approx(10.0)  # 40 * 0.25 frontier work owed
    post = driver.run([0.1] * 40)
    assert sum(d.side == FRONTIER for d in post) >= 10 + 10 - 2


# --- degenerate targets: nothing can be owed --------------------------------------------------------

LOCAL_ONLY = (SELFHOST, EDGE)


@pytest.mark.parametrize(("target", "down_side_gone"), [(1.0, FRONTIER_ONLY), (0.0, LOCAL_ONLY)])
def test_spills_at_target_0_or_1_owe_nothing_so_a_new_target_holds_at_once(target, down_side_gone) -> None:
    """At local target 1 (or 0) the wanted side went down and every request spilled; once it is back and
    the operator asks for 0.75, the very next requests hold 0.75 (no burst of old debt)."""
    driver = Driver(parse_settings({"phi_target": target}), runtime=RuntimeSettings())
    spills = driver.run([random.Random(i).random() for i in range(100)], down_side_gone)
    assert all(d.reason == "spill" for d in spills)
    assert abs(driver.debts.get(GLOBAL_DEBT, 0.0)) <= 1.0  # never more than one request's weight
    driver.run([0.5] * 500)  # the side is back; the target still 0 or 1
    driver.runtime = RuntimeSettings(phi_target=0.75)
    after = driver.run([random.Random(1000 + i).random() for i in range(200)])
    for size in (20, 200):
        assert abs(sum(local_flags(after[:size])) - 0.75 * size) <= 2 * SLACK + 1e-9, size


@pytest.mark.parametrize("target", [0.0, 1.0])
def test_debt_owed_before_a_target_of_0_or_1_settles_there(target) -> None:
    """Owed work (a frontier outage at 0.75) cannot be served back while one side takes everything: it
    settles by one request's weight per request, so the later 0.75 is held from its first request."""
    driver = Driver(parse_settings({"phi_target": 0.75}))
    driver.run([0.5] * 400, LOCAL_ONLY)
    assert driver.debts[GLOBAL_DEBT] == pytest.approx(50.0)  # max_debt of frontier work owed
    driver.runtime = RuntimeSettings(phi_target=target)
    driver.run([0.5] * 49)
    assert driver.debts[GLOBAL_DEBT] == pytest.approx(1.0)
    driver.run([0.5] * 10)
    assert driver.debts[GLOBAL_DEBT] == 0.0
    driver.runtime = RuntimeSettings()
    after = driver.run([random.Random(7 + i).random() for i in range(40)])
    assert abs(sum(local_flags(after)) - 30) <= 2 * SLACK + 1e-9


def test_a_team_at_target_1_owes_nothing_while_the_global_share_still_counts_its_work() -> None:
    driver = Driver(parse_settings({"phi_target": 0.75}))
    for i in range(60):
        d = driver.step(RequestFacts("chat", score=0.5, team_id="t", team_target=1.0), FRONTIER_ONLY)
        assert d.reason == "spill"
    assert driver.debts["team:t"] == 0.0
    assert driver.debts[GLOBAL_DEBT] == pytest.approx(-45.0)  # 60 frontier requests: 0.75 local work owed each


# --- team targets --------------------------------------------------------------------------------


@PROPS
@given(
    items=st.lists(st.tuples(st.floats(0.0, 1.0), st.booleans()), min_size=50, max_size=600),
    seed=st.integers(0, 2**32),
)
def test_team_target_and_global_share_both_hold(items: list[tuple[float, bool]], seed: int) -> None:
    """Team requests (at most every other request) hold 0.9; all requests together hold 0.75."""
    driver = Driver(parse_settings({"phi_target": 0.75}), seed=seed)
    team_flags: list[int] = []
    for i, (score, wants_team) in enumerate(items):
        team = wants_team and i % 2 == 1  # non-team traffic is at least half, interleaved
        facts = RequestFacts("chat", score=score, team_id="t" if team else None, team_target=0.9 if team else None)
        d = driver.step(facts)
        if team:
            team_flags.append(1 if d.side == LOCAL else 0)
            assert (d.reason, d.phi_target, d.debt_key) == ("team", 0.9, "team:t")
            assert set(d.deltas) == {"team:t", GLOBAL_DEBT}
        else:
            assert d.reason in ("balance", "difficulty") and d.phi_target == 0.75
    n = len(items)
    assert abs(sum(local_flags(driver.decisions)) - 0.75 * n) <= 2 * SLACK + 1e-9
    assert abs(sum(team_flags) - 0.9 * len(team_flags)) <= SLACK + 1e-9
    for start in range(max(0, len(team_flags) - 20) + 1):
        window = team_flags[start : start + 20]
        assert abs(sum(window) - 0.9 * len(window)) <= 2 * SLACK + 1e-9


def test_static_team_target_shifts_the_team_share() -> None:
    """A ``teams:`` target from the settings; every third request is the team's (feasible: the
    others can make up 0.75 overall). Team requests move the global debt without looking at it, so
    this mix can leave the global share up to 2.5 off (worst case of the band arithmetic)."""
    driver = Driver(parse_settings({"phi_target": 0.75, "teams": {"cheap": 0.5}}))
    rng = random.Random(3)
    cheap: list[bool] = []
    for i in range(999):
        team = "cheap" if i % 3 == 0 else None
        d = driver.step(RequestFacts("chat", score=rng.random(), team_id=team))
        if team:
            cheap.append(d.side == LOCAL)
            assert (d.reason, d.phi_target) == ("team", 0.5)
    assert len(cheap) == 333
    assert abs(sum(cheap) - 0.5 * 333) <= SLACK + 1e-9
    assert abs(sum(local_flags(driver.decisions)) - 0.75 * 999) <= 2.5 + 1e-9


# --- selection within a side ---------------------------------------------------------------------


def test_engine_selection_follows_phi_score_within_the_side() -> None:
    driver = Driver(parse_settings({"phi_target": 0.75}), seed=5)
    strong = Candidate("strong", "frontier", False, phi_score=1.0, cost_per_token=1e-5, latency_s=1.0)
    weak = Candidate("weak", "frontier", False, phi_score=0.0, cost_per_token=1e-5, latency_s=1.0)
    local = Candidate("loc", "selfhost", True, phi_score=0.5, cost_per_token=0.0, latency_s=1.0)
    decisions = driver.run([random.Random(1).random() for _ in range(2000)], (local, weak, strong))
    frontier = Counter(d.deployment.key for d in decisions if d.side == FRONTIER)
    assert set(frontier) == {"strong", "weak"}
    share = frontier["strong"] / sum(frontier.values())
    assert abs(share - expected_share(0.5)) < 0.06
