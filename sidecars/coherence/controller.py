"""The coherence controller: a pure PI step on the global φ error, acting on ``phi_bias``.

No I/O, no clock, no HTTP or metrics imports (import-linter enforces it): the loop in
``sidecars.coherence.loop`` observes, calls :func:`step`, applies the actions and sleeps; tests drive
:func:`step` with simulated time.

The control law, per interval of length ``dt``:

* ``error = target - phi``;
* frozen (no action, no integration) when the observation is missing, not finite, older than
  ``stale_after`` (two intervals by default) or not newer than the last one used;
* inside the dead band (``|error| <= dead_band``) the bias is held and nothing is integrated;
* otherwise the PI output ``kp * error + integral`` is limited to ``max_step`` away from the current
  bias and clamped to ``[bias_min, bias_max]``;
* anti-windup by tracking: when either limit bites, the integral is set to what the applied output
  implies (``applied - kp * error``) instead of accumulating, so it never winds up while saturated;
* ``dt`` used for integration is capped at one interval, and the first step after a freeze restarts
  the integral from the applied bias (bumpless), so an outage never causes a wild correction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = ["ControllerSettings", "ControllerState", "Observation", "SetBias", "step", "clamp"]


def clamp(value: float, low: float, high: float) -> float:
    """``value`` limited to ``[low, high]``."""
    return max(low, min(high, value))


@dataclass(frozen=True)
class ControllerSettings:
    """Tuning and limits. Gains are per second (``ki``) and dimensionless (``kp``)."""

    target: float = 0.75
    kp: float = 0.3
    ki: float = 0.02
    dead_band: float = 0.005
    max_step: float = 0.02
    bias_min: float = -0.25
    bias_max: float = 0.25
    interval: float = 10.0
    stale_after: float | None = None  # default: two intervals

    def __post_init__(self) -> None:
        for name in ("target", "kp", "ki", "dead_band", "max_step", "bias_min", "bias_max", "interval"):
            if not math.isfinite(getattr(self, name)):
                raise ValueError(f"{name} must be a finite number")
        if not 0.0 <= self.target <= 1.0:
            raise ValueError("target must be in [0, 1]")
        if self.kp < 0 or self.ki < 0 or self.dead_band < 0:
            raise ValueError("kp, ki and dead_band must not be negative")
        if self.max_step <= 0:
            raise ValueError("max_step must be positive")
        if self.bias_min > self.bias_max:
            raise ValueError("bias_min must not exceed bias_max")
        if self.interval <= 0:
            raise ValueError("interval must be positive")
        if self.stale_after is not None and not self.stale_after > 0:
            raise ValueError("stale_after must be positive")

    @property
    def max_age(self) -> float:
        """Data older than this (seconds) freezes the controller."""
        return self.stale_after if self.stale_after is not None else 2.0 * self.interval


@dataclass(frozen=True)
class Observation:
    """One reading of the global φ: its value, its age in seconds and (optionally) its timestamp."""

    phi: float | None
    age_s: float = 0.0
    timestamp: float | None = None
    source: str = "prometheus"


@dataclass(frozen=True)
class ControllerState:
    """What the controller remembers between steps."""

    bias: float = 0.0
    integral: float = 0.0
    last_timestamp: float | None = None  # timestamp of the last observation used
    frozen: bool = True  # a fresh state starts "after an outage": bumpless first step
    mode: str = "init"  # init | frozen | repeat | dead_band | track | saturated | rate_limited

    @classmethod
    def starting_at(cls, bias: float) -> ControllerState:
        """A state holding ``bias`` (e.g. the proxy's current ``phi_bias``), bumpless."""
        return cls(bias=bias, integral=bias)


@dataclass(frozen=True)
class SetBias:
    """Action: set the proxy's ``phi_bias`` from ``old`` to ``new``."""

    old: float
    new: float
    phi: float
    target: float
    error: float
    kind: str = "bias"


def _usable(observation: Observation | None, state: ControllerState, settings: ControllerSettings) -> str | None:
    """Why ``observation`` cannot be used (a mode name), or None when it can."""
    if observation is None or observation.phi is None:
        return "frozen"
    if not math.isfinite(observation.phi) or not math.isfinite(observation.age_s):
        return "frozen"
    if observation.age_s > settings.max_age:
        return "frozen"
    if (
        observation.timestamp is not None
        and state.last_timestamp is not None
        and observation.timestamp <= state.last_timestamp
    ):
        return "repeat"
    return None


def step(
    state: ControllerState,
    observation: Observation | None,
    settings: ControllerSettings,
    dt: float,
) -> tuple[ControllerState, tuple[SetBias, ...]]:
    """One control interval: the next state and the actions to apply (empty or one ``SetBias``)."""
    bias = clamp(state.bias, settings.bias_min, settings.bias_max)
    why_not = _usable(observation, state, settings)
    if why_not == "frozen":
        return replace(state, bias=bias, integral=bias, frozen=True, mode="frozen"), ()
    if why_not == "repeat":
        return replace(state, bias=bias, mode="repeat"), ()
    assert observation is not None and observation.phi is not None
    phi = clamp(observation.phi, 0.0, 1.0)
    error = settings.target - phi
    resumed = state.frozen
    integral = state.integral
    if resumed or not math.isfinite(integral):
        # bumpless restart: the integral carries exactly the bias in force, nothing remembered
        integral = bias
    base = replace(state, bias=bias, last_timestamp=observation.timestamp, frozen=False)

    if abs(error) <= settings.dead_band:
        if resumed:
            integral = bias
        return replace(base, integral=integral, mode="dead_band"), ()

    dt_eff = clamp(dt if math.isfinite(dt) else 0.0, 0.0, settings.interval)
    candidate_integral = integral + settings.ki * error * dt_eff
    if resumed:
        candidate_integral = bias - settings.kp * error + settings.ki * error * dt_eff
    wanted = settings.kp * error + candidate_integral
    applied = clamp(wanted, bias - settings.max_step, bias + settings.max_step)
    mode = "track" if applied == wanted else "rate_limited"
    limited = clamp(applied, settings.bias_min, settings.bias_max)
    if limited != applied:
        mode = "saturated"
    applied = limited
    if mode == "track":
        integral = candidate_integral
    else:
        # anti-windup (tracking): the integral follows the output actually applied
        integral = applied - settings.kp * error
    integral = clamp(integral, settings.bias_min - settings.kp, settings.bias_max + settings.kp)
    new_state = replace(base, bias=applied, integral=integral, mode=mode)
    if applied == bias:
        return new_state, ()
    return new_state, (SetBias(old=bias, new=applied, phi=phi, target=settings.target, error=error),)
