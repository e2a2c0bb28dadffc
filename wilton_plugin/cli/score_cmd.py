"""``wiltonctl score``: a prompt's difficulty score and why (the learned scorer, explained)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from wilton_plugin.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score``."""
    score = subparsers.add_parser(
        "score",
        help="score a prompt with the learned scorer and show why",
        description="Score one prompt (TEXT, --file, or standard input) as the proxy's learned scorer would, "
        "and explain it: the prompt's family, the model or prior that scores it, the predicted gain of the "
        "frontier over local, the calibrated score in [0, 1], and the features that moved the prediction "
        "most (value against the training mean, times the weight). Nothing is sent anywhere.",
    )
    score.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the prompt (default: --file or stdin)")
    score.add_argument("--file", default=None, metavar="FILE", help="read the prompt from FILE")
    score.add_argument("--artifact", default=None, help="scorer artifact (default: the shipped one)")
    score.add_argument("--top", type=int, default=8, help="how many features to show (default 8)")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(func=_score)


def _score(args: argparse.Namespace) -> int:
    from wilton_plugin.scoring.explain import explain
    from wilton_plugin.scoring.model import LearnedScorer

    if args.text is not None and args.file is not None:
        raise ConfigError("--file", args.file, "Give the prompt either as TEXT or with --file, not both.")
    if args.top < 0:
        raise ConfigError("--top", args.top, "Expected a whole number >= 0.")
    if args.text is not None:
        text = args.text
    elif args.file is not None:
        text = Path(args.file).read_text(encoding="utf-8")
    else:
        text = sys.stdin.read()
    scorer = LearnedScorer.load(args.artifact)
    report = explain(scorer.model, text, args.top)
    report["artifact"] = scorer.path
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"family     {report['family']} ({report['family_reason']})")
    print(f"model      {report['model']}  [{scorer.path}]")
    if report.get("task"):
        print(f"task       {report['task']}")
    if report["predicted_gain"] is not None:
        line = f"gain       {report['predicted_gain']:+.4f} predicted"
        if "baseline_gain" in report:
            line += f" (a prompt at the {report['reference']}: {report['baseline_gain']:+.4f})"
        print(line)
    print(f"score      {report['score']:.3f} (the share of training prompts predicted to gain less)")
    if report.get("effects"):
        print(f"top {len(report['effects'])} of {report['features_moved']} features that moved it "
              f"(value vs {report['reference']}, effect on the gain):")
        for e in report["effects"]:
            print(f"  {e['feature']:<24} {e['value']:>9.3f} vs {e['mean']:>9.3f}  {e['effect']:+.4f}")
    return 0
