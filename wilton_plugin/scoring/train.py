"""Training the learned scorer: ridge regression of the frontier's gain, one model per family.

The target is ``frontier - local`` per prompt (1/0 correctness or graded scores). Rows are split
by family (``model.family``): multiple-choice prompts train a model on the structural features,
quantitative free-form prompts one on the word-problem features, other free-form prompts one on
the structural features. A family with fewer than ``MIN_FAMILY_ROWS`` rows gets, for ``choice``
and ``quant``, the structural model trained on *all* rows; for ``open``, the task prior (``tasks``: a
model fitted to exam questions says little about chat, code or writing requests). Features are
standardised; the L2 penalty is strong so no single cue dominates (the model must rank prompts of
topics it has not seen). Deterministic: the closed-form solution does not depend on row order;
``seed`` only picks the rows used for the calibration quantiles when there are more than
``CALIBRATION_ROWS``. Needs numpy (``pip install 'wilton-plugin[train]'``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from types import ModuleType

from wilton_plugin.scoring import features, wordproblem
from wilton_plugin.scoring.data import Row
from wilton_plugin.scoring.model import FAMILIES, Linear, Prior, ScorerModel, family

DEFAULT_L2: Mapping[str, float] = {"choice": 30.0, "quant": 1000.0, "open": 300.0}
FAMILY_FEATURES: Mapping[str, ModuleType] = {"choice": features, "quant": wordproblem, "open": features}
UNCOVERED_PRIOR = "tasks"  # what scores ``open`` prompts when the training data has too few
MIN_FAMILY_ROWS = 50
CALIBRATION_ROWS = 20_000


def feature_matrix(module: ModuleType, prompts: Sequence[str]):  # -> numpy.ndarray
    """One row of ``module.features`` per prompt."""
    import numpy as np

    return np.array([module.features(p) for p in prompts], dtype=np.float64).reshape(len(prompts), module.DIM)


def fit_linear(module: ModuleType, rows: Sequence[Row], l2: float) -> Linear:
    """Ridge regression of ``frontier - local`` on standardised features; weights in raw units."""
    import numpy as np

    x = feature_matrix(module, [r.prompt for r in rows])
    y = np.array([r.frontier - r.local for r in rows], dtype=np.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0  # constant features get weight 0 through the penalty
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    penalty = l2 * np.eye(z.shape[1])
    penalty[-1, -1] = 0.0  # the intercept is not penalised
    beta = np.linalg.solve(z.T @ z + penalty, z.T @ y)
    weights = beta[:-1] / scale
    bias = float(beta[-1] - np.dot(weights, mean))
    return Linear(module.VERSION, tuple(float(v) for v in weights), bias, tuple(float(m) for m in mean))


def train(rows: Sequence[Row], *, seed: int = 0, l2: float | None = None, sources: Sequence[str] = ()) -> ScorerModel:
    """Fit the model on labelled rows; ``l2`` (finite, > 0) overrides every family's penalty."""
    import numpy as np

    if len(rows) < 10:
        raise ValueError(f"need at least 10 labelled rows to train, got {len(rows)}")
    if l2 is not None and not (math.isfinite(l2) and l2 > 0):
        raise ValueError(f"l2 has value {l2!r}; expected a finite ridge penalty > 0")
    families = [family(row.prompt) for row in rows]
    by_family: dict[str, list[Row]] = {name: [] for name in FAMILIES}
    for row, name in zip(rows, families):
        by_family[name].append(row)
    models: dict[str, Linear | Prior] = {}
    fallback: Linear | None = None
    for name in FAMILIES:
        penalty = l2 if l2 is not None else DEFAULT_L2[name]
        if len(by_family[name]) >= MIN_FAMILY_ROWS:
            models[name] = fit_linear(FAMILY_FEATURES[name], by_family[name], penalty)
        elif name == "open":
            models[name] = Prior(UNCOVERED_PRIOR)
        else:
            # one structural model of every row, regularised like a general (``open``) model
            fallback = fallback or fit_linear(features, rows, l2 if l2 is not None else DEFAULT_L2["open"])
            models[name] = fallback
    rounded = ScorerModel(models, (0.0, 1.0), {}).to_json()
    models = dict(ScorerModel.from_json(rounded).families)  # calibrate what is shipped: the rounded weights
    learned = [(r, m) for r, name in zip(rows, families) if isinstance(m := models[name], Linear)]
    if not learned:
        raise ValueError("no training row belongs to a family with a learned model")
    predictions = np.array([m.raw(r.prompt) for r, m in learned])
    if len(predictions) > CALIBRATION_ROWS:
        picked = sorted(random.Random(seed).sample(range(len(predictions)), CALIBRATION_ROWS))
        predictions = predictions[picked]
    quantiles = np.maximum.accumulate(np.quantile(predictions, np.linspace(0.0, 1.0, 101)))
    info = {
        "rows": len(rows),
        "rows_by_family": {name: len(by_family[name]) for name in FAMILIES},
        "fallback_families": {name: ("prior " + UNCOVERED_PRIOR if isinstance(models[name], Prior) else "structural, all rows")
                              for name in FAMILIES if len(by_family[name]) < MIN_FAMILY_ROWS},
        "sources": list(sources),
        "seed": seed,
        "l2": {name: (l2 if l2 is not None else DEFAULT_L2[name]) for name in FAMILIES},
        "target": "frontier - local",
        "local_mean": round(float(np.mean([r.local for r in rows])), 6),
        "frontier_mean": round(float(np.mean([r.frontier for r in rows])), 6),
    }
    model = ScorerModel(models, tuple(float(q) for q in quantiles), info)
    return ScorerModel.from_json(model.to_json())  # what is shipped is what was rounded
