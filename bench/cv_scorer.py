"""Cross-validated PGR of the learned scorer, by subject: train on some subjects, replay the others.

MMLU rows are split into ``--folds`` groups of whole subjects (seeded); GSM8K (one subject) into
random row folds. For each fold the scorer is trained on every other fold of *both* files and
scores only its held-out rows; then each file is replayed in file order through
``WiltonService.route`` (the proxy's path) at the target, each prompt scored by the model that
never saw its subject (MMLU) or its row (GSM8K). Prints PGR with random and oracle baselines.

Run: ``.venv/bin/python bench/cv_scorer.py [--folds 5] [--seeds 5] [--shuffle] [--slack S] [--json]``.
"ranked" is the PGR of the same held-out scores ranked offline (top share of the whole file, no
balancer): the gap to it is what holding the share request by request costs.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.core.scorer import message_text  # noqa: E402
from wilton_plugin.replay import quality_report, replay_settings, route_prompts  # noqa: E402
from wilton_plugin.scoring.data import Row, prompts_only, read_rows  # noqa: E402
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


def ranked_pgr(rows: Sequence[Row], scorer: FoldScorer, k: int) -> float:
    """PGR if the same held-out scores were ranked offline and the top ``k`` sent (no balancer)."""
    scores = [scorer.score([{"role": "user", "content": r.prompt}]) for r in rows]
    top = set(sorted(range(len(rows)), key=lambda i: (-scores[i], i))[:k])
    return quality_report(rows, [i in top for i in range(len(rows))])["pgr"]


def fold_scorer(mmlu: Sequence[Row], gsm: Sequence[Row], folds: int, seed: int) -> FoldScorer:
    """Train one scorer per fold (whole MMLU subjects, GSM8K rows) and map each prompt to its own."""
    rng = random.Random(seed)
    subjects = sorted({r.subject for r in mmlu})
    rng.shuffle(subjects)
    subject_fold = {s: i % folds for i, s in enumerate(subjects)}
    mmlu_fold = [subject_fold[r.subject] for r in mmlu]
    gsm_order = list(range(len(gsm)))
    rng.shuffle(gsm_order)
    gsm_fold = [0] * len(gsm)
    for rank, i in enumerate(gsm_order):
        gsm_fold[i] = rank % folds
    by_prompt: dict[str, LearnedScorer] = {}
    for k in range(folds):
        rows = [r for r, f in zip(mmlu, mmlu_fold) if f != k] + [r for r, f in zip(gsm, gsm_fold) if f != k]
        scorer = LearnedScorer(train(rows, seed=seed))
        for r, f in [*zip(mmlu, mmlu_fold), *zip(gsm, gsm_fold)]:
            if f == k:
                by_prompt[r.prompt] = scorer
    return FoldScorer(by_prompt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seeds", type=int, default=1, help="repeat with fold/shuffle seeds 0..N-1 (mean ± sd)")
    parser.add_argument("--target", type=float, default=0.75)
    parser.add_argument("--shuffle", action="store_true", help="also replay each file in a seeded shuffled order")
    parser.add_argument("--slack", type=float, default=None, help="balance.slack (default: Wilton's default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    mmlu = read_rows(DATA / "mmlu_dev.csv")
    gsm = read_rows(DATA / "gsm8k_dev.csv")
    extra = {"balance": {"slack": args.slack}} if args.slack is not None else None
    settings = replay_settings(args.target, "constant", extra=extra)  # the scorer is replaced by the fold scorer
    runs: dict[str, list[dict[str, Any]]] = {}
    orders = [False] + ([True] if args.shuffle else [])
    for seed in range(args.seeds):
        scorer = fold_scorer(mmlu, gsm, args.folds, seed)
        for name, rows in (("mmlu", mmlu), ("gsm8k", gsm)):
            for shuffle in orders:
                ordered = list(rows)
                if shuffle:
                    random.Random(seed).shuffle(ordered)
                sent = route_prompts(prompts_only(ordered), settings, seed=seed, scorer=scorer)
                report = quality_report(ordered, sent, seed=seed)
                report["ranked_pgr"] = ranked_pgr(ordered, scorer, sum(sent))
                runs.setdefault(name if not shuffle else f"{name}-shuffled", []).append(report)
    summary = {key: _summarise(reports) for key, reports in runs.items()}
    if args.json:
        print(json.dumps({"folds": args.folds, "seeds": args.seeds, "target": args.target, "results": summary}))
        return 0
    print(f"learned scorer, {args.folds}-fold cross-validation by subject, seeds 0..{args.seeds - 1} "
          f"(mean ± sd), target {args.target}")
    print(f"{'data':<16} {'n':>6} {'share':>6} {'PGR':>13} {'ranked':>13} {'random':>7} {'oracle':>7}")
    for key, r in summary.items():
        print(f"{key:<16} {r['n']:>6} {r['frontier_share']:>6.3f} {r['pgr']:>6.3f} ± {r['pgr_sd']:.3f} "
              f"{r['ranked_pgr']:>6.3f} ± {r['ranked_pgr_sd']:.3f} {r['random_pgr']:>7.3f} {r['oracle_pgr']:>7.3f}")
    return 0


def _summarise(reports: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"n": reports[0]["n"], "runs": len(reports)}
    for key in ("frontier_share", "quality", "pgr", "ranked_pgr", "random_pgr", "oracle_pgr"):
        values = [r[key] for r in reports]
        out[key] = statistics.fmean(values)
        if key in ("pgr", "ranked_pgr"):
            out[f"{key}_sd"] = statistics.pstdev(values)
    return out


if __name__ == "__main__":
    sys.exit(main())
