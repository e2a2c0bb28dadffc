"""Generate ``examples/llm_demo.json``: 300 short tasks (chat, summaries, code, maths), reproducibly.

    python examples/make_llm_demo.py            # writes examples/llm_demo.json
    python examples/make_llm_demo.py --check    # exit 1 when the committed file differs

Prompts are short and max_tokens small (24-48) so that a tiny local model answers each in a
fraction of a second on a CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "llm_demo.json"
SEED = 7
COUNT = 300

CHAT = ["Hi! How are you today?", "What is the capital of {country}?", "Give me one tip for better sleep.",
        "Suggest a name for a {pet}.", "What does a {job} do?", "Say thank you in {language}.",
        "Recommend a book about {topic}.", "What is a good snack before running?"]
SUMMARY = ["Summarise in one sentence: {text}", "Give a short title for this note: {text}",
           "List two key points of: {text}"]
CODE = ["Write a Python function that {task}.", "Explain what this does: `{snippet}`",
        "Fix the bug: `{bug}`"]
MATHS = ["What is {a} + {b}?", "What is {a} times {c}?", "Solve for x: {c}x + {a} = {d}.",
         "Is {p} a prime number? Answer yes or no and why.", "What is {c} percent of {b}?"]
SYSTEM = "You are a concise assistant. Answer in at most two sentences."

WORDS = {
    "country": ["Portugal", "Kenya", "Canada", "Japan", "Chile", "Norway", "Egypt", "Vietnam"],
    "pet": ["cat", "parrot", "goldfish", "puppy", "rabbit"],
    "job": ["plumber", "data engineer", "nurse", "translator", "pilot"],
    "language": ["French", "Swahili", "Portuguese", "Korean", "German"],
    "topic": ["gardening", "astronomy", "habits", "the history of maps", "chess"],
    "text": ["The team shipped the new billing page on Friday; two bugs were found and fixed over the weekend.",
             "Rain is expected all week, so the outdoor concert moves to the town hall on Saturday.",
             "Sales grew 12% this quarter, mostly from the new subscription plan in Europe.",
             "The library will close early on Monday for staff training and reopen on Tuesday at nine.",
             "Our servers ran at 90% CPU during the launch; we added two nodes and latency dropped."],
    "task": ["reverses a string", "checks if a number is even", "returns the largest item of a list",
             "counts the vowels in a word", "merges two dictionaries"],
    "snippet": ["[x * 2 for x in range(5)]", "sorted(words, key=len)", "sum(n for n in nums if n > 0)",
                "' '.join(reversed(s.split()))"],
    "bug": ["def add(a, b): return a - b", "for i in range(len(xs)): print(xs[i+1])",
            "if x = 3: print(x)", "total = '5' + 3"],
}
KINDS = [("chat", CHAT, 24), ("summary", SUMMARY, 40), ("code", CODE, 48), ("maths", MATHS, 32)]
MIX = [0.35, 0.2, 0.2, 0.25]


def make(seed: int = SEED, count: int = COUNT) -> dict:
    """The task file as a dict; the same seed gives the same tasks."""
    rng = random.Random(seed)
    tasks = []
    for i in range(count):
        kind, templates, max_tokens = rng.choices(KINDS, weights=MIX)[0]
        values = {key: rng.choice(options) for key, options in WORDS.items()}
        a, b, c = rng.randint(2, 99), rng.randint(10, 500), rng.randint(2, 12)
        values.update(a=a, b=b, c=c, d=a + c * rng.randint(1, 9), p=rng.choice([7, 9, 13, 21, 29, 51, 97]))
        prompt = rng.choice(templates).format(**values)
        task: dict = {"id": f"{kind}-{i:03d}", "max_tokens": max_tokens}
        if kind in ("chat", "maths") and rng.random() < 0.5:
            task["prompt"] = prompt
        else:
            task["messages"] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}]
        tasks.append(task)
    return {"tasks": tasks}


def text(seed: int = SEED, count: int = COUNT) -> str:
    """The file's exact content."""
    return json.dumps(make(seed, count), indent=1, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs from the generated one")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.check:
        return 0 if out.exists() and out.read_text(encoding="utf-8") == text() else 1
    out.write_text(text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
