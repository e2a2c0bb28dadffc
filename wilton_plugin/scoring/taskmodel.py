"""The task reader's classifier: naive Bayes over a request's words, in eight chat categories.

Marker words (``tasks.MARKERS``) read the task of only about two requests in three of those
written in new words (47/80 and 53/80 on the held-out sets of session 5). This classifier reads it
from every word of the request's head instead: multinomial naive Bayes over the set of its words,
its request's words (``tasks.instruction_words``, prefixed ``I_``) and its marker reading
(``T_`` + ``tasks.task``), trained on hand-written chat requests in the eight MT-Bench-style
categories (``data/chat-prompts/``; ``wilton_plugin.scoring.tasktrain`` rebuilds the shipped file
byte for byte). The task prior turns its probabilities into an expected gain.

Inference is pure Python: the features shared with the model's vocabulary are looked up (one set
intersection) and each category's log-likelihoods summed exactly (``math.fsum``: the result does
not depend on set order).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = "wilton-tasks/1"
CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "data" / "tasks-default.json"


def features(words: Iterable[str], request: Iterable[str], marked: str) -> set[str]:
    """The classifier's features: the head's words, the request's words (``I_``), the marker task (``T_``)."""
    found = set(words)
    found.update("I_" + word for word in request)
    found.add("T_" + marked)
    return found


@dataclass(frozen=True)
class TaskModel:
    """Per category: a log prior, and per feature a log-likelihood (centred over the categories)."""

    categories: tuple[str, ...]
    log_prior: tuple[float, ...]
    weights: Mapping[str, tuple[float, ...]]
    info: Mapping[str, Any]

    def probabilities(self, found: set[str]) -> tuple[float, ...]:
        """P(category | features), in ``categories`` order."""
        rows = [self.weights[f] for f in found & self.weights.keys()]
        totals = [prior + math.fsum(column) for prior, column in zip(self.log_prior, zip(*rows))] if rows else list(self.log_prior)
        top = max(totals)
        exps = [math.exp(t - top) for t in totals]
        norm = math.fsum(exps)
        return tuple(e / norm for e in exps)

    def to_json(self) -> str:
        """The model file's text (deterministic: same model, same bytes)."""
        body = {
            "format": FORMAT,
            "categories": list(self.categories),
            "log_prior": [round(v, 4) for v in self.log_prior],
            "weights": {f: [round(v, 4) for v in self.weights[f]] for f in sorted(self.weights)},
            "info": dict(self.info),
        }
        return json.dumps(body, sort_keys=True, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "task model") -> TaskModel:
        """Parse and check a model file; ``ValueError`` naming what is wrong."""
        body = json.loads(text)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ValueError(f"{where}: not a Wilton task model (format is not {FORMAT})")
        categories = tuple(body["categories"])
        if categories != CATEGORIES:
            raise ValueError(f"{where}: categories {list(categories)}, expected {list(CATEGORIES)}")
        try:
            log_prior = tuple(float(v) for v in body["log_prior"])
            weights = {str(f): tuple(float(v) for v in row) for f, row in body["weights"].items()}
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"{where}: log_prior or weights missing or malformed ({exc!r})") from None
        if len(log_prior) != len(categories) or any(len(row) != len(categories) for row in weights.values()):
            raise ValueError(f"{where}: every row must have one value per category")
        if not all(math.isfinite(v) for row in (log_prior, *weights.values()) for v in row):
            raise ValueError(f"{where}: values must be finite")
        return cls(categories, log_prior, weights, dict(body.get("info") or {}))


def expected(probabilities: Sequence[float], values: Mapping[str, float]) -> float:
    """Σ P(category) · value(category)."""
    return math.fsum(p * values[c] for p, c in zip(probabilities, CATEGORIES))


def load(path: Path = DEFAULT_MODEL) -> TaskModel:
    """The shipped model (read once, at import of ``tasks``)."""
    return TaskModel.from_json(path.read_text(encoding="utf-8"), str(path))
