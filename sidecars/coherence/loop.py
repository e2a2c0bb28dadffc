"""The thin loop around the pure controller: observe, step, apply, sleep (backing off on errors).

Observe: φ from Prometheus (the sample's timestamp gives its age); when Prometheus fails or its
sample is stale, φ from the proxy's ``/wilton/status`` (global, else this replica). The bias in
force is read back from the proxy each iteration, so a change made by an operator is followed
(bumplessly) rather than fought. Step: :func:`sidecars.coherence.controller.step`. Apply:
``PUT /wilton/weights {"phi_bias": ...}`` unless dry-run, with an audit log line. Sleep: one interval
after a success, an exponential backoff (capped) after a failure; the sleep is a wait on the stop
event, so SIGTERM interrupts it at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sidecars.coherence.clients import AdminClient, PrometheusReader, SidecarError, status_bias
from sidecars.coherence.controller import ControllerSettings, ControllerState, Observation, SetBias, step
from sidecars.coherence.metrics import CoherenceMetrics

log = logging.getLogger("wilton.coherence")

#: a bias read back from the proxy that differs by more than this was changed by someone else
BIAS_TOLERANCE = 1e-6


class Backoff:
    """Exponential backoff: ``base, 2·base, 4·base, …`` capped at ``cap``; ``reset()`` on success."""

    def __init__(self, base: float, cap: float, factor: float = 2.0):
        self.base = base
        self.cap = max(cap, base)
        self.factor = factor
        self.failures = 0

    def next(self) -> float:
        delay = min(self.cap, self.base * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0


@dataclass(frozen=True)
class IterationResult:
    ok: bool
    observation: Observation | None = None
    action: SetBias | None = None
    applied: bool = False
    error: str | None = None


class CoherenceLoop:
    def __init__(
        self,
        settings: ControllerSettings,
        admin: AdminClient,
        prometheus: PrometheusReader | None,
        metrics: CoherenceMetrics | None = None,
        *,
        dry_run: bool = False,
        max_backoff: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.admin = admin
        self.prometheus = prometheus
        self.metrics = metrics if metrics is not None else CoherenceMetrics()
        self.dry_run = dry_run
        self.backoff = Backoff(settings.interval, max_backoff)
        self.clock = clock
        self.wall_clock = wall_clock
        self.state: ControllerState | None = None
        self._last_step: float | None = None
        self.metrics.target.set(settings.target)

    # --- one iteration ----------------------------------------------------------------------------
    def _error(self, exc: SidecarError | Exception, stage: str | None = None) -> str:
        stage = stage or getattr(exc, "stage", "observe")
        self.metrics.errors.labels(stage=stage).inc()
        return f"{stage}: {exc}"

    def _observe(self) -> tuple[Observation | None, dict | None, list[str]]:
        problems: list[str] = []
        if self.prometheus is not None:
            try:
                observation = self.prometheus.read()
                if observation.age_s <= self.settings.max_age:
                    return observation, None, problems
                problems.append(self._error(SidecarError(f"sample is {observation.age_s:.0f} s old"), "prometheus"))
            except SidecarError as exc:
                problems.append(self._error(exc))
        try:
            status = self.admin.status()
        except SidecarError as exc:
            problems.append(self._error(exc))
            return None, None, problems
        try:
            return self.admin.observe(status), status, problems
        except SidecarError as exc:
            problems.append(self._error(exc, "status"))
            return None, status, problems

    def _freeze(self) -> None:
        if self.state is not None:
            self.state = replace(self.state, frozen=True, mode="frozen")

    def iterate(self) -> IterationResult:
        now = self.clock()
        dt = self.settings.interval if self._last_step is None else now - self._last_step
        self._last_step = now
        observation, status, problems = self._observe()
        if observation is None:
            if self.state is not None:
                self.state, _ = step(self.state, None, self.settings, dt)
            message = "; ".join(problems)
            log.warning("no usable φ (%s); controller frozen", message)
            self.metrics.errors.labels(stage="observe").inc()
            return IterationResult(ok=False, error=message)
        for problem in problems:
            log.warning("falling back to the proxy's /wilton/status: %s", problem)
        self.metrics.observed_phi.set(observation.phi)
        self.metrics.data_age.set(observation.age_s)

        # the bias in force on the proxy (followed when someone else changed it)
        if not (self.dry_run and self.state is not None):
            try:
                proxy_bias = status_bias(status) if status is not None else None
                if proxy_bias is None:
                    proxy_bias = self.admin.bias()
            except SidecarError as exc:
                message = self._error(exc)
                log.warning("cannot read the proxy's phi_bias (%s); controller frozen", message)
                self._freeze()
                return IterationResult(ok=False, observation=observation, error=message)
            if self.state is None:
                log.info("starting from the proxy's phi_bias %.4f", proxy_bias)
                self.state = ControllerState.starting_at(proxy_bias)
            elif abs(self.state.bias - proxy_bias) > BIAS_TOLERANCE:
                log.info("phi_bias was changed outside the sidecar (%.4f → %.4f); following it", self.state.bias, proxy_bias)
                self.state = replace(ControllerState.starting_at(proxy_bias), last_timestamp=self.state.last_timestamp)
        assert self.state is not None

        previous = self.state
        new_state, actions = step(previous, observation, self.settings, dt)
        if new_state.mode == "frozen":
            self.state = new_state
            return IterationResult(ok=False, observation=observation, error="observation unusable")
        action = actions[0] if actions else None
        applied = False
        if action is not None:
            if self.dry_run:
                log.info(
                    "dry-run: would set phi_bias %.4f → %.4f (φ=%.4f, target=%.4f, source=%s)",
                    action.old, action.new, action.phi, action.target, observation.source,
                )
            else:
                try:
                    self.admin.set_bias(action.new)
                except SidecarError as exc:
                    message = self._error(exc, "apply")
                    log.warning("could not apply phi_bias %.4f (%s); controller frozen", action.new, message)
                    self.state = replace(previous, frozen=True, mode="frozen")
                    return IterationResult(ok=False, observation=observation, action=action, error=message)
                applied = True
                self.metrics.corrections.labels(kind=action.kind).inc()
                log.info(
                    "correction: phi_bias %.4f → %.4f (φ=%.4f, target=%.4f, error=%+.4f, source=%s, user=%s)",
                    action.old, action.new, action.phi, action.target, action.error, observation.source,
                    self.admin.username,
                )
        else:
            log.debug("no correction (%s): φ=%.4f target=%.4f bias=%.4f", new_state.mode, observation.phi,
                      self.settings.target, new_state.bias)
        self.state = new_state
        self.metrics.bias.set(new_state.bias)
        self.metrics.last_success.set(self.wall_clock())
        return IterationResult(ok=True, observation=observation, action=action, applied=applied)

    # --- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, once: bool = False, wait: Callable[[float], object] | None = None) -> int:
        """Iterate until ``stop`` is set; ``once``: one iteration, 0 on success and 1 on failure."""
        wait = wait or stop.wait
        while not stop.is_set():
            try:
                result = self.iterate()
            except Exception as exc:  # the loop must survive anything an iteration throws
                log.exception("unexpected error in an iteration")
                self._freeze()
                result = IterationResult(ok=False, error=self._error(exc, "loop"))
            if once:
                return 0 if result.ok else 1
            if result.ok:
                self.backoff.reset()
                delay = self.settings.interval
            else:
                delay = self.backoff.next()
                log.info("backing off %.1f s", delay)
            wait(delay)
        log.info("stopped")
        return 0
