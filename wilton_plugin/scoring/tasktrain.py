"""Training the task reader's classifier (``taskmodel``) from hand-written requests by category.

Multinomial naive Bayes on the *set* of each request's features (a word counts once per request),
features kept when at least ``MIN_DF`` requests have them, additive smoothing ``ALPHA``; each
feature's log-likelihoods are centred over the categories (which leaves every probability
unchanged) and rounded to 4 decimals. Deterministic and pure Python.

Rebuild the shipped file: ``python -m wilton_plugin.scoring.tasktrain`` (``--check`` compares
instead of writing). Leave-one-set-out accuracy and AUC: ``bench/task_cv.py``.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from wilton_plugin.scoring import tasks, wordproblem
from wilton_plugin.scoring.taskmodel import CATEGORIES, DEFAULT_MODEL, TaskModel, features

ROOT = Path(__file__).resolve().parent.parent.parent
DATA = ROOT / "data" / "chat-prompts"
# (file, its column holding a request): the sets written for Wilton; heldout3 is kept out of training
TRAINING_FILES = (("open_prompts.csv", "prompt"), ("open_prompts_heldout.csv", "prompt"),
                  ("open_prompts_heldout2.csv", "prompt"), ("followups.csv", "turn1"),
                  ("followups_heldout.csv", "turn1"))
MIN_DF = 2
ALPHA = 0.5


def request_features(prompt: str) -> set[str]:
    """What the classifier sees of one request (the same as at inference)."""
    words = wordproblem.tokens(prompt)[0]
    marked, request = tasks.read(words, prompt[: tasks.SCAN])
    return features(words, request, marked)


def read_requests(path: Path, column: str) -> list[tuple[str, str]]:
    """(category, request) rows of one file."""
    with open(path, encoding="utf-8", newline="") as handle:
        return [(row["category"], row[column]) for row in csv.DictReader(handle)]


def train(rows: Sequence[tuple[str, str]], sources: Sequence[str] = ()) -> TaskModel:
    """Fit the classifier on (category, request) rows."""
    unknown = sorted({c for c, _ in rows} - set(CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; expected {list(CATEGORIES)}")
    docs = [(category, request_features(prompt)) for category, prompt in rows]
    df = Counter(f for _, found in docs for f in found)
    vocab = sorted(f for f, n in df.items() if n >= MIN_DF)
    kept = set(vocab)
    counts = {c: Counter() for c in CATEGORIES}
    for category, found in docs:
        counts[category].update(found & kept)
    sizes = Counter(c for c, _ in docs)
    totals = {c: sum(counts[c].values()) for c in CATEGORIES}
    weights = {}
    for f in vocab:
        logs = [math.log((counts[c][f] + ALPHA) / (totals[c] + ALPHA * len(vocab))) for c in CATEGORIES]
        centre = math.fsum(logs) / len(logs)
        weights[f] = tuple(v - centre for v in logs)
    log_prior = [math.log(sizes[c] / len(docs)) if sizes[c] else -30.0 for c in CATEGORIES]
    centre = math.fsum(log_prior) / len(log_prior)
    info = {"rows": len(docs), "features": len(vocab), "min_df": MIN_DF, "alpha": ALPHA, "sources": list(sources)}
    model = TaskModel(CATEGORIES, tuple(v - centre for v in log_prior), weights, info)
    return TaskModel.from_json(model.to_json())  # exactly what the file holds: rounded


def train_shipped() -> TaskModel:
    """The shipped model, from ``TRAINING_FILES``."""
    rows = [row for name, column in TRAINING_FILES for row in read_requests(DATA / name, column)]
    return train(rows, [f"data/chat-prompts/{name}" for name, _ in TRAINING_FILES])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file differs from a rebuild")
    args = parser.parse_args(argv)
    text = train_shipped().to_json()
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == text
        print(f"{args.out}: {'up to date' if same else 'differs from a rebuild'}")
        return 0 if same else 1
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out} ({len(text):,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
