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
    """Rates a request's difficulty from its messages; must be fast and never raise on odd input.

    ``uniform`` is True when its scores are spread evenly over [0, 1] on its training data: the
    balancer then starts its threshold window from that distribution instead of from the first
    requests (``ScoreQuantiles(uniform_prior=True)``).
    """

    uniform: bool

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1]."""
        ...


# Markers, looked up in the set of lower-cased words (one regex pass), and their weights.
_KEYWORDS = [
    (frozenset({"def", "class", "function", "return", "lambda", "import", "const", "struct"}), 0.18),
    (frozenset({"prove", "derive", "theorem", "lemma", "integral", "equation", "solve", "calculate", "compute"}), 0.16),
    (frozenset({"why", "explain", "analyse", "analyze", "compare", "evaluate", "justify", "reason"}), 0.10),
    (frozenset({"optimise", "optimize", "architecture", "tradeoff", "tradeoffs", "design", "debug", "refactor"}), 0.10),
]
_WORD = re.compile(r"[a-z]+")
_ARITHMETIC = re.compile(r"\d\s*[-+*/^=]\s*\d|[∑∫√≤≥]")
_EASY = frozenset({"hi", "hello", "hey", "thanks", "thank", "ok", "yes", "no"})
_SCAN_CHARS = 1500  # markers are looked for in the head and the tail only: the cost stays flat


def user_texts(messages: Sequence[Mapping[str, Any]] | None, limit: int = 1) -> list[str]:
    """The texts of the last ``limit`` user messages, oldest first (of any role when none is a user's).

    Content parts of type text are joined by newlines; other parts (images, audio) are skipped.
    """
    if not messages:
        return []
    chosen = [m for m in messages if isinstance(m, Mapping) and m.get("role") == "user"] or list(messages)
    return [_content_text(message) for message in chosen[-limit:]]


def replies_to(messages: Sequence[Mapping[str, Any]] | None, limit: int = 1) -> list[str]:
    """Aligned with ``user_texts(messages, limit)``: the text of the assistant message right before each
    of those user messages ("" when the message before it is not the assistant's)."""
    if not messages:
        return []
    users = [i for i, m in enumerate(messages) if isinstance(m, Mapping) and m.get("role") == "user"]
    if not users:  # user_texts then reads messages of any role: none of them answers a reply
        return [""] * min(limit, len(messages))
    replies = []
    for i in users[-limit:]:
        before = messages[i - 1] if i else None
        replies.append(_content_text(before) if isinstance(before, Mapping) and before.get("role") == "assistant" else "")
    return replies


def system_text(messages: Sequence[Mapping[str, Any]] | None) -> str:
    """The text of the system (or developer) messages, joined; "" when there is none."""
    if not messages:
        return ""
    return "\n".join(_content_text(m) for m in messages
                     if isinstance(m, Mapping) and m.get("role") in ("system", "developer"))


def _content_text(message: Any) -> str:
    content = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def message_text(messages: Sequence[Mapping[str, Any]] | None) -> str:
    """The text of the last user message; content parts of type text are joined."""
    texts = user_texts(messages)
    return texts[0] if texts else ""


def heuristic_score(text: str) -> float:
    """Length and reasoning/code/maths markers of one text, squashed to [0, 1]."""
    if not text:
        return 0.0
    length = min(1.0, math.log1p(len(text)) / math.log1p(4000))
    value = 0.35 * length
    if len(text) > 2 * _SCAN_CHARS:
        text = text[:_SCAN_CHARS] + "\n" + text[-_SCAN_CHARS:]
    text = text.lower()
    words = set(_WORD.findall(text))
    for keywords, gain in _KEYWORDS:
        if not keywords.isdisjoint(words):
            value += gain
    if "```" in text or "trade-off" in text or "step by step" in text or "step-by-step" in text:
        value += 0.10
    if _ARITHMETIC.search(text):
        value += 0.12
    value += min(0.1, 0.03 * text.count("?"))
    if len(text) < 40 and text.split(" ", 1)[0].strip(" !.,") in _EASY:
        value *= 0.3
    return max(0.0, min(1.0, value))


class HeuristicScorer:
    """Length and reasoning/code/maths markers, squashed to [0, 1]; no model, no artifact."""

    uniform = False  # its scores bunch where the markers put them

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1] of the last user message."""
        return heuristic_score(message_text(messages))


class ConstantScorer:
    """Every request equally hard: the balancer then only holds the share (useful as a baseline)."""

    uniform = False

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Always 0.5."""
        return 0.5


def _learned(artifact: str | None = None) -> Scorer:
    from wilton_plugin.scoring.model import LearnedScorer  # local import: loads only when chosen

    return LearnedScorer.load(artifact)


SCORERS: Mapping[str, Callable[..., Scorer]] = {
    "heuristic": HeuristicScorer,
    "constant": ConstantScorer,
    "learned": _learned,  # wilton_plugin.scoring: a linear model over structural prompt features
}
ARTIFACT_SCORERS = frozenset({"learned"})  # these read scorer.artifact (None: the shipped default)


def make_scorer(name: str, artifact: str | None = None) -> Scorer:
    """Build the scorer named in the settings."""
    if name in ARTIFACT_SCORERS:
        return SCORERS[name](artifact)
    return SCORERS[name]()
