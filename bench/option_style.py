"""How much the learned scorer depends on how answer options are written: "A." vs "(A)", "A)", on one line.

Rewrites the first ``--rows`` MMLU prompts (written "A. …") to the other styles and prints the mean
absolute score change and the rank correlation of the rewritten prompts' scores with the originals'.
A scorer that reads the prompt's structure, not its typography, gives ~0 and ~1.

Run: ``.venv/bin/python bench/option_style.py [--rows 2000]``.
"""

from __future__ import annotations

import argparse
import csv
import re
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.scoring.model import LearnedScorer  # noqa: E402

_DOTTED = re.compile(r"(?m)^([A-D])\. ")
STYLES = {
    "(A)": lambda p: _DOTTED.sub(r"(\1) ", p),
    "A)": lambda p: _DOTTED.sub(r"\1) ", p),
    "(A) on one line": lambda p: re.sub(r"\n\(([B-D])\) ", r" (\1) ", _DOTTED.sub(r"(\1) ", p)),
    "A) on one line": lambda p: re.sub(r"\n([B-D])\) ", r" \1) ", _DOTTED.sub(r"\1) ", p)),
}


def ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=values.__getitem__)
    out = [0.0] * len(values)
    for rank, index in enumerate(order):
        out[index] = float(rank)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    args = parser.parse_args()
    model = LearnedScorer.load().model
    with open(ROOT / "data" / "routing-eval" / "mmlu_dev.csv", encoding="utf-8", newline="") as handle:
        prompts = [row["prompt"] for row in csv.DictReader(handle)][: args.rows]
    base = [model.predict(p)[0] for p in prompts]
    print(f"{len(prompts)} MMLU prompts written 'A.'; score sd {statistics.pstdev(base):.3f}")
    for name, rewrite in STYLES.items():
        other = [model.predict(rewrite(p))[0] for p in prompts]
        change = statistics.mean(abs(a - b) for a, b in zip(base, other))
        corr = statistics.correlation(ranks(base), ranks(other))
        print(f"  rewritten to {name:16}: mean |score change| {change:.4f}, rank correlation {corr:.4f}")


if __name__ == "__main__":
    main()
