"""Why the learned scorer gave a prompt its score (``wiltonctl score``).

For a family with a linear model the predicted gain is ``baseline + sum(effects)``: ``baseline`` is
the prediction for a prompt whose every feature sits at its training mean, and each feature's
effect is ``weight * (value - mean)``, in the unit of the training scores. The largest effects are
what pushed this prompt up or down. Artifacts written before feature means were recorded
explain against zero instead (``reference: "zero"``, not ``"training means"``); retrain to get the means. For a family scored
by a prior, the explanation is the prior and, for the task prior, the categories its classifier
read (the three likeliest) and the task its marker words read.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from wilton_plugin.scoring import features, taskmodel, tasks, wordproblem
from wilton_plugin.scoring.model import FEATURE_SETS, Prior, ScorerModel, family_reason

def explain_conversation(model: ScorerModel, texts: Sequence[str], top: int = 8, system: str = "",
                         replies: Sequence[str] = (), earlier: int = 0) -> dict[str, Any]:
    """``explain`` for the last of a conversation's user messages (oldest first, after ``system``): the
    message whose reading set its score (``ScorerModel.read_turns``), explained, and why that one.
    ``texts``, ``system``, ``replies``: what ``scoring.model.conversation`` returns, so the score is the
    proxy's; ``earlier``: the user messages before ``texts[0]``, which the proxy does not read.
    ``message`` is the explained message's place among all the conversation's user messages (1 = the
    first), or 0 for the system prompt; ``user_messages`` counts them all."""
    reading = model.read_turns(texts, system, replies, earlier)
    out = explain(model, system if reading.index < 0 else texts[reading.index], top, reading.family)
    out.update(score=reading.score, message=reading.index + 1 + earlier if reading.index >= 0 else 0,
               user_messages=len(texts) + earlier, conversation=reading.why)
    return out


def explain(model: ScorerModel, text: str, top: int = 8, family: str | None = None) -> dict[str, Any]:
    """The prompt's family, model, predicted gain, score and (linear models) the ``top`` effects.

    ``family`` overrides the prompt's own (a system prompt is read as ``open``). An empty prompt scores 0,
    as in the proxy (``ScorerModel.score_as``), and no model reads it.
    """
    name, reason, parsed = family_reason(text)
    if family is not None and family != name:
        name, reason = family, "a system prompt: read for the task it sets"
    if not text:  # as ``ScorerModel.score_as``: nothing to answer, nothing to gain
        return {"family": name, "family_reason": "an empty prompt: nothing to answer", "model": "none",
                "score": 0.0, "predicted_gain": None}
    scorer = model.families[name]
    value, is_gain = model.predict_as(text, name, parsed)
    out: dict[str, Any] = {
        "family": name,
        "family_reason": reason,
        "score": model.calibrate(value) if is_gain else value,
        "predicted_gain": value if is_gain else None,
    }
    if isinstance(scorer, Prior):
        out["model"] = f"prior {scorer.name}"
        if scorer.name == "tasks":
            words = (parsed if parsed is not None else wordproblem.tokens(text))[0]
            marked, probabilities = tasks.categories(words, text[: tasks.SCAN])
            out["task_markers"] = marked
            if probabilities is None:
                out["task"] = marked
            else:
                ranked = sorted(zip(taskmodel.CATEGORIES, probabilities), key=lambda cp: (-cp[1], cp[0]))
                out["task"] = ranked[0][0]
                out["categories"] = {c: p for c, p in ranked[:3]}
        return out
    if scorer.feature_set == features.VERSION:
        x = features.features(text)
    else:
        x = wordproblem.features(text, parsed)
    means = scorer.means if scorer.means is not None else (0.0,) * len(x)
    names = FEATURE_SETS[scorer.feature_set].NAMES
    effects = [
        {"feature": n, "value": v, "mean": m, "effect": w * (v - m)}
        for n, v, m, w in zip(names, x, means, scorer.weights)
        if w != 0.0 and v != m
    ]
    effects.sort(key=lambda e: (-abs(e["effect"]), e["feature"]))
    out.update(
        model=f"linear {scorer.feature_set}",
        reference="training means" if scorer.means is not None else "zero",
        baseline_gain=scorer.bias + math.fsum(w * m for w, m in zip(scorer.weights, means)),
        effects=effects[: max(0, top)],
        features_moved=len(effects),
    )
    return out
