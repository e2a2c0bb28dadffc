"""How the shipped scorer reads chat traffic: hand-written prompts in eight chat categories.

No labelled chat, code or writing outcomes ship with Wilton, so the ``open`` family's task prior
cannot be scored by PGR here. What can be checked is whether it reads a request for what it is
and ranks the categories where frontier models lead most in published per-category comparisons
(code, maths, reasoning) above those where open models are close (writing, role-play,
humanities, extraction). The files are in ``data/chat-prompts/`` (see its README): single
requests (``open_prompts*.csv``) and two-turn conversations (``followups.csv``, ``followups_heldout.csv``), for which the
follow-up is scored alone, as before session 6, and with its conversation (``LearnedScorer.score``
on the whole message list), and the first message alone. None holds outcomes: "AUC" is the
probability that a prompt of a high-gain category scores above one of a low-gain category, not a
quality measure. App requests (``system_prompts_heldout.csv``: a system prompt that often sets
the app's task, then the end user's message) are scored without and with the system prompt.
``followups_switch*.csv`` (session 7) mix follow-ups that continue with ones that start a new
request mid-conversation; their AUC is by the category of the follow-up's work (the
conversation's when it continues, the new request's otherwise, ``chat`` counting as low-gain).
``agent_prompts*.csv`` (session 7) are app requests whose system prompts are long agent
instructions (tools with JSON arguments, schemas, policies) whatever the app does. "read as" counts the requests whose likeliest category by the task classifier is
their own (for open prompts that are not chat).

Since session 6 the task classifier is trained on every file here but ``open_prompts_heldout3.csv``,
so their numbers are in-sample; ``open_prompts_heldout3.csv`` is the out-of-sample set, and
``bench/task_cv.py`` gives leave-one-file-out numbers.

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
from wilton_plugin.scoring.taskmodel import CATEGORIES  # noqa: E402
from wilton_plugin.scoring.model import LearnedScorer, family  # noqa: E402

FILES = tuple(ROOT / "data" / "chat-prompts" / name for name in ("open_prompts.csv", "open_prompts_heldout.csv",
                                                                 "open_prompts_heldout2.csv", "open_prompts_heldout3.csv"))
FOLLOWUP_FILES = tuple(ROOT / "data" / "chat-prompts" / name for name in ("followups.csv", "followups_heldout.csv"))
SWITCH_FILES = tuple(ROOT / "data" / "chat-prompts" / name for name in ("followups_switch.csv",
                                                                        "followups_switch_heldout.csv"))
SYSTEM_FILES = tuple(ROOT / "data" / "chat-prompts" / name for name in ("system_prompts_heldout.csv", "agent_prompts.csv",
                                                                        "agent_prompts_heldout.csv"))
FOLLOWUP_WAYS = ("first", "followup_alone", "followup_in_conversation")
SYSTEM_WAYS = ("user_alone", "with_system")
HIGH = ("coding", "math", "reasoning")
LOW = ("writing", "roleplay", "humanities", "extraction", "chat")  # chat: small talk, in the switch files only



def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def auc(scores: dict[str, list[float]]) -> float:
    """P(a prompt of a high-gain category scores above one of a low-gain category); ties count half."""
    high = [s for c in HIGH for s in scores.get(c, ())]
    low = [s for c in LOW for s in scores.get(c, ())]
    return round(sum((h > lo) + 0.5 * (h == lo) for h in high for lo in low) / (len(high) * len(low)), 3)


def report(path: Path, scorer: LearnedScorer) -> dict[str, Any]:
    """Per category: mean score, word-problem (quant) count, task read as expected; plus the AUC."""
    rows = _rows(path)
    by: dict[str, dict[str, Any]] = {}
    for row in rows:
        prompt, category = row["prompt"], row["category"]
        entry = by.setdefault(category, {"n": 0, "scores": [], "quant": 0, "task_read": 0})
        entry["n"] += 1
        entry["scores"].append(scorer.score_text(prompt))
        entry["quant"] += family(prompt) == "quant"
        _, probabilities = tasks.categories(wordproblem.tokens(prompt)[0], prompt[: tasks.SCAN])
        entry["task_read"] += probabilities is not None and max(zip(probabilities, CATEGORIES))[1] == category
    categories = {c: {"n": e["n"], "mean_score": round(statistics.mean(e["scores"]), 3), "quant": e["quant"],
                      "task_read": e["task_read"]} for c, e in by.items()}
    return {"file": path.name, "n": len(rows), "auc_high_vs_low": auc({c: e["scores"] for c, e in by.items()}),
            "categories": categories}


def _ways(path: Path, ways: tuple[str, ...], scored: list[tuple[str, tuple[float, ...]]]) -> dict[str, Any]:
    """Per way of scoring (one value per row and way): its AUC, and each category's mean."""
    scores: dict[str, dict[str, list[float]]] = {way: {} for way in ways}
    for category, values in scored:
        for way, value in zip(ways, values):
            scores[way].setdefault(category, []).append(value)
    means = {c: {way: round(statistics.mean(scores[way][c]), 3) for way in ways} for c in scores[ways[0]]}
    return {"file": path.name, "n": len(scored), **{f"auc_{way}": auc(scores[way]) for way in ways},
            "categories": means}


