"""How the shipped scorer reads chat traffic: hand-written prompts in eight chat categories.

No labelled chat, code or writing outcomes ship with Wilton, so the ``open`` family's task prior
cannot be scored by PGR here. What can be checked is whether it reads a request for what it is
and ranks the categories where frontier models lead most in published per-category comparisons
(code, maths, reasoning) above those where open models are close (writing, role-play,
humanities, extraction). ``tests/data/open_prompts.csv`` (96 prompts) was used while designing
the rules; ``open_prompts_heldout.csv`` (80 prompts, written separately, first scored once the
rules were fixed, then looked at) and ``open_prompts_heldout2.csv`` (80 more, written and scored
once at the end of session 5, before and after its last change) check that they generalise. Neither holds outcomes: "AUC" is the probability
that a prompt of a high-gain category scores above one of a low-gain category, not a quality
measure.

Run: ``.venv/bin/python bench/open_prompts.py [--json]``.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.scoring import tasks, wordproblem  # noqa: E402
from wilton_plugin.scoring.model import LearnedScorer, family  # noqa: E402

FILES = tuple(ROOT / "tests" / "data" / name for name in ("open_prompts.csv", "open_prompts_heldout.csv",
                                                         "open_prompts_heldout2.csv"))
HIGH = ("coding", "math", "reasoning")
LOW = ("writing", "roleplay", "humanities", "extraction")
# the task reading each category should get (stem and humanities have two acceptable readings)
EXPECTED = {"writing": {"writing"}, "roleplay": {"roleplay"}, "extraction": {"extraction"}, "coding": {"code"},
            "math": {"maths"}, "reasoning": {"reasoning"}, "stem": {"knowledge", "maths"},
            "humanities": {"knowledge", "other"}}


def report(path: Path, scorer: LearnedScorer) -> dict[str, Any]:
    """Per category: mean score, word-problem (quant) count, task read as expected; plus the AUC."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    by: dict[str, dict[str, Any]] = {}
    for row in rows:
        prompt, category = row["prompt"], row["category"]
        entry = by.setdefault(category, {"n": 0, "scores": [], "quant": 0, "task_read": 0})
        entry["n"] += 1
        entry["scores"].append(scorer.score_text(prompt))
        entry["quant"] += family(prompt) == "quant"
        entry["task_read"] += tasks.task(wordproblem.tokens(prompt)[0], prompt[: tasks.SCAN]) in EXPECTED[category]
    high = [s for c in HIGH for s in by[c]["scores"]]
    low = [s for c in LOW for s in by[c]["scores"]]
    auc = sum((h > lo) + 0.5 * (h == lo) for h in high for lo in low) / (len(high) * len(low))
    categories = {c: {"n": e["n"], "mean_score": round(statistics.mean(e["scores"]), 3), "quant": e["quant"],
                      "task_read": e["task_read"]} for c, e in by.items()}
    return {"file": path.name, "n": len(rows), "auc_high_vs_low": round(auc, 3), "categories": categories}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scorer = LearnedScorer.load()
    reports = [report(path, scorer) for path in FILES]
    if args.json:
        print(json.dumps({"files": reports}, sort_keys=True))
        return 0
    for r in reports:
        print(f"{r['file']}: {r['n']} prompts, AUC high-gain vs low-gain categories {r['auc_high_vs_low']:.3f}")
        print(f"  {'category':<11} {'n':>3} {'mean score':>10} {'word problems':>13} {'task read':>9}")
        ordered = sorted(r["categories"].items(), key=lambda kv: -kv[1]["mean_score"])
        for category, c in ordered:
            print(f"  {category:<11} {c['n']:>3} {c['mean_score']:>10.3f} {c['quant']:>13} {c['task_read']:>6}/{c['n']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
