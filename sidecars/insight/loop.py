"""One run (collect → analyse → ask → write) and the loop that repeats it every interval.

Exit statuses of a run: ``0`` a report was written from every source, ``3`` a report was written
but a source (Prometheus, the decision log, the team targets of /wilton/status) was unavailable
(the report says which), ``1`` nothing could be collected or the report could not be written. The
LLM being unavailable or answering garbage does not change the status: the report then says, in
one line, why it has no recommendations.
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

from sidecars.common.redact import exception_line, exception_trace

from sidecars.insight import llm
from sidecars.insight.analysis import analyse, unknown_numbers
from sidecars.insight.collect import InsightAdminClient, RangeReader, collect
from sidecars.insight.metrics import InsightMetrics
from sidecars.insight.report import write_report

log = logging.getLogger("wilton.insight")

OK, FAILED, PARTIAL = 0, 1, 3


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

    def run_once(self) -> int:
        """One run; the exit status (see the module docstring)."""
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
                log.warning("no recommendations: %s", why_none)
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
            log.error("cannot write the report in %s: %s", self.out, exc.strerror or exc)
            return FAILED
        finally:
            self.metrics.duration.set(time.monotonic() - started)
        self.metrics.recommendations.set(len(recommendations))
        self.metrics.unverified.set(sum(len(r["unverified_numbers"]) for r in recommendations))
        if not anything:
            self.metrics.runs.labels(result="failed").inc()
            log.error("nothing could be collected (%s); wrote %s with that note", "; ".join(facts["notes"]), paths["md"])
            return FAILED
        self.metrics.last_success.set(self.clock())
        status = PARTIAL if facts["notes"] else OK
        self.metrics.runs.labels(result="partial" if status == PARTIAL else "ok").inc()
        log.info("wrote %s (%d recommendations%s)", paths["md"], len(recommendations),
                 "; partial: " + "; ".join(facts["notes"]) if facts["notes"] else "")
        return status

    def run(self, stop: threading.Event, interval: float, *, once: bool = False) -> int:
        """Run every ``interval`` seconds until ``stop``; ``once``: one run and its status."""
        while not stop.is_set():
            try:
                status = self.run_once()
            except Exception as exc:  # the loop must survive anything a run throws; one line, traceback at DEBUG
                trace = "\n" + exception_trace(exc) if log.isEnabledFor(logging.DEBUG) else ""
                log.error("unexpected error in a run: %s%s", exception_line(exc), trace)
                self.metrics.runs.labels(result="failed").inc()
                status = FAILED
            if once:
                return status
            stop.wait(interval)
        log.info("stopped")
        return OK
