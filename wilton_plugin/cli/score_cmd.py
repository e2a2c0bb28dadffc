"""``wiltonctl score``: a prompt's difficulty score and why (the learned scorer, explained)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from wilton_plugin.errors import ConfigError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``score``."""
    score = subparsers.add_parser(
        "score",
        help="score a prompt with the learned scorer and show why",
        description="Score one prompt (TEXT, --file, or standard input) as the proxy's learned scorer would, "
        "and explain it: the prompt's family, the model or prior that scores it, the predicted gain of the "
        "frontier over local, the calibrated score in [0, 1], and the features that moved the prediction "
        "most (value against the training mean, times the weight). With --messages, the last user message of a "
        "conversation is scored as the proxy scores it: a follow-up linked to its conversation (\"why?\", "
        "\"make it shorter\", \"put it in a table\") takes the score of the request it continues, a new request "
        "mid-conversation is scored alone, and when the user's input sets no task of its own a system prompt that "
        "sets one is averaged in; the message that set the score is the one explained. Nothing is sent anywhere.",
    )
    score.add_argument("text", nargs="?", default=None, metavar="TEXT", help="the prompt (default: --file or stdin)")
    score.add_argument("--file", default=None, metavar="FILE", help="read the prompt from FILE")
    score.add_argument("--messages", default=None, metavar="FILE",
                       help="a conversation: a JSON chat-completions request body or its messages list ('-': stdin)")
    score.add_argument("--artifact", default=None, help="scorer artifact (default: the shipped one)")
    score.add_argument("--top", type=int, default=8, help="how many features to show (default 8)")
    score.add_argument("--json", action="store_true", help="print one JSON object")
    score.set_defaults(func=_score)


def _score(args: argparse.Namespace) -> int:
    from wilton_plugin.scoring.explain import explain, explain_conversation
    from wilton_plugin.scoring.model import LearnedScorer, conversation

    given = [(flag, value) for flag, value in (("TEXT", args.text), ("--file", args.file), ("--messages", args.messages))
             if value is not None]
    if len(given) > 1:
        raise ConfigError(*given[1], "Give the prompt one way: TEXT, --file or --messages.")
    if args.top < 0:
        raise ConfigError("--top", args.top, "Expected a whole number >= 0.")
    scorer = LearnedScorer.load(args.artifact)
    if args.messages is not None:
        messages = _messages(args.messages)
        texts, system, replies = conversation(messages)  # what the proxy reads: its last user messages
        users = sum(1 for m in messages if isinstance(m, dict) and m.get("role") == "user")
        report = explain_conversation(scorer.model, texts, args.top, system, replies, earlier=users - len(texts))
    else:
        if args.text is not None:
            text = args.text
        elif args.file is not None:
            text = Path(args.file).read_text(encoding="utf-8")
        else:
            text = sys.stdin.read()
        report = explain(scorer.model, text, args.top)
    report["artifact"] = scorer.path
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    if "conversation" in report:
        where = f"user message {report['message']} of {report['user_messages']}" if report["message"] else "the system prompt"
        print(f"scored as  {where} ({report['conversation']})")
    print(f"family     {report['family']} ({report['family_reason']})")
    print(f"model      {report['model']}  [{scorer.path}]")
    if report.get("task"):
        line = f"task       {report['task']}"
        if report.get("categories"):
            line += " (" + ", ".join(f"{c} {p:.2f}" for c, p in report["categories"].items()) + ")"
        print(f"{line}; marker words read: {report['task_markers']}")
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


def _messages(source: str) -> list[Any]:
    """The messages of a JSON chat-completions body (or a bare list); ``ConfigError`` naming what is wrong."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("--messages", source, f"Cannot read it ({getattr(exc, 'strerror', None) or exc}).") from None
    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise ConfigError("--messages", source, f"Not JSON ({exc}).") from None
    messages = body.get("messages") if isinstance(body, dict) else body
    if not isinstance(messages, list) or not any(isinstance(m, dict) and m.get("role") == "user" for m in messages):
        raise ConfigError("--messages", source, "Expected a list of chat messages (or a body with \"messages\") "
                                                "with at least one {\"role\": \"user\", ...}.")
    return messages
