"""Cross-validation of the learned scorer: train on some groups, replay the held-out ones.

What an operator needs before shipping a scorer trained on their own traffic: how it ranks
prompts of groups (subjects, teams, applications) it has never seen. Each file's rows are split
into ``folds`` folds of whole groups (``Row.subject``, the ``subject`` column or the one named);
a file with fewer groups than folds (GSM8K: one subject) is split by rows instead, identical
prompts kept in one fold. For each fold a scorer is trained on every other fold of *every* file
and scores only its held-out rows. Then each file is replayed in file order (or a seeded shuffle)
through ``WiltonService.route``, the proxy's path, each prompt scored by the model that never saw
its group. ``ranked_pgr`` is the PGR of the same held-out scores ranked offline (the top share of
the whole file, no balancer): the gap to ``pgr`` is what holding the share request by request
costs. Needs numpy, like training. Scores are looked up by prompt text: a prompt that appears in
two groups of different folds gets one of the two folds' scores (the one that held it out in that
group), so such duplicates are the only way a model can have seen a prompt it scores.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wilton_plugin.core.scorer import message_text
from wilton_plugin.replay import quality_report, route_prompts
from wilton_plugin.scoring.data import DataError, Row, prompts_only
from wilton_plugin.scoring.model import LearnedScorer
from wilton_plugin.scoring.train import train
from wilton_plugin.settings import WiltonSettings


@dataclass(frozen=True)
class Split:
    """How one file's rows are assigned to folds."""

    kind: str  # "groups": whole groups held out; "rows": rows (too few groups)
    groups: int
    fold_of: tuple[int, ...]


class HeldOutScorer:
    """Scores each prompt with the score its own fold's model gave it (a ``Scorer``)."""

    uniform = True  # the fold models' scores are training quantiles, like ``LearnedScorer``'s

    def __init__(self, scores: Mapping[str, float]) -> None:
        self.scores = scores

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        return self.scores[message_text(messages)]


def split(rows: Sequence[Row], folds: int, rng: random.Random) -> Split:
    """Whole groups round-robin over the folds after a seeded shuffle; rows when groups < folds."""
    groups = sorted({r.subject for r in rows})
    if len(groups) >= folds:
        rng.shuffle(groups)
        fold_of_group = {g: i % folds for i, g in enumerate(groups)}
        return Split("groups", len(groups), tuple(fold_of_group[r.subject] for r in rows))
    texts = list(dict.fromkeys(r.prompt for r in rows))  # identical prompts share a fold
    rng.shuffle(texts)
    fold_of_text = {t: rank % folds for rank, t in enumerate(texts)}
    return Split("rows", len(groups), tuple(fold_of_text[r.prompt] for r in rows))


def held_out_scores(
    files: Sequence[Sequence[Row]], splits: Sequence[Split], folds: int, *, seed: int = 0, l2: float | None = None
) -> dict[str, float]:
    """Each prompt's score from the model trained without its fold (all files pooled)."""
    scores: dict[str, float] = {}
    for k in range(folds):
        training = [r for rows, s in zip(files, splits) for r, f in zip(rows, s.fold_of) if f != k]
        if len(training) < 10:
            raise DataError(f"fold {k + 1} of {folds} leaves {len(training)} training rows; need at least 10 (use fewer folds)")
        scorer = LearnedScorer(train(training, seed=seed, l2=l2))
        for rows, s in zip(files, splits):
            for r, f in zip(rows, s.fold_of):
                if f == k:
                    scores[r.prompt] = scorer.score_text(r.prompt)
    return scores


def ranked_pgr(rows: Sequence[Row], scores: Mapping[str, float], k: int) -> float:
    """PGR if the held-out scores were ranked offline and the top ``k`` sent (no balancer)."""
    values = [scores[r.prompt] for r in rows]
    top = set(sorted(range(len(rows)), key=lambda i: (-values[i], i))[:k])
    return quality_report(rows, [i in top for i in range(len(rows))])["pgr"]


def cross_validate(
    files: Sequence[tuple[str, Sequence[Row]]],
    settings: WiltonSettings,
    *,
    folds: int = 5,
    seed: int = 0,
    shuffle: bool = False,
    l2: float | None = None,
) -> list[dict[str, Any]]:
    """One quality report per file (``quality_report`` keys plus ``file``, ``order``, ``split``,
    ``groups``, ``folds``, ``ranked_pgr``), replayed in file order, then shuffled when asked."""
    if folds < 2:
        raise DataError(f"folds has value {folds}; expected a whole number >= 2")
    rng = random.Random(seed)
    splits = [split(rows, folds, rng) for _, rows in files]
    for (name, rows), s in zip(files, splits):
        if len(set(s.fold_of)) < folds:
            raise DataError(f"{name}: {len(rows)} rows cannot fill {folds} folds; use fewer folds")
    scores = held_out_scores([rows for _, rows in files], splits, folds, seed=seed, l2=l2)
    scorer = HeldOutScorer(scores)
    reports = []
    for (name, rows), s in zip(files, splits):
        for order in ("file", "shuffled") if shuffle else ("file",):
            ordered = list(rows)
            if order == "shuffled":
                random.Random(seed).shuffle(ordered)
            sent = route_prompts(prompts_only(ordered), settings, seed=seed, scorer=scorer)
            report = quality_report(ordered, sent, seed=seed)
            report.update(file=name, order=order, split=s.kind, groups=s.groups, folds=folds,
                          ranked_pgr=ranked_pgr(ordered, scores, sum(sent)))
            reports.append(report)
    return reports
