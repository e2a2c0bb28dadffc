"""Cross-validated PGR of the learned scorer, by subject: train on some subjects, replay the others.

MMLU rows are split into ``--folds`` groups of whole subjects (seeded); GSM8K (one subject) into
random row folds. For each fold the scorer is trained on every other fold of *both* files and
scores only its held-out rows; then each file is replayed in file order through
``WiltonService.route`` (the proxy's path) at the target, each prompt scored by the model that
never saw its subject (MMLU) or its row (GSM8K). Prints PGR with random and oracle baselines.

Run: ``.venv/bin/python bench/cv_scorer.py [--folds 5] [--seed 0] [--target 0.75] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.core.scorer import message_text  # noqa: E402
from wilton_plugin.replay import quality_report, replay_settings, route_prompts  # noqa: E402
from wilton_plugin.scoring.data import prompts_only, read_rows  # noqa: E402
from wilton_plugin.scoring.model import LearnedScorer  # noqa: E402
from wilton_plugin.scoring.train import train  # noqa: E402

DATA = ROOT / "data" / "routing-eval"


class FoldScorer:
    """Scores each prompt with the model of the fold that held it out."""

    def __init__(self, by_prompt: Mapping[str, LearnedScorer]) -> None:
        self.by_prompt = by_prompt

    def score(self, messages: Sequence[Mapping[str, Any]] | None) -> float:
        text = message_text(messages)
        return self.by_prompt[text].score_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.75)
    parser.add_argument("--shuffle", action="store_true", help="also replay each file in a seeded shuffled order")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    mmlu = read_rows(DATA / "mmlu_dev.csv")
    gsm = read_rows(DATA / "gsm8k_dev.csv")
    rng = random.Random(args.seed)
    subjects = sorted({r.subject for r in mmlu})
    rng.shuffle(subjects)
    subject_fold = {s: i % args.folds for i, s in enumerate(subjects)}
    mmlu_fold = [subject_fold[r.subject] for r in mmlu]
    gsm_order = list(range(len(gsm)))
    rng.shuffle(gsm_order)
    gsm_fold = [0] * len(gsm)
    for rank, i in enumerate(gsm_order):
        gsm_fold[i] = rank % args.folds

    by_prompt: dict[str, LearnedScorer] = {}
    for k in range(args.folds):
        rows = [r for r, f in zip(mmlu, mmlu_fold) if f != k] + [r for r, f in zip(gsm, gsm_fold) if f != k]
        scorer = LearnedScorer(train(rows, seed=args.seed))
        for r, f in zip(mmlu, mmlu_fold):
            if f == k:
                by_prompt[r.prompt] = scorer
        for r, f in zip(gsm, gsm_fold):
            if f == k:
                by_prompt[r.prompt] = scorer
    fold_scorer = FoldScorer(by_prompt)
    settings = replay_settings(args.target, "constant")  # the scorer is replaced by the fold scorer
    results: dict[str, Any] = {}
    orders = [("file order", False)] + ([("shuffled", True)] if args.shuffle else [])
    for name, rows in (("mmlu", mmlu), ("gsm8k", gsm)):
        for label, shuffle in orders:
            ordered = list(rows)
            if shuffle:
                random.Random(args.seed).shuffle(ordered)
            sent = route_prompts(prompts_only(ordered), settings, seed=args.seed, scorer=fold_scorer)
            key = name if not shuffle else f"{name}-shuffled"
            results[key] = quality_report(ordered, sent, seed=args.seed)
    if args.json:
        print(json.dumps({"folds": args.folds, "seed": args.seed, "target": args.target, "results": results}))
        return 0
    print(f"learned scorer, {args.folds}-fold cross-validation by subject (seed {args.seed}), target {args.target}")
    print(f"{'data':<16} {'n':>6} {'share':>6} {'quality':>8} {'PGR':>6} {'random':>7} {'oracle':>7}")
    for key, r in results.items():
        print(f"{key:<16} {r['n']:>6} {r['frontier_share']:>6.3f} {r['quality']:>8.4f} {r['pgr']:>6.3f} "
              f"{r['random_pgr']:>7.3f} {r['oracle_pgr']:>7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
