"""The coherence controller (sidecars/coherence/controller.py), driven with simulated time.

The plant models the proxy's inner loop: each replica's balancer holds the local share at
clamp(phi_target + phi_bias); when the local tier is overloaded a fraction of the traffic meant for
it spills to the frontier tier. φ is read through a short rate window (a moving average over the
last few intervals), as the sidecar sees it from Prometheus.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from sidecars.coherence.controller import (
    ControllerSettings,
    ControllerState,
    Observation,
    SetBias,
    clamp,
    step,
)

TARGET = 0.75
INTERVAL = 10.0


@dataclass
class Plant:
    """Global φ of the replicas given the bias; ``spill`` of local-bound traffic goes to frontier."""

    target: float = TARGET
    spill: float = 0.0
    offset: float = 0.0  # additive drift (e.g. workers balancing alone without shared state)
    window: int = 3  # intervals averaged by the rate window
    history: deque = field(default_factory=deque)

    def true_share(self, bias: float) -> float:
        held = clamp(self.target + bias, 0.0, 1.0)
        return clamp(held * (1.0 - self.spill) + self.offset, 0.0, 1.0)

    def observe(self, bias: float) -> float:
        self.history.append(self.true_share(bias))
        while len(self.history) > self.window:
            self.history.popleft()
        return sum(self.history) / len(self.history)


def run(plant: Plant, settings: ControllerSettings, intervals: int, *, disturb_at: int = 5, spill: float = 0.2,
        offset: float = 0.0, noise=None):
    """Simulate; returns the φ seen at each interval and the biases applied."""
    state = ControllerState.starting_at(0.0)
    seen, biases = [], []
    for k in range(intervals):
        if k == disturb_at:
            plant.spill, plant.offset = spill, offset
        phi = plant.observe(state.bias) + (noise(k) if noise else 0.0)
        seen.append(phi)
        state, actions = step(state, Observation(phi=phi, age_s=1.0, timestamp=k * settings.interval), settings, settings.interval)
        for action in actions:
            assert isinstance(action, SetBias)
        biases.append(state.bias)
    return seen, biases


def settle_index(values, target, tolerance):
    for i in range(len(values)):
        if all(abs(v - target) <= tolerance for v in values[i:]):
            return i
    return None


@pytest.mark.parametrize("window", [1, 3, 6])
@pytest.mark.parametrize(("spill", "offset"), [(0.2, 0.0), (0.0, -0.15), (0.0, 0.12)])
def test_step_disturbance_returns_within_one_pp_without_overshoot(window, spill, offset):
    settings = ControllerSettings(target=TARGET, interval=INTERVAL)
    plant = Plant(window=window)
    seen, biases = run(plant, settings, 80, disturb_at=5, spill=spill, offset=offset)
    before = seen[:5]
    assert all(abs(v - TARGET) < 1e-9 for v in before)
    after = seen[6:]
    direction = 1 if (spill > 0 or offset < 0) else -1  # the disturbance pushes φ down (1) or up (-1)
    overshoot = max(0.0, max(direction * (v - TARGET) for v in after))
    assert overshoot < 0.03
    index = settle_index(after, TARGET, 0.01)
    assert index is not None and index <= 30, f"settled after {index} intervals"
    assert all(abs(b) <= 0.25 for b in biases)


def test_spill_of_20_percent_is_compensated_by_the_bias():
    settings = ControllerSettings(target=TARGET, interval=INTERVAL)
    plant = Plant()
    seen, biases = run(plant, settings, 60)
    assert min(seen) < 0.62  # the disturbance was real
    assert abs(seen[-1] - TARGET) <= settings.dead_band + 1e-9
    assert biases[-1] == pytest.approx(TARGET / 0.8 - TARGET, abs=0.01)


def test_noisy_measurements_still_settle():
    settings = ControllerSettings(target=TARGET, interval=INTERVAL)
    seen, _ = run(Plant(), settings, 80, noise=lambda k: 0.003 * math.sin(k * 1.7))
    after = seen[6:]
    assert settle_index(after, TARGET, 0.01) <= 30


def test_stale_data_freezes_the_controller():
    settings = ControllerSettings(target=TARGET, interval=INTERVAL)
    state = ControllerState.starting_at(0.05)
    old = Observation(phi=0.5, age_s=2 * INTERVAL + 0.1, timestamp=1.0)
    new_state, actions = step(state, old, settings, INTERVAL)
    assert actions == ()
    assert new_state.bias == 0.05 and new_state.frozen and new_state.mode == "frozen"
    for missing in (None, Observation(phi=None), Observation(phi=float("nan")), Observation(phi=0.5, age_s=math.inf)):
        frozen, actions = step(state, missing, settings, INTERVAL)
        assert actions == () and frozen.bias == 0.05 and frozen.mode == "frozen"
    # exactly two intervals old is still usable
    _, actions = step(state, Observation(phi=0.5, age_s=2 * INTERVAL, timestamp=1.0), settings, INTERVAL)
    assert actions


def test_the_same_sample_is_not_used_twice():
    settings = ControllerSettings(interval=INTERVAL)
    state, actions = step(ControllerState(), Observation(phi=0.6, timestamp=100.0), settings, INTERVAL)
    assert actions
    again, actions = step(state, Observation(phi=0.6, timestamp=100.0), settings, INTERVAL)
    assert actions == () and again.mode == "repeat" and again.bias == state.bias


def test_dead_band_holds_the_bias():
    settings = ControllerSettings(interval=INTERVAL, dead_band=0.005)
    state = ControllerState(bias=0.1, integral=0.1, frozen=False)
    for k, phi in enumerate([0.7451, 0.7549, 0.75, 0.746]):
        state, actions = step(state, Observation(phi=phi, timestamp=k), settings, INTERVAL)
        assert actions == () and state.bias == 0.1 and state.integral == 0.1


def test_no_wind_up_while_saturated():
    settings = ControllerSettings(interval=INTERVAL)
    state = ControllerState.starting_at(0.0)
    # a disturbance the bias cannot compensate: φ stuck at 0.3 for a long time
    for k in range(500):
        state, _ = step(state, Observation(phi=0.3, timestamp=k), settings, INTERVAL)
    assert state.bias == settings.bias_max
    assert state.integral <= settings.bias_max + 1e-9
    # the disturbance ends and φ overshoots: the bias leaves the limit at the very next step
    state, actions = step(state, Observation(phi=0.9, timestamp=1000), settings, INTERVAL)
    assert actions and state.bias == pytest.approx(settings.bias_max - settings.max_step)
    state, actions = step(state, Observation(phi=0.9, timestamp=1001), settings, INTERVAL)
    assert state.bias < settings.bias_max - settings.max_step


def test_resume_after_an_outage_is_bumpless():
    settings = ControllerSettings(interval=INTERVAL)
    state = ControllerState(bias=0.1, integral=0.1, frozen=False)
    for k in range(30):  # five minutes without data
        state, actions = step(state, None, settings, INTERVAL)
        assert actions == ()
    # data comes back far off target after a long gap (large dt): only a small first move
    state, actions = step(state, Observation(phi=0.55, timestamp=400.0), settings, 300.0)
    assert len(actions) == 1
    move = actions[0].new - actions[0].old
    assert 0 < move <= settings.ki * 0.2 * INTERVAL + 1e-9
    assert not state.frozen


def test_a_fresh_state_does_not_jump():
    settings = ControllerSettings(interval=INTERVAL)
    state, actions = step(ControllerState.starting_at(-0.1), Observation(phi=0.4, timestamp=1.0), settings, INTERVAL)
    assert abs(state.bias - -0.1) <= settings.max_step + 1e-12


@pytest.mark.parametrize(
    "kwargs",
    [{"target": 1.5}, {"kp": -1}, {"max_step": 0}, {"bias_min": 0.3, "bias_max": 0.2}, {"interval": 0},
     {"ki": math.nan}, {"stale_after": 0}],
)
def test_invalid_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        ControllerSettings(**kwargs)


observations = st.one_of(
    st.none(),
    st.builds(
        Observation,
        phi=st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.floats(0, 1)),
        age_s=st.one_of(st.floats(0, 60), st.floats(allow_nan=True)),
        timestamp=st.one_of(st.none(), st.floats(0, 1e6)),
    ),
)


@hsettings(max_examples=200, deadline=None)
@given(
    start=st.floats(-1, 1),
    sequence=st.lists(st.tuples(observations, st.floats(0, 1000)), max_size=60),
    kp=st.floats(0, 5),
    ki=st.floats(0, 1),
    max_step=st.floats(0.001, 0.1),
    limit=st.floats(0.01, 0.5),
)
def test_limits_hold_for_any_observation_sequence(start, sequence, kp, ki, max_step, limit):
    settings = ControllerSettings(kp=kp, ki=ki, max_step=max_step, bias_min=-limit, bias_max=limit, interval=INTERVAL)
    state = ControllerState.starting_at(start)
    previous = clamp(start, -limit, limit)
    for observation, dt in sequence:
        state, actions = step(state, observation, settings, dt)
        assert -limit <= state.bias <= limit
        assert abs(state.bias - previous) <= max_step + 1e-12
        assert math.isfinite(state.integral)
        assert abs(state.integral) <= limit + kp + 1e-9
        if actions:
            (action,) = actions
            assert action.old == previous and action.new == state.bias and action.new != action.old
        else:
            assert state.bias == previous
        previous = state.bias
