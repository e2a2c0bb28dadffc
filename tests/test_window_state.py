"""The φ window, the EWMAs and the in-process state store."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.core.stats import Ewma
from wilton_plugin.core.window import PhiWindow, WindowTotals
from wilton_plugin.settings import parse_settings
from wilton_plugin.state_local import LocalStore, Record, Snapshot

# --- PhiWindow -----------------------------------------------------------------------------------


def test_window_totals_phi() -> None:
    assert WindowTotals().phi is None
    t = WindowTotals(total=4.0, local=3.0, count=4)
    assert t.phi == 0.75
    assert t.frontier == 1.0


def test_count_window_empty() -> None:
    w = PhiWindow("count", 3)
    totals = w.totals(0.0)
    assert totals == WindowTotals(0.0, 0.0, 0)
    assert totals.phi is None


def test_count_window_keeps_last_entries() -> None:
    w = PhiWindow("count", 3)
    for now, local in enumerate([1.0, 0.0, 1.0, 1.0, 0.0]):
        w.add(float(now), local, 1.0)
    totals = w.totals(100.0)  # count windows do not age
    assert totals == WindowTotals(total=3.0, local=2.0, count=3)  # [1, 1, 0]
    assert totals.phi == pytest.approx(2 / 3)
    w.add(5.0, 0.0, 1.0)
    assert w.totals(5.0) == WindowTotals(total=3.0, local=1.0, count=3)  # [1, 0, 0]


def test_count_window_weighted_work() -> None:
    w = PhiWindow("count", 2)
    w.add(0.0, 10.0, 10.0)
    w.add(1.0, 0.0, 30.0)
    assert w.totals(1.0).phi == pytest.approx(0.25)
    w.add(2.0, 20.0, 20.0)  # the first entry leaves
    assert w.totals(2.0) == WindowTotals(total=50.0, local=20.0, count=2)


def test_time_window_evicts_old_entries() -> None:
    w = PhiWindow("time", 10.0)
    w.add(0.0, 1.0, 1.0)
    w.add(5.0, 0.0, 1.0)
    w.add(9.0, 1.0, 1.0)
    assert w.totals(9.0) == WindowTotals(total=3.0, local=2.0, count=3)
    assert w.totals(10.0).count == 3  # the entry at 0 is exactly 10 s old: still in
    assert w.totals(10.5) == WindowTotals(total=2.0, local=1.0, count=2)
    assert w.totals(16.0) == WindowTotals(total=1.0, local=1.0, count=1)
    empty = w.totals(100.0)
    assert empty == WindowTotals(0.0, 0.0, 0)
    assert empty.phi is None
    w.add(101.0, 0.0, 2.0)
    assert w.totals(101.0) == WindowTotals(total=2.0, local=0.0, count=1)
    assert w.totals(101.0).phi == 0.0


def test_time_window_entry_bound() -> None:
    w = PhiWindow("time", 1e9)
    w.MAX_ENTRIES = 5
    for i in range(20):
        w.add(float(i), 1.0 if i % 2 else 0.0, 1.0)
    totals = w.totals(20.0)
    assert totals.count == 5
    assert totals == WindowTotals(total=5.0, local=3.0, count=5)  # entries 15..19: 15, 17, 19 local


def test_window_kind_checked() -> None:
    with pytest.raises(ValueError, match="sliding"):
        PhiWindow("sliding", 10)


@hsettings(max_examples=150, deadline=None, database=None)
@given(
    entries=st.lists(
        st.tuples(st.floats(0.0, 5.0), st.booleans(), st.integers(1, 100)),  # (time step, local?, work)
        max_size=200,
    ),
    size=st.integers(1, 50),
    kind=st.sampled_from(["count", "time"]),
)
def test_window_matches_brute_force(entries: list[tuple[float, bool, int]], size: int, kind: str) -> None:
    w = PhiWindow(kind, float(size))
    seen: list[tuple[float, float, float]] = []
    now = 0.0
    for step, is_local, work in entries:
        now += step
        w.add(now, float(work) if is_local else 0.0, float(work))
        seen.append((now, float(work) if is_local else 0.0, float(work)))
        if kind == "count":
            inside = seen[-size:]
        else:
            inside = [e for e in seen if e[0] >= now - size]
        totals = w.totals(now)
        assert totals.count == len(inside)
        assert totals.total == pytest.approx(sum(e[2] for e in inside))
        assert totals.local == pytest.approx(sum(e[1] for e in inside))


# --- Ewma ----------------------------------------------------------------------------------------


def test_ewma_updates() -> None:
    e = Ewma(0.5)
    assert e.get("a") is None
    assert e.update("a", 10.0) == 10.0  # the first sample is the average
    assert e.update("a", 20.0) == 15.0
    assert e.update("a", 0.0) == 7.5
    assert e.get("a") == 7.5
    assert e.get("b") is None
    assert e.snapshot() == {"a": 7.5}


def test_ewma_alpha_one_follows_last_sample() -> None:
    e = Ewma(1.0)
    for sample in (3.0, 9.0, 1.0):
        assert e.update("k", sample) == sample


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, -1.0])
def test_ewma_ignores_bad_samples(bad: float) -> None:
    e = Ewma(0.2)
    assert math.isnan(e.update("a", bad))  # nothing known yet
    assert e.get("a") is None
    e.update("a", 4.0)
    assert e.update("a", bad) == 4.0
    assert e.get("a") == 4.0


@pytest.mark.parametrize("alpha", [0.0, -0.1, 1.5, math.nan])
def test_ewma_alpha_checked(alpha: float) -> None:
    with pytest.raises(ValueError):
        Ewma(alpha)


def test_ewma_bounded_keys_and_snapshot_is_a_copy() -> None:
    e = Ewma(0.5, max_keys=3)
    for i, key in enumerate("abcd"):
        e.update(key, float(i))
    assert e.snapshot() == {"b": 1.0, "c": 2.0, "d": 3.0}  # the oldest key is dropped
    e.update("b", 3.0)  # an existing key never evicts
    assert set(e.snapshot()) == {"b", "c", "d"}
    snap = e.snapshot()
    snap["z"] = 1.0
    assert e.get("z") is None


@hsettings(max_examples=100, deadline=None, database=None)
@given(st.lists(st.floats(0.0, 1e6), min_size=1, max_size=50), st.floats(0.01, 1.0))
def test_ewma_stays_within_sample_range(samples: list[float], alpha: float) -> None:
    e = Ewma(alpha)
    for s in samples:
        e.update("k", s)
    value = e.get("k")
    assert value is not None
    assert min(samples) - 1e-6 <= value <= max(samples) + 1e-6


# --- LocalStore ----------------------------------------------------------------------------------


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def store(raw: dict | None = None, clock: Clock | None = None) -> LocalStore:
    return LocalStore(parse_settings(raw or {"balance": {"slack": 1, "max_debt": 5}}), clock or Clock())


async def test_store_snapshot_defaults() -> None:
    s = store()
    snap = await s.snapshot(("global", "team:a"))
    assert snap == Snapshot({"global": 0.0, "team:a": 0.0}, RuntimeSettings(), shared=False)
    assert s.shared is False


async def test_store_record_applies_and_clamps_debts() -> None:
    s = store()
    await s.record(Record(1.0, {"global": 0.25, "team:a": -0.75}, 0.0, 0.0))
    assert (await s.snapshot(("global", "team:a"))).debts == {"global": 0.25, "team:a": -0.75}
    for _ in range(10):
        await s.record(Record(2.0, {"global": -0.75}, 0.0, 0.0))
    assert (await s.snapshot(("global",))).debts == {"global": -5.0}  # clamped to -max_debt
    await s.record(Record(3.0, {"global": 0.25}, 0.0, 0.0))
    assert (await s.snapshot(("global",))).debts["global"] == -4.75  # repays from the clamp, not below
    await s.record(Record(4.0, {"team:a": 100.0}, 0.0, 0.0))
    assert (await s.snapshot(("team:a",))).debts == {"team:a": 5.0}
    snap = await s.snapshot(("global",))
    assert set(snap.debts) == {"global"}  # only what was asked


async def test_store_record_fills_the_window() -> None:
    clock = Clock(0.0)
    s = store({"window": {"kind": "time", "size": 10}}, clock)
    assert (await s.totals()).phi is None
    assert await s.record(Record(0.0, {"global": 0.25}, 0.0, 0.0)) == WindowTotals(0.0, 0.0, 0)  # decision only
    assert await s.record(Record(1.0, {}, 1.0, 1.0)) == WindowTotals(1.0, 1.0, 1)
    totals = await s.record(Record(2.0, {}, 0.0, 1.0))
    assert totals == WindowTotals(2.0, 1.0, 2)
    assert totals.phi == 0.5
    clock.now = 5.0
    assert await s.totals() == WindowTotals(2.0, 1.0, 2)
    clock.now = 11.5  # the entry at 1.0 aged out
    assert await s.totals() == WindowTotals(1.0, 0.0, 1)
    clock.now = 30.0
    assert (await s.totals()).phi is None


async def test_store_count_window_and_runtime() -> None:
    s = store({"window": {"kind": "count", "size": 10}})
    for i in range(15):
        totals = await s.record(Record(float(i), {}, 1.0 if i < 5 else 0.0, 1.0))
    assert totals == WindowTotals(10.0, 0.0, 10)
    runtime = RuntimeSettings(phi_target=0.5, weights={"x": 0.0})
    await s.set_runtime(runtime)
    assert s.runtime_hint() == runtime
    assert (await s.snapshot(("global",))).runtime == runtime
    await s.close()


@hsettings(max_examples=100, deadline=None, database=None)
@given(
    deltas=st.lists(st.floats(-3.0, 3.0), max_size=100),
    max_debt=st.floats(1.0, 10.0),
)
def test_store_debt_always_within_max_debt(deltas: list[float], max_debt: float) -> None:
    s = LocalStore(parse_settings({"balance": {"slack": 1, "max_debt": max_debt}}), Clock())
    expected = 0.0
    for delta in deltas:
        s.apply(Record(0.0, {"global": delta}, 0.0, 0.0))
        expected = min(max_debt, max(-max_debt, expected + delta))
        assert -max_debt <= s.debts["global"] <= max_debt
        assert s.debts["global"] == pytest.approx(expected)
