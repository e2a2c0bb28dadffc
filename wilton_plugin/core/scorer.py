"""Difficulty scorers: how much a request would gain from a frontier model, in [0, 1].

A scorer only *scores*; the balancer compares the score with a calibrated threshold. The
default ``heuristic`` scorer looks at the last user message: its length and markers of
reasoning, code and maths. Scorers are chosen by name in ``wilton_settings.scorer``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class Scorer(Protocol):
    """Rates a request's difficulty from its messages; must be fast and never raise on odd input."""

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1]."""
        ...


_MARKERS = [
    (re.compile(r"```|\bdef |\bclass |\bfunction\b|\breturn\b|;\s*$", re.M), 0.18),
    (re.compile(r"\b(prove|derive|theorem|lemma|integral|equation|solve|calculate|compute)\b", re.I), 0.16),
    (re.compile(r"\d+\s*[-+*/^=]\s*\d+|[∑∫√≤≥]"), 0.12),
    (re.compile(r"\b(why|explain|analy[sz]e|compare|evaluate|justify|step[- ]by[- ]step|reason)\b", re.I), 0.10),
    (re.compile(r"\b(optimi[sz]e|architecture|trade-?offs?|design|debug|refactor)\b", re.I), 0.10),
]
_EASY = re.compile(r"^\s*(hi|hello|hey|thanks|thank you|ok|yes|no)\b", re.I)


def message_text(messages: Sequence[Mapping[str, Any]] | None, last_user_only: bool = True) -> str:
    """The text of the (last user) message(s); content parts of type text are joined."""
    if not messages:
        return ""
    chosen = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"] or list(messages)
    if last_user_only:
        chosen = chosen[-1:]
    parts: list[str] = []
    for message in chosen:
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(p.get("text", "") for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return "\n".join(parts)


class HeuristicScorer:
    """Length and reasoning/code/maths markers, squashed to [0, 1]; no model, no artifact."""

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1] of the last user message."""
        text = message_text(messages)
        if not text:
            return 0.0
        length = min(1.0, math.log1p(len(text)) / math.log1p(4000))
        value = 0.35 * length
        for pattern, gain in _MARKERS:
            if pattern.search(text):
                value += gain
        value += min(0.1, 0.03 * text.count("?"))
        if _EASY.match(text) and len(text) < 40:
            value *= 0.3
        return max(0.0, min(1.0, value))


class ConstantScorer:
    """Every request equally hard: the balancer then only holds the share (useful as a baseline)."""

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Always 0.5."""
        return 0.5


SCORERS: Mapping[str, Callable[[], Scorer]] = {
    "heuristic": HeuristicScorer,
    "constant": ConstantScorer,
}


def make_scorer(name: str, artifact: str | None = None) -> Scorer:
    """Build the scorer named in the settings."""
    del artifact  # the shipped scorers need none; learned scorers will read it
    return SCORERS[name]()
