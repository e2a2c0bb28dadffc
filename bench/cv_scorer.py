"""Cross-validated PGR of the learned scorer, by subject: train on some subjects, replay the others.

MMLU rows are split into ``--folds`` groups of whole subjects (seeded); GSM8K (one subject) into
random row folds. For each fold the scorer is trained on every other fold of *both* files and
scores only its held-out rows; then each file is replayed in file order through
``WiltonService.route`` (the proxy's path) at the target, each prompt scored by the model that
never saw its subject (MMLU) or its row (GSM8K). Prints PGR with random and oracle baselines.

The folds and replays are ``wilton_plugin.crossval`` (``wiltonctl bench cv`` on any CSVs); this
script repeats them over fold seeds on the shipped data and reports mean ± sd.

Run: ``.venv/bin/python bench/cv_scorer.py [--folds 5] [--seeds 5] [--shuffle] [--slack S] [--json]``.
"ranked" is the PGR of the same held-out scores ranked offline (top share of the whole file, no
balancer): the gap to it is what holding the share request by request costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wilton_plugin.crossval import cross_validate  # noqa: E402
from wilton_plugin.replay import replay_settings  # noqa: E402
from wilton_plugin.scoring.data import read_rows  # noqa: E402

DATA = ROOT / "data" / "routing-eval"


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
    files = [("mmlu", mmlu), ("gsm8k", gsm)]
    runs: dict[str, list[dict[str, Any]]] = {}
    for seed in range(args.seeds):
        for report in cross_validate(files, settings, folds=args.folds, seed=seed, shuffle=args.shuffle):
            key = report["file"] if report["order"] == "file" else f"{report['file']}-shuffled"
            runs.setdefault(key, []).append(report)
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
