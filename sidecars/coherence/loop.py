"""The thin loop around the pure controller: observe, step, apply, sleep (backing off on errors).

Observe: φ from Prometheus (``timestamp(<query>)`` gives its sample's age). When Prometheus answers
no value (no traffic) the loop holds: no correction, nothing integrated, counted in
``wilton_coherence_holds_total{reason="no_data"}``. Only when Prometheus is off, failing or its sample
is stale does it fall back to the proxy's ``/wilton/status`` (global, else this replica), and only to
a φ known to be recent (see :func:`sidecars.coherence.clients.status_age`). The bias in
force is read back from the proxy each iteration, so a change made by an operator is followed
(bumplessly) rather than fought. Step: :func:`sidecars.coherence.controller.step`. Apply:
``PUT /wilton/weights {"phi_bias": ...}`` unless dry-run, with an audit log line. Sleep: one interval
after a success or a hold, an exponential backoff (capped) after a failure; the sleep is a wait on
the stop event, so SIGTERM interrupts it at once.

A problem (a failed iteration, or a fallback to ``/wilton/status``) is logged when it starts or
changes, at DEBUG while it repeats, and its end with one ``recovered`` line, as the insight loop does;
a hold likewise (its start, DEBUG while it lasts, ``φ is back``). A problem whose text changes only in
its durations (a sample's growing age) is the same problem.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sidecars.common.backoff import Backoff
from sidecars.common.episodes import Episode
from sidecars.common.redact import exception_line, exception_trace, redact_urls

from sidecars.coherence.clients import AdminClient, NoData, PrometheusReader, SidecarError, phi_query_for, status_bias
from sidecars.coherence.controller import ControllerSettings, ControllerState, Observation, SetBias, step
from sidecars.coherence.metrics import CoherenceMetrics

log = logging.getLogger("wilton.coherence")

#: a bias read back from the proxy that differs by more than this was changed by someone else
BIAS_TOLERANCE = 1e-6

@dataclass(frozen=True)
class Reading:
    """What observing found: the φ to act on (or None), the status body read on the way, the problems
    met, and ``hold``, the reason to hold without it being a failure (``no_data``: Prometheus has no value)."""

    observation: Observation | None = None
    status: dict | None = None
    problems: tuple[str, ...] = ()
    hold: str | None = None


@dataclass(frozen=True)
class IterationResult:
    """One iteration: ``ok`` (success, or a hold), what it saw and did, why it failed or held, and
    ``fallback``, the problems that made a success fall back to the proxy's /wilton/status."""

    ok: bool
    observation: Observation | None = None
    action: SetBias | None = None
    applied: bool = False
    error: str | None = None
    held: str | None = None
    fallback: str | None = None
    trace: str | None = None  # an unexpected error's traceback (URLs redacted), logged when it starts


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
        self._holding: str | None = None  # the reason of the hold in progress, to log it once
        # the problem being reported ("failing", "falling back to …"), so it is logged once
        self._episode = Episode(log, "iteration")
        self.metrics.target.set(settings.target)

    # --- one iteration ----------------------------------------------------------------------------
    def _error(self, exc: SidecarError | Exception, stage: str | None = None) -> str:
        stage = stage or getattr(exc, "stage", "observe")
        self.metrics.errors.labels(stage=stage).inc()
        return f"{stage}: {redact_urls(str(exc))}"

    def _observe(self) -> Reading:
        problems: list[str] = []
        max_age = self.settings.max_age
        status: dict | None = None
        status_failed = False
        if self.prometheus is not None and self.prometheus.follows_unit:
            # The default query follows the proxy's phi_unit (the share its balancer holds), read from
            # its status at every iteration; while the status cannot be read, the last unit seen holds.
            try:
                status = self.admin.status()
                self.prometheus.query = phi_query_for(status)
            except SidecarError as exc:
                problems.append(self._error(exc, "status" if status is not None else None))
                status_failed = status is None
                if self.prometheus.query is None:
                    return Reading(status=status, problems=tuple(problems))
        if self.prometheus is not None and self.prometheus.query is not None:
            try:
                observation = self.prometheus.read()
            except NoData as exc:
                # Prometheus works and has no value: no traffic. Hold; the status's φ is no substitute
                # (it can be the share of the last requests, however old they are).
                return Reading(hold="no_data", problems=(str(exc),))
            except SidecarError as exc:
                problems.append(self._error(exc))
            else:
                if observation.age_s <= max_age:
                    return Reading(observation=observation)
                problems.append(self._error(
                    SidecarError(f"its φ sample is {observation.age_s:.0f} s old (stale after {max_age:g} s)"),
                    "prometheus"))
        # Prometheus off, failing or stale: the proxy's status, if its φ is known to be recent enough
        if status_failed:
            return Reading(problems=tuple(problems))
        if status is None:
            try:
                status = self.admin.status()
            except SidecarError as exc:
                problems.append(self._error(exc))
                return Reading(problems=tuple(problems))
        try:
            observation = self.admin.observe(status)
        except SidecarError as exc:
            problems.append(self._error(exc, "status"))
            return Reading(status=status, problems=tuple(problems))
        if observation.age_s <= max_age:
            return Reading(observation=observation, status=status, problems=tuple(problems))
        if math.isinf(observation.age_s):
            why = "carries no age (count window, or this replica's last requests)"
        else:
            why = f"may be {observation.age_s:g} s old (its time window; stale after {max_age:g} s)"
        problem = SidecarError(f"the proxy's /wilton/status φ ({observation.source}) {why}")
        problems.append(self._error(problem, "status"))
        return Reading(status=status, problems=tuple(problems))

    def _hold(self, reason: str, detail: str, dt: float) -> IterationResult:
        """No correction and no integration (the next step restarts bumplessly), logged when it starts."""
        if self.state is not None:
            self.state, _ = step(self.state, None, self.settings, dt)
        self.metrics.holds.labels(reason=reason).inc()
        if self._holding != reason:
            log.info("holding phi_bias (no correction): %s", detail)
        else:
            log.debug("still holding phi_bias: %s", detail)
        self._holding = reason
        self.metrics.last_success.set(self.wall_clock())
        return IterationResult(ok=True, held=reason)

    def _freeze(self) -> None:
        if self.state is not None:
            self.state = replace(self.state, frozen=True, mode="frozen")

    def iterate(self) -> IterationResult:
        now = self.clock()
        dt = self.settings.interval if self._last_step is None else now - self._last_step
        self._last_step = now
        reading = self._observe()
        if reading.hold is not None:
            return self._hold(reading.hold, "; ".join(reading.problems), dt)
        observation, status, problems = reading.observation, reading.status, reading.problems
        if self._holding is not None and observation is not None:
            log.info("φ is back (%s, %.0f s old); the controller resumes", observation.source, observation.age_s)
        self._holding = None
        if observation is None:
            if self.state is not None:
                self.state, _ = step(self.state, None, self.settings, dt)
            self.metrics.errors.labels(stage="observe").inc()
            return IterationResult(ok=False, error=f"no usable φ ({'; '.join(problems)}); controller frozen")
        fallback = "; ".join(problems) or None
        self.metrics.observed_phi.set(observation.phi)
        self.metrics.data_age.set(observation.age_s)

        # the bias in force on the proxy (followed when someone else changed it)
        if not (self.dry_run and self.state is not None):
            try:
                proxy_bias = status_bias(status) if status is not None else None
                if proxy_bias is None:
                    proxy_bias = self.admin.bias()
            except SidecarError as exc:
                self._freeze()
                message = f"cannot read the proxy's phi_bias ({self._error(exc)}); controller frozen"
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
            return IterationResult(ok=False, observation=observation,
                                   error=f"the controller cannot use φ from {observation.source}; controller frozen")
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
                    # the value is left out of the problem's line, which is logged once while it lasts
                    log.debug("could not apply phi_bias %.4f", action.new)
                    self.state = replace(previous, frozen=True, mode="frozen")
                    return IterationResult(ok=False, observation=observation, action=action,
                                           error=f"could not apply phi_bias ({self._error(exc, 'apply')}); "
                                           "controller frozen")
                applied = True
                self.metrics.corrections.labels(kind=action.kind).inc()
                log.info(
                    "correction: phi_bias %.4f → %.4f (φ=%.4f, target=%.4f, error=%+.4f, source=%s, user=%s)",
                    action.old, action.new, action.phi, action.target, action.error, observation.source,
                    self.admin.username,
                )
        else:
            if new_state.mode == "repeat":
                self.metrics.holds.labels(reason="repeat").inc()
            log.debug("no correction (%s): φ=%.4f target=%.4f bias=%.4f", new_state.mode, observation.phi,
                      self.settings.target, new_state.bias)
        self.state = new_state
        self.metrics.bias.set(new_state.bias)
        self.metrics.last_success.set(self.wall_clock())
        return IterationResult(ok=True, observation=observation, action=action, applied=applied, fallback=fallback)

    # --- the loop ---------------------------------------------------------------------------------
    def _attempt(self) -> IterationResult:
        """One iteration, whatever it throws: an unexpected error is a failed iteration (counted; logged
        by :meth:`_log`, with its traceback when it starts)."""
        try:
            return self.iterate()
        except Exception as exc:  # the loop must survive anything an iteration throws
            self._freeze()
            self._error(exc, "loop")
            return IterationResult(ok=False, error=f"unexpected error in an iteration: {exception_line(exc)}",
                                   trace=exception_trace(exc))

    def _log(self, result: IterationResult, retry_in: float | None = None) -> None:
        """Log an iteration's problem (a failure, or a fallback to /wilton/status) when it starts or changes,
        at DEBUG while it repeats, and one line when it ends."""
        if not result.ok:
            kind, problem = "failing", result.error
        elif result.fallback is not None:
            kind, problem = "falling back to the proxy's /wilton/status", result.fallback
        else:
            kind, problem = None, None
        new = self._episode.see(kind, problem)
        if kind is None:
            return
        retry = f"; next try in {retry_in:g} s" if retry_in is not None else ""
        if not new:
            log.debug("still %s (%d iterations): %s%s", kind, self._episode.repeats, problem, retry)
        elif result.trace is not None:
            log.error("%s%s (logged again when it changes or ends)\n%s", problem, retry, result.trace)
        elif result.ok:
            log.warning("%s: %s (logged again when it changes or ends)", kind, problem)
        else:
            log.warning("%s%s (logged again when it changes or ends)", problem, retry)

    def run(self, stop: threading.Event, *, once: bool = False, wait: Callable[[float], object] | None = None) -> int:
        """Iterate until ``stop`` is set; ``once``: one iteration, 0 on success and 1 on failure."""
        wait = wait or stop.wait
        while not stop.is_set():
            result = self._attempt()
            if once:
                self._log(result)
                return 0 if result.ok else 1
            if result.ok:
                self.backoff.reset()
                delay = self.settings.interval
            else:
                delay = self.backoff.next()
            self._log(result, retry_in=None if result.ok else delay)
            wait(delay)
        log.info("stopped")
        return 0
