"""Microbenchmark of the learned scorer and of a full routing decision with it (p50/p99, µs).

Cases: ``learned-F-N`` (``LearnedScorer.score`` on a prompt of family F cut/repeated to N
characters, N in 100, 1000, 4000: ``choice`` = the longest MMLU passage with its options at the
end, ``quant`` = GSM8K problems run together and cut to at most ``WORD_PROBLEM_MAX_CHARS``, ending
in a question, ``open`` = an essay request, ``open-numbers`` = the same problems as a 4,000-character
document, which the open family's prior scores, ``open-lines`` = a 4,000-character pasted table of
short lines, ``open-cjk`` = a 4,000-character Chinese request), ``learned-data`` (every prompt of the shipped MMLU/GSM8K files, as they are),
``conv-F-N`` (a follow-up that sets no task of its own, "why?", after a 4,000-character request
of family F: the scorer reads both messages), ``conv-chain`` (four such follow-ups after it: the
most it reads), ``conv-switch`` (a new request after four 4,000-character turns, each answered
by a 4,000-character reply: it is compared with all four and the last reply before it is scored
alone), ``sys-app-4000`` (a 4,000-character system prompt that sets the task, read because
the user's "why?" sets none), ``sys-generic-open-1000`` (a generic system prompt before a
1,000-character request), ``route-learned`` (``WiltonService.route`` + ``served`` with ``scorer.name: learned``, short
prompts), ``load`` (reading the shipped artifact). Target: scorer p99 < 200 µs up to 4,000 chars.

Run: ``.venv/bin/python bench/bench_scorer.py [--iterations 20000] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_decision import stats, time_calls  # noqa: E402

from wilton_plugin.devstack import demo_config  # noqa: E402
from wilton_plugin.metrics import Outcome  # noqa: E402
from wilton_plugin.scoring.data import read_rows  # noqa: E402
from wilton_plugin.scoring.model import WORD_PROBLEM_MAX_CHARS, LearnedScorer, family  # noqa: E402
from wilton_plugin.service import WiltonService  # noqa: E402
from wilton_plugin.settings import check_groups, parse_settings  # noqa: E402

TARGET_P99_US = 200.0
QUESTION = " How many coins does she have left?"
TABLE = "id,qty,price\n1,4,2.50\n2,10,0.99\n3,7,13.00\n"
CJK = "请解释一下光合作用的过程，以及它为什么对地球上的生命如此重要。"
ESSAY = ("Write a thoughtful essay about the history of the printing press and its effect on society, "
         "culture and politics, with examples from several countries. ")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=1_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows = read_rows(ROOT / "data" / "routing-eval" / "mmlu_dev.csv") + read_rows(ROOT / "data" / "routing-eval" / "gsm8k_dev.csv")
    prompts = [r.prompt for r in rows]
    longest = max(prompts, key=len)
    scorer = LearnedScorer.load()
    results = {}
    loads = []
    for _ in range(20):
        start = time.perf_counter_ns()
        LearnedScorer.load()
        loads.append(time.perf_counter_ns() - start)
    results["load"] = stats(loads)
    gsm_prompts = [r.prompt for r in read_rows(ROOT / "data" / "routing-eval" / "gsm8k_dev.csv")]
    stem, _, options = longest.partition("\nA.")
    options = "\nA." + options
    word_problems = " ".join(gsm_prompts)
    # (family, name, prompt of n chars): quant stops at WORD_PROBLEM_MAX_CHARS; a longer text with
    # numbers and a question is a document, scored by the open family's prior (its slowest path)
    cases = {
        "choice": ("choice", lambda n: (stem * (n // len(stem) + 1))[: max(0, n - len(options))] + options),
        "quant": ("quant", lambda n: word_problems[: min(n, WORD_PROBLEM_MAX_CHARS) - len(QUESTION)] + QUESTION),
        "open": ("open", lambda n: (ESSAY * (n // len(ESSAY) + 1))[:n]),
        "open-numbers": ("open", lambda n: word_problems[: n - len(QUESTION)] + QUESTION),
        "open-lines": ("open", lambda n: (TABLE * (n // len(TABLE) + 1))[:n]),  # a pasted table: many short lines
        "open-cjk": ("open", lambda n: (CJK * (n // len(CJK) + 1))[:n]),  # another script: no ASCII fast paths
    }
    sizes = (100, 1000, 4000)
    for kind, (expected, make) in cases.items():
        for chars in sizes:
            if kind in ("open-numbers", "open-lines", "open-cjk") and chars <= WORD_PROBLEM_MAX_CHARS:
                continue
            text = make(chars)
            if family(text) != expected:  # the case must time the family it is named after
                raise SystemExit(f"bench_scorer: the {kind}-{chars} prompt is scored as {family(text)}")
            messages = [{"role": "user", "content": text}]
            results[f"learned-{kind}-{len(text)}"] = stats(
                time_calls(lambda i: scorer.score(messages), args.iterations, args.warmup))
    for kind in ("choice", "quant", "open"):  # a follow-up reads back to the request it continues
        opener = cases[kind][1](4000)
        messages = [{"role": "user", "content": opener}, {"role": "assistant", "content": "(answer)"},
                    {"role": "user", "content": "why?"}]
        results[f"conv-{kind}-{len(opener)}"] = stats(time_calls(lambda i: scorer.score(messages), args.iterations, args.warmup))
    chain = [{"role": "user", "content": cases["choice"][1](4000)}]
    for followup in ("why?", "and the second one?", "in plain words please", "ok go on"):
        chain += [{"role": "assistant", "content": "(answer)"}, {"role": "user", "content": followup}]
    results["conv-chain"] = stats(time_calls(lambda i: scorer.score(chain), args.iterations, args.warmup))
    # a new request after four long turns and a long reply: to be sure it shares no word with them, all are read
    switch: list[dict[str, str]] = []
    for kind in ("open", "choice", "open", "choice"):
        switch += [{"role": "user", "content": cases[kind][1](4000)}, {"role": "assistant", "content": cases["open"][1](4000)}]
    switch.append({"role": "user", "content": "How long should I boil an egg for a runny yolk?"})
    results["conv-switch"] = stats(time_calls(lambda i: scorer.score(switch), args.iterations, args.warmup))
    # an app's system prompt: read when the user's message sets no task (4,000 chars of code instructions),
    # and the common case, a generic one before a request that sets its own (the check it costs)
    rules = "You are the code assistant of our Python repository: write functions with type hints and tests. "
    app = [{"role": "system", "content": (rules * (4000 // len(rules) + 1))[:4000]}, {"role": "user", "content": "why?"}]
    results["sys-app-4000"] = stats(time_calls(lambda i: scorer.score(app), args.iterations, args.warmup))
    generic = [{"role": "system", "content": "You are a helpful assistant."},
               {"role": "user", "content": cases["open"][1](1000)}]
    results["sys-generic-open-1000"] = stats(time_calls(lambda i: scorer.score(generic), args.iterations, args.warmup))
    shuffled = list(prompts)
    random.Random(0).shuffle(shuffled)
    data_messages = [[{"role": "user", "content": p}] for p in shuffled]
    results["learned-data"] = stats(time_calls(lambda i: scorer.score(data_messages[i % len(data_messages)]),
                                               args.iterations, args.warmup))
    results["route-learned"] = stats(asyncio.run(_route(args.iterations, args.warmup, data_messages)))
    worst = max(v["p99_us"] for k, v in results.items() if k.startswith("learned-") and k != "learned-data")
    report = {"cases": results, "target": {"scorer_p99_us_max": TARGET_P99_US, "ok": worst < TARGET_P99_US}}
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{'case':<22} {'p50 µs':>8} {'p99 µs':>8} {'mean µs':>8}")
    for name, s in results.items():
        print(f"{name:<22} {s['p50_us']:>8.2f} {s['p99_us']:>8.2f} {s['mean_us']:>8.2f}")
    print(f"target: learned scorer p99 < {TARGET_P99_US:.0f} µs up to 4000 chars -> {'OK' if report['target']['ok'] else 'MISSED'}")
    return 0


async def _route(iterations: int, warmup: int, inputs: list) -> list[int]:
    settings = parse_settings({"scorer": {"name": "learned"}})
    model_list = demo_config("http://127.0.0.1:1", "http://127.0.0.1:2")["model_list"]
    service = WiltonService(settings, check_groups(model_list, settings), rng=random.Random(7))
    service.bind(model_list, None)
    samples = []
    clock = time.perf_counter_ns
    for i in range(warmup + iterations):
        call_id = f"c{i}"
        start = clock()
        chosen = await service.route("chat", model_list, inputs[i % len(inputs)], {"litellm_call_id": call_id, "metadata": {}})
        elapsed = clock() - start
        await service.served(Outcome(call_id, chosen["model_info"]["id"], True, 40, 40, 0.02))
        if i >= warmup:
            samples.append(elapsed)
    return samples


if __name__ == "__main__":
    sys.exit(main())
