"""One run (collect → analyse → ask → write) and the loop that repeats it every interval.

Exit statuses of a run: ``0`` a report was written from every source, ``3`` a report was written
but a source (Prometheus, the decision log, the team targets of /wilton/status) was unavailable
(the report says which), ``1`` nothing could be collected or the report could not be written. The
LLM being unavailable or answering garbage does not change the status: the report then says, in
one line, why it has no recommendations.

The loop runs every interval. After a failed run (status 1, or an unexpected error) it retries
sooner, backing off: ``FIRST_RETRY_S``, then twice as long each time, never longer than the
interval; a partial run is a written report and waits the interval. A problem (failed or partial)
is logged when it starts or changes, at DEBUG while it repeats, and its end with one line. So is the
reason a report has no recommendations (no API key, the LLM unavailable): at WARNING on the first
run and when it changes, at DEBUG after, and one line when the LLM answers again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import httpx

from sidecars.common.backoff import Backoff
from sidecars.common.episodes import Episode
from sidecars.common.redact import exception_line, exception_trace

from sidecars.insight import llm
from sidecars.insight.analysis import analyse, unknown_numbers
from sidecars.insight.collect import InsightAdminClient, RangeReader, collect
from sidecars.insight.metrics import InsightMetrics
from sidecars.insight.report import write_report

log = logging.getLogger("wilton.insight")

OK, FAILED, PARTIAL = 0, 1, 3

#: seconds before the first retry after a failed run (then doubling, never longer than the interval)
FIRST_RETRY_S = 60.0


@dataclass(frozen=True)
class RunResult:
    """One run: its status, the Markdown report written (if any), and why it failed or is partial."""

    status: int
    report: Path | None = None
    problem: str | None = None
    recommendations: int = 0
    trace: str | None = None  # an unexpected error's traceback (URLs redacted), logged at DEBUG


@dataclass
class InsightJob:
    """Everything a run needs; built by the CLI."""

    client: httpx.Client
    reader: RangeReader | None
    admin: InsightAdminClient | None
    proxy_url: str
    api_key: str | None
    model_group: str
    out: Path
    hours: float
    max_tasks: int
    band: float = 0.05
    llm_timeout: float = 60.0
    secrets: tuple[str, ...] = ()
    metrics: InsightMetrics = field(default_factory=InsightMetrics)
    clock: Callable[[], float] = time.time
    first_retry: float = FIRST_RETRY_S
    # the problem being reported ("failing", "partial"), so it is logged once
    _episode: Episode = field(default_factory=lambda: Episode(log, "run"), init=False, repr=False)
    # why the last run that asked the LLM got no recommendations (None: it answered), so it is logged once
    _llm_problem: str | None = field(default=None, init=False, repr=False)

    def run_once(self) -> int:
        """One run, logged (a problem only when it is new); the exit status (see the module docstring)."""
        return self._log(self._run()).status

    def _run(self) -> RunResult:
        started = time.monotonic()
        now = self.clock()
        stamp = datetime.fromtimestamp(now, timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        collected = collect(self.reader, self.admin, hours=self.hours, max_tasks=self.max_tasks, clock=lambda: now)
        if not collected["prometheus_ok"] and self.reader is not None:
            self.metrics.errors.labels(stage="prometheus").inc()
        if not collected["decisions_ok"] and self.admin is not None and self.max_tasks > 0:
            self.metrics.errors.labels(stage="decisions").inc()
        if collected["decisions_ok"] and not collected["team_targets_ok"]:
            self.metrics.errors.labels(stage="status").inc()
        facts = analyse(collected, self.band)
        anything = collected["prometheus_ok"] or collected["decisions_ok"]
        recommendations: list[dict[str, Any]] = []
        why_none = None
        if not anything:
            why_none = "nothing could be collected, so the LLM was not asked"
        else:
            try:
                answer = llm.ask(self.client, self.proxy_url, self.api_key, self.model_group, facts, self.llm_timeout)
                for rec in answer:
                    text = " ".join((rec.change, rec.why, rec.expected_effect))
                    recommendations.append({**rec.model_dump(), "unverified_numbers": unknown_numbers(text, facts)})
                if not recommendations:
                    why_none = "the LLM answered with an empty list"
            except llm.LlmUnavailable as exc:
                why_none = str(exc)
                self.metrics.errors.labels(stage="llm").inc()
                self._log_llm_problem(why_none)
            else:
                self._log_llm_problem(None)
        report = {
            "generated_at": datetime.fromtimestamp(now, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "facts": facts,
            "llm": {"model_group": self.model_group, "recommendations": recommendations, "why_none": why_none},
        }
        try:
            paths = write_report(self.out, stamp, report, collected, self.secrets)
        except OSError as exc:
            self.metrics.errors.labels(stage="write").inc()
            self.metrics.runs.labels(result="failed").inc()
            return RunResult(FAILED, problem=f"cannot write the report in {self.out}: {exc.strerror or exc}")
        finally:
            self.metrics.duration.set(time.monotonic() - started)
        self.metrics.recommendations.set(len(recommendations))
        self.metrics.unverified.set(sum(len(r["unverified_numbers"]) for r in recommendations))
        if not anything:
            self.metrics.runs.labels(result="failed").inc()
            return RunResult(FAILED, paths["md"], f"nothing could be collected ({'; '.join(facts['notes'])})")
        self.metrics.last_success.set(self.clock())
        status = PARTIAL if facts["notes"] else OK
        self.metrics.runs.labels(result="partial" if status == PARTIAL else "ok").inc()
        return RunResult(status, paths["md"], "; ".join(facts["notes"]) or None, len(recommendations))

    def _log_llm_problem(self, why: str | None) -> None:
        """Log why a run got no recommendations (None: the LLM answered) at WARNING when it is new or
        changed, at DEBUG while it repeats, and one line when the LLM answers again."""
        if why is None:
            if self._llm_problem is not None:
                log.info("the LLM answered again (no recommendations before: %s)", self._llm_problem)
        elif why != self._llm_problem:
            log.warning("no recommendations: %s (logged again when it changes or ends)", why)
        else:
            log.debug("still no recommendations: %s", why)
        self._llm_problem = why

    def _attempt(self) -> RunResult:
        """One run, whatever it throws: an unexpected error is a failed run (counted; logged by :meth:`_log`)."""
        try:
            return self._run()
        except Exception as exc:  # the loop must survive anything a run throws
            self.metrics.runs.labels(result="failed").inc()
            return RunResult(FAILED, problem=f"unexpected error in a run: {exception_line(exc)}",
                             trace=exception_trace(exc))

    def _log(self, result: RunResult, retry_in: float | None = None) -> RunResult:
        """Log a run: a failure or a partial report when it starts or changes (at DEBUG while it repeats),
        one line when it ends, and every report written."""
        kind = {FAILED: "failing", PARTIAL: "partial"}.get(result.status)
        new = self._episode.see(kind, result.problem)
        retry = f"; next try in {retry_in:.0f} s" if retry_in is not None else ""
        if result.status == FAILED:
            wrote = f"; wrote {result.report} with that note" if result.report is not None else ""
            if new:
                log.error("run failed: %s%s%s (logged again when it changes or ends)", result.problem, wrote, retry)
                if result.trace:
                    log.debug("%s", result.trace)
            else:
                log.debug("still failing (%d runs): %s%s%s", self._episode.repeats, result.problem, wrote, retry)
            return result
        if result.status == PARTIAL:
            if new:
                log.warning("partial report: %s (logged again when it changes or ends)", result.problem)
            else:
                log.debug("still partial (%d runs): %s", self._episode.repeats, result.problem)
        log.info("wrote %s (%d recommendations%s)", result.report, result.recommendations,
                 "; partial" if result.status == PARTIAL else "")
        return result

    def run(self, stop: threading.Event, interval: float, *, once: bool = False) -> int:
        """Run every ``interval`` seconds until ``stop`` (its ``wait`` is the sleep, which ``stop`` ends),
        sooner after a failed run, backing off up to ``interval``; ``once``: one run and its status."""
        backoff = Backoff(min(self.first_retry, interval), interval)
        while not stop.is_set():
            result = self._attempt()
            if once:
                return self._log(result).status
            if result.status == FAILED:
                delay = backoff.next()
            else:
                backoff.reset()
                delay = interval
            self._log(result, retry_in=delay if result.status == FAILED else None)
            stop.wait(delay)
        log.info("stopped")
        return OK