def _two_turns(row: dict[str, str]) -> list[dict[str, str]]:
    return [{"role": "user", "content": row["turn1"]}, {"role": "assistant", "content": row["reply"]},
            {"role": "user", "content": row["turn2"]}]


def followup_report(path: Path, scorer: LearnedScorer) -> dict[str, Any]:
    """Two-turn conversations: the AUC of the first message, of the follow-up alone and in its conversation."""
    scored = []
    for row in _rows(path):
        scored.append((row["category"], (scorer.score_text(row["turn1"]), scorer.score_text(row["turn2"]),
                                         scorer.score(_two_turns(row)))))
    return _ways(path, FOLLOWUP_WAYS, scored)


def switch_report(path: Path, scorer: LearnedScorer) -> dict[str, Any]:
    """Two-turn conversations whose follow-up either continues (``kind`` continue) or starts a new request
    (switch, of ``turn2_category``): the AUC by the category the follow-up's work belongs to (the
    conversation's, or the new request's), and how many of each kind were read as such."""
    scored = []
    read = {"continue": [0, 0], "switch": [0, 0]}  # kind -> [read as that kind, rows]
    for row in _rows(path):
        kind = row["kind"]
        continued = scorer.model.read_turns([row["turn1"], row["turn2"]], "", ["", row["reply"]]).index == 0
        read[kind][0] += continued == (kind == "continue")
        read[kind][1] += 1
        category = row["category"] if kind == "continue" else row["turn2_category"]
        scored.append((category, (scorer.score_text(row["turn1"]), scorer.score_text(row["turn2"]),
                                  scorer.score(_two_turns(row)))))
    return {**_ways(path, FOLLOWUP_WAYS, scored), "continues_read": read["continue"], "switches_read": read["switch"]}


def system_report(path: Path, scorer: LearnedScorer) -> dict[str, Any]:
    """App requests (a system prompt, then the end user's message): the AUC of the user message alone and
    with its system prompt, and how many took the system prompt's score."""
    scored = []
    for row in _rows(path):
        messages = [{"role": "system", "content": row["system"]}, {"role": "user", "content": row["user"]}]
        scored.append((row["category"], (scorer.score_text(row["user"]), scorer.score(messages))))
    return {**_ways(path, SYSTEM_WAYS, scored), "system_prompt_taken": sum(alone != both for _, (alone, both) in scored)}


def _print_ways(report: dict[str, Any], ways: tuple[str, ...], headers: tuple[str, ...]) -> None:
    print(f"  {'category':<11}" + "".join(f" {h:>15}" for h in headers))
    ordered = sorted(report["categories"].items(), key=lambda kv: -kv[1][ways[-1]])
    for category, c in ordered:
        print(f"  {category:<11}" + "".join(f" {c[way]:>15.3f}" for way in ways))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    scorer = LearnedScorer.load()
    reports = [report(path, scorer) for path in FILES]
    followups = [followup_report(path, scorer) for path in FOLLOWUP_FILES]
    switches = [switch_report(path, scorer) for path in SWITCH_FILES]
    systems = [system_report(path, scorer) for path in SYSTEM_FILES]
    if args.json:
        print(json.dumps({"files": reports, "followups": followups, "switches": switches, "system_prompts": systems},
                         sort_keys=True))
        return 0
    for r in reports:
        print(f"{r['file']}: {r['n']} prompts, AUC high-gain vs low-gain categories {r['auc_high_vs_low']:.3f}")
        print(f"  {'category':<11} {'n':>3} {'mean score':>10} {'word problems':>13} {'read as':>9}")
        ordered = sorted(r["categories"].items(), key=lambda kv: -kv[1]["mean_score"])
        for category, c in ordered:
            print(f"  {category:<11} {c['n']:>3} {c['mean_score']:>10.3f} {c['quant']:>13} {c['task_read']:>6}/{c['n']}")
    for f in followups + switches:
        read = (f"; read as continuing {f['continues_read'][0]}/{f['continues_read'][1]}, as new requests "
                f"{f['switches_read'][0]}/{f['switches_read'][1]}") if "continues_read" in f else ""
        print(f"{f['file']}: {f['n']} two-turn conversations, AUC high-gain vs low-gain categories of the "
              f"follow-up's work: first message {f['auc_first']:.3f}, follow-up alone {f['auc_followup_alone']:.3f}, "
              f"follow-up in its conversation {f['auc_followup_in_conversation']:.3f}{read}")
        _print_ways(f, FOLLOWUP_WAYS, ("mean: first", "alone", "in conversation"))
    for f in systems:
        print(f"{f['file']}: {f['n']} app requests (system prompt + user message), AUC high-gain vs low-gain "
              f"categories: user message alone {f['auc_user_alone']:.3f}, with its system prompt "
              f"{f['auc_with_system']:.3f} ({f['system_prompt_taken']} read with the system prompt)")
        _print_ways(f, SYSTEM_WAYS, ("mean: alone", "with system"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
