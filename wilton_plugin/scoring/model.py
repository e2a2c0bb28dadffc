"""The learned scorer's artifact (a small JSON file) and the scorer that applies it.

The artifact holds a linear model over ``features.NAMES``: per-feature weights already divided
by the training scale, a bias, and the quantiles of the training predictions. A prompt's score is
the fraction of training prompts predicted to gain less from the frontier: in [0, 1], spread
evenly, so thresholds keep their meaning when the model is retrained. Inference is pure Python.
"""

from __future__ import annotations

import bisect
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wilton_plugin.core.scorer import message_text
from wilton_plugin.errors import ConfigError
from wilton_plugin.scoring import features

FORMAT = "wilton-scorer/1"
DEFAULT_ARTIFACT = Path(__file__).resolve().parent.parent / "data" / "scorer-default.json"


@dataclass(frozen=True)
class LinearModel:
    """weights · features + bias, mapped through the training predictions' quantiles."""

    dense_weights: tuple[float, ...]
    word_weights: Mapping[str, float]
    bias: float
    quantiles: tuple[float, ...]  # ascending; 101 values (0th..100th percentile) of training predictions
    info: Mapping[str, Any]

    def raw(self, text: str) -> float:
        """The predicted gain of the frontier over local (in the training scores' unit)."""
        dense, words = features.parts(text)
        total = self.bias + math.fsum(map(float.__mul__, self.dense_weights, dense))
        weights = self.word_weights
        for word in words:
            total += weights.get(word, 0.0)
        return total

    def calibrate(self, raw: float) -> float:
        """Where ``raw`` falls among the training predictions, in [0, 1], linear between quantiles."""
        q = self.quantiles
        if not math.isfinite(raw):
            return 0.5
        i = bisect.bisect_right(q, raw)
        if i <= 0:
            return 0.0
        if i >= len(q):
            return 1.0
        lo, hi = q[i - 1], q[i]
        frac = (raw - lo) / (hi - lo) if hi > lo else 0.5
        return (i - 1 + frac) / (len(q) - 1)

    def to_json(self) -> str:
        """The artifact's text (deterministic: same model, same bytes)."""
        names = features.NAMES
        weights = list(self.dense_weights) + [self.word_weights.get(w, 0.0) for w in features.VOCAB_WORDS]
        body = {
            "format": FORMAT,
            "features": features.VERSION,
            "names": list(names),
            "weights": [_round(w) for w in weights],
            "bias": _round(self.bias),
            "quantiles": [_round(q) for q in self.quantiles],
            "info": dict(self.info),
        }
        return json.dumps(body, indent=1, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str = "artifact") -> LinearModel:
        """Parse and check an artifact; ``ConfigError`` naming what is wrong."""
        try:
            body = json.loads(text)
        except ValueError as exc:
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (invalid JSON: {exc}).") from None
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise ConfigError("scorer.artifact", where, f"Not a Wilton scorer artifact (format is not {FORMAT}).")
        if body.get("features") != features.VERSION or body.get("names") != list(features.NAMES):
            raise ConfigError(
                "scorer.artifact", where,
                f"Trained on features {body.get('features')!r}, this Wilton computes {features.VERSION!r}; "
                "retrain with `wiltonctl train-scorer`.",
            )
        try:
            weights = [float(w) for w in body["weights"]]
            quantiles = tuple(float(q) for q in body["quantiles"])
            bias = float(body["bias"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (weights are missing).") from None
        finite = all(map(math.isfinite, [*weights, *quantiles, bias]))
        if len(weights) != features.DIM or len(quantiles) < 2 or not finite or list(quantiles) != sorted(quantiles):
            raise ConfigError("scorer.artifact", where, "Not a Wilton scorer artifact (weights are malformed).")
        n_dense = len(features.DENSE_NAMES)
        word_weights = {w: x for w, x in zip(features.VOCAB_WORDS, weights[n_dense:]) if x != 0.0}
        return cls(tuple(weights[:n_dense]), word_weights, bias, quantiles, dict(body.get("info") or {}))


def _round(x: float) -> float:
    return float(f"{x:.9g}")


class LearnedScorer:
    """The ``learned`` scorer: the artifact's calibrated prediction for the last user message."""

    def __init__(self, model: LinearModel, path: str | None = None, load_seconds: float = 0.0) -> None:
        self.model = model
        self.path = path
        self.load_seconds = load_seconds

    @classmethod
    def load(cls, artifact: str | Path | None = None) -> LearnedScorer:
        """Read an artifact (the shipped default when None); ``ConfigError`` at start-up when unusable."""
        path = Path(artifact) if artifact else DEFAULT_ARTIFACT
        start = time.perf_counter()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("scorer.artifact", str(path), f"Cannot read it ({getattr(exc, 'strerror', None) or exc}).") from None
        model = LinearModel.from_json(text, str(path))
        return cls(model, str(path), time.perf_counter() - start)

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        """Difficulty in [0, 1]: the share of training prompts predicted to gain less."""
        return self.score_text(message_text(messages))

    def score_text(self, text: str) -> float:
        """The same for a bare prompt."""
        if not text:
            return 0.0
        return self.model.calibrate(self.model.raw(text))
