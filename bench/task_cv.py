"""Leave-one-file-out check of the task reader's classifier on the hand-written chat requests.

Each file of ``data/chat-prompts/`` that trains the shipped classifier was written by a different
author. For each, the classifier is trained on the other files only (``tasktrain.train``) and
reads this one: the share of requests it puts in their category, the share the marker words put
in an acceptable task (``tasks-2``, before the classifier), and the AUC (a code, maths or
reasoning request scores above a writing, role-play, humanities or extraction one) of the whole
learned scorer with the fold's classifier against the same scorer reading tasks by marker words
only. ``open_prompts_heldout3.csv``, never trained on, is read by the shipped classifier (trained
on all five files) and by the markers.

Run: ``.venv/bin/python bench/task_cv.py [--json]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from math import log1p
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.scoring import taskmodel, tasks, wordproblem  # noqa: E402
from wilton_plugin.scoring.model import LearnedScorer, Prior, family_and_tokens  # noqa: E402
from wilton_plugin.scoring.tasktrain import DATA, TRAINING_FILES, read_requests, train  # noqa: E402

HELD_OUT = ("open_prompts_heldout3.csv", "prompt")
HIGH = ("coding", "math", "reasoning")
LOW = ("writing", "roleplay", "humanities", "extraction")
MARKER_READS = {"writing": {"writing"}, "roleplay": {"roleplay"}, "extraction": {"extraction"}, "coding": {"code"},
                "math": {"maths"}, "reasoning": {"reasoning"}, "stem": {"knowledge", "maths"},
                "humanities": {"knowledge", "other"}}


def auc(rows: list[tuple[str, float]]) -> float:
    high = [s for c, s in rows if c in HIGH]
    low = [s for c, s in rows if c in LOW]
    return sum((h > lo) + 0.5 * (h == lo) for h in high for lo in low) / (len(high) * len(low))


def marker_score(scorer: LearnedScorer, text: str) -> float:
    """The learned scorer as it was with ``tasks-2``: an open prompt's gain set by its marker task."""
    name, parsed = family_and_tokens(text)
    if not isinstance(scorer.model.families[name], Prior):
        return scorer.model.score_as(text, name, parsed)
    words = (parsed if parsed is not None else wordproblem.tokens(text))[0]
    length = min(1.0, log1p(len(text)) / log1p(4000))
    return scorer.model.calibrate(tasks.GAINS[tasks.task(words, text[: tasks.SCAN])] * (0.75 + 0.5 * length))


def read_file(rows: list[tuple[str, str]], model: taskmodel.TaskModel, scorer: LearnedScorer) -> dict[str, float]:
    """Category accuracy (classifier, markers) and AUC (scorer with the classifier, with markers)."""
    tasks.MODEL = model
    right = marked = 0
    with_classifier, with_markers = [], []
    for category, prompt in rows:
        words = wordproblem.tokens(prompt)[0]
        marker, probabilities = tasks.categories(words, prompt[: tasks.SCAN])
        if probabilities is not None:
            right += taskmodel.CATEGORIES[max(range(len(probabilities)), key=probabilities.__getitem__)] == category
        marked += marker in MARKER_READS[category]
        with_classifier.append((category, scorer.score_text(prompt)))
        with_markers.append((category, marker_score(scorer, prompt)))
    n = len(rows)
    return {"n": n, "classifier_accuracy": round(right / n, 3), "marker_accuracy": round(marked / n, 3),
            "auc_classifier": round(auc(with_classifier), 3), "auc_markers": round(auc(with_markers), 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scorer = LearnedScorer.load()
    shipped = tasks.MODEL
    files = {name: read_requests(DATA / name, column) for name, column in TRAINING_FILES}
    folds = {}
    for name, rows in files.items():
        others = [row for other, other_rows in files.items() if other != name for row in other_rows]
        folds[name] = read_file(rows, train(others), scorer)
    held_out = read_file(read_requests(DATA / HELD_OUT[0], HELD_OUT[1]), shipped, scorer)
    tasks.MODEL = shipped
    mean = {key: round(statistics.mean(f[key] for f in folds.values()), 3)
            for key in ("classifier_accuracy", "marker_accuracy", "auc_classifier", "auc_markers")}
    report = {"leave_one_file_out": folds, "mean": mean, "held_out": {HELD_OUT[0]: held_out}}
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"{'file (left out)':<28} {'n':>3} {'accuracy: classifier':>20} {'markers':>8} {'AUC: classifier':>16} {'markers':>8}")
    for name, f in [*folds.items(), ("mean", {"n": sum(f["n"] for f in folds.values()), **mean}),
                    (f"{HELD_OUT[0]} (shipped)", held_out)]:
        print(f"{name:<28} {f['n']:>3} {f['classifier_accuracy']:>20.3f} {f['marker_accuracy']:>8.3f} "
              f"{f['auc_classifier']:>16.3f} {f['auc_markers']:>8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
