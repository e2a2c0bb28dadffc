"""Training the learned scorer: ridge regression of the frontier's gain on the prompt features.

The target is ``frontier - local`` per prompt (1/0 correctness or graded scores). Features are
standardised; the L2 penalty is strong so no single lexical cue dominates (the model must rank
prompts of topics it has not seen). Deterministic: the closed-form solution does not depend on
row order; ``seed`` only picks the rows used for the calibration quantiles when there are more
than ``CALIBRATION_ROWS``. Needs numpy (``pip install 'wilton-plugin[train]'``).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from wilton_plugin.scoring import features
from wilton_plugin.scoring.data import Row
from wilton_plugin.scoring.model import LinearModel

DEFAULT_L2 = 300.0
CALIBRATION_ROWS = 20_000


def feature_matrix(prompts: Sequence[str]):  # -> numpy.ndarray
    """One row of ``features.features`` per prompt."""
    import numpy as np

    return np.array([features.features(p) for p in prompts], dtype=np.float64).reshape(len(prompts), features.DIM)


def train(rows: Sequence[Row], *, seed: int = 0, l2: float = DEFAULT_L2, sources: Sequence[str] = ()) -> LinearModel:
    """Fit the model on labelled rows."""
    import numpy as np

    if len(rows) < 10:
        raise ValueError(f"need at least 10 labelled rows to train, got {len(rows)}")
    x = feature_matrix([r.prompt for r in rows])
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
    predictions = x @ weights + bias
    if len(predictions) > CALIBRATION_ROWS:
        picked = sorted(random.Random(seed).sample(range(len(predictions)), CALIBRATION_ROWS))
        predictions = predictions[picked]
    quantiles = np.quantile(predictions, np.linspace(0.0, 1.0, 101))
    quantiles = np.maximum.accumulate(quantiles)
    n_dense = len(features.DENSE_NAMES)
    info = {
        "rows": len(rows),
        "sources": list(sources),
        "seed": seed,
        "l2": l2,
        "target": "frontier - local",
        "local_mean": round(float(np.mean([r.local for r in rows])), 6),
        "frontier_mean": round(float(np.mean([r.frontier for r in rows])), 6),
    }
    word_weights = {w: float(v) for w, v in zip(features.VOCAB_WORDS, weights[n_dense:])}
    model = LinearModel(tuple(float(v) for v in weights[:n_dense]), word_weights, bias, tuple(float(q) for q in quantiles), info)
    return LinearModel.from_json(model.to_json())  # what is shipped is what was rounded
