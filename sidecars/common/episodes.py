"""A recurring problem, logged once: when it starts or changes, at DEBUG while it repeats, and in one
line when it ends. Both sidecar loops report their failures this way (each with its own wording)."""

from __future__ import annotations

import logging
import re

#: a duration in a problem's text ("60 s"), which may grow while the problem stays the same
_DURATION = re.compile(r"\b\d+(?:\.\d+)?(?:e[+-]?\d+)? s\b")


def same_problem(a: str | None, b: str | None) -> bool:
    """Whether two problem lines are one problem: equal once their durations are left out."""
    if a is None or b is None:
        return a is b
    return _DURATION.sub("… s", a) == _DURATION.sub("… s", b)


class Episode:
    """The problem in progress: its kind ("failing", "partial", …), its line, and the rounds it has lasted."""

    def __init__(self, log: logging.Logger, unit: str) -> None:
        self.log = log
        self.unit = unit  # what a round is called in the recovery line: "iteration", "run"
        self.kind: str | None = None
        self.problem: str | None = None
        self.repeats = 0

    def see(self, kind: str | None, problem: str | None) -> bool:
        """Record this round's problem (``kind`` None: there is none); True when it is new (it started, or
        its kind or line changed). A problem that ended is logged here, once, with the rounds it lasted."""
        if self.kind is not None and self.kind != kind:
            self.log.info("recovered: no longer %s, after %d %s(s)", self.kind, self.repeats, self.unit)
        new = kind != self.kind or not same_problem(problem, self.problem)
        self.repeats = self.repeats + 1 if kind is not None and kind == self.kind else 1
        self.kind, self.problem = kind, problem
        return new
