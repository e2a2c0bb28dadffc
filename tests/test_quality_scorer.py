"""The learned scorer: shipped artifact, reproducible training, bad data, the replay's blindness to labels."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wilton_plugin.core.scorer import make_scorer
from wilton_plugin.errors import ConfigError
from wilton_plugin.replay import phi_report, quality_report, replay_settings, route_prompts, window_shares
from wilton_plugin.scoring.data import DataError, read_rows
from wilton_plugin.scoring.features import DIM, features
from wilton_plugin.scoring.model import DEFAULT_ARTIFACT, LearnedScorer
from wilton_plugin.scoring.train import train
from wilton_plugin.settings import parse_settings

ROOT = Path(__file__).resolve().parent.parent
MMLU = ROOT / "data" / "routing-eval" / "mmlu_dev.csv"
GSM = ROOT / "data" / "routing-eval" / "gsm8k_dev.csv"


def _slice(path: Path, out: Path, every: int = 20, limit: int = 400) -> Path:
    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))[::every][:limit]
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out


def _wiltonctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


def test_the_shipped_artifact_loads_and_scores_in_unit_range():
    scorer = make_scorer("learned", None)
    assert isinstance(scorer, LearnedScorer) and Path(scorer.path) == DEFAULT_ARTIFACT
    assert scorer.load_seconds < 1.0 and DEFAULT_ARTIFACT.stat().st_size < 20 * 1024 * 1024
    prompts = [r.prompt for r in read_rows(GSM)[:50]] + ["", "hi", "x" * 10_000, "∑∫ 1/0 ???\n" * 300]
    for prompt in prompts:
        value = scorer.score([{"role": "user", "content": prompt}])
        assert 0.0 <= value <= 1.0
    assert scorer.score(None) == 0.0 and scorer.score([{"role": "user", "content": [{"type": "text", "text": "a"}]}]) >= 0


def test_settings_accept_the_learned_scorer_and_reject_a_bad_artifact(tmp_path):
    assert parse_settings({"scorer": {"name": "learned"}}).scorer.name == "learned"
    bad = tmp_path / "bad.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(ConfigError, match="scorer.artifact"):
        make_scorer("learned", str(bad))
    with pytest.raises(ConfigError, match="scorer.artifact"):
        make_scorer("learned", str(tmp_path / "missing.json"))


def test_features_have_a_fixed_length_on_odd_text():
    for text in ("", "A.\nB.", "1,000.5 % $ \\frac", "é" * 5000, "\x00\n\n"):
        assert len(features(text)) == DIM


# Pieces that steer the text into every family and every branch of the option parser.
_PIECES = st.sampled_from([
    "\nA. ", "\nB) ", "\n(C) ", "\nD. ", "\nE. ", "\na) ", "I and II only", "All of the above", "not ", "NOT ",
    "3", "1,000.5", "$4.50", "12%", "x^2 = 4", "def f():", "```", "python", "probability", "twice", "half",
    "How many apples? ", "Write a poem. ", "é", "–", "\u2212", "\n", " ", "\t", ".", "?", "\x00", "(", ")", "\\",
    "Statement 1 | ", "True, False", "Answer:", "km", "hours", "Which of the following",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_PIECES, st.text(max_size=30)), max_size=80))
def test_the_shipped_scorer_rates_any_text_in_range(pieces: list[str]) -> None:
    from wilton_plugin.scoring.model import FAMILIES, family

    text = "".join(pieces)
    scorer = make_scorer("learned", None)
    score = scorer.score([{"role": "user", "content": text}])
    assert 0.0 <= score <= 1.0
    assert family(text) in FAMILIES
    values = features(text)
    assert len(values) == DIM and all(v == v and abs(v) < 1e9 for v in values)


def test_training_is_reproducible_to_the_byte(tmp_path):
    data = _slice(MMLU, tmp_path / "m.csv")
    outs = []
    for name in ("a.json", "b.json"):
        result = _wiltonctl("train-scorer", "--data", str(data), "--data", str(GSM), "--out", str(tmp_path / name), "--seed", "3")
        assert result.returncode == 0, result.stderr
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    assert json.loads(outs[0])["info"]["seed"] == 3
    assert 0.0 <= LearnedScorer.load(tmp_path / "a.json").score_text("What is 2 + 2?") <= 1.0


def test_training_in_process_matches_the_artifact():
    rows = read_rows(GSM)[:200]
    assert train(rows, seed=1).to_json() == train(list(rows), seed=1).to_json()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("prompt,local\nhello,1\n", "missing column 'frontier'"),
        ("prompt,local,frontier\nhello,1,yes\n", "line 2: column 'frontier' is not a number (text of 3 characters"),
        ("prompt,local,frontier\nhello,nan,1\n", "column 'local' is nan; expected a finite number"),
    ],
)
def test_bad_csv_is_one_line_and_exit_1(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    for args in (("train-scorer", "--data", str(path), "--out", str(tmp_path / "o.json")),
                 ("bench", "quality", "--data", str(path), "--json"),
                 ("bench", "phi", "--data", str(path), "--json")):
        result = _wiltonctl(*args)
        assert result.returncode == 1
        assert message in result.stderr and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    with pytest.raises(DataError):
        read_rows(path)


def test_the_replay_never_reads_the_labels(tmp_path):
    data = _slice(MMLU, tmp_path / "m.csv", every=25)
    with open(data, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(5)
    local, frontier = [r["local"] for r in rows], [r["frontier"] for r in rows]
    rng.shuffle(local)
    rng.shuffle(frontier)
    for row, lo, fr in zip(rows, local, frontier):
        row["local"], row["frontier"] = lo, fr
    shuffled = tmp_path / "shuffled.csv"
    with open(shuffled, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = replay_settings(0.75, "learned")
    first = route_prompts([r.prompt for r in read_rows(data)], settings, seed=1)
    second = route_prompts([r.prompt for r in read_rows(shuffled)], settings, seed=1)
    assert first == second and any(first) and not all(first)


def test_bench_quality_json_keys_and_values(tmp_path):
    data = _slice(MMLU, tmp_path / "m.csv", every=25)
    result = _wiltonctl("bench", "quality", "--data", str(data), "--target", "0.75", "--seed", "2", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("n", "frontier_share", "quality", "local_quality", "frontier_quality", "pgr", "random_pgr", "oracle_pgr"):
        assert key in report
    assert report["n"] == len(read_rows(data))
    assert abs(report["frontier_share"] - 0.25) <= 2 / report["n"]
    assert 0.0 <= report["quality"] <= 1.0 and report["oracle_quality"] >= report["quality"]
    table = _wiltonctl("bench", "quality", "--data", str(data), "--target", "0.75")
    assert table.returncode == 0 and "random" in table.stdout and "oracle" in table.stdout


def test_bench_phi_json_with_an_outage(tmp_path):
    data = _slice(MMLU, tmp_path / "m.csv", every=10, limit=900)
    result = _wiltonctl("bench", "phi", "--data", str(data), "--window", "100", "--outage", "300:50", "--max-debt", "100", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    for key in ("n", "overall_local_share", "max_window_dev_pp", "windows_outside_1pp", "recovery_requests", "repaid_requests"):
        assert key in report
    assert report["n"] == 900 and report["windows_outside_1pp"] > 0
    assert abs(report["overall_local_share"] - 0.75) < 0.02
    bad = _wiltonctl("bench", "phi", "--data", str(data), "--outage", "x", "--json")
    assert bad.returncode == 1 and "--outage" in bad.stderr
    longer = _wiltonctl("bench", "phi", "--data", str(data), "--window", "100", "--requests", "1000", "--json")
    assert longer.returncode == 0, longer.stderr
    report = json.loads(longer.stdout)
    assert report["n"] == 1000 and report["windows"] == 901 and report["max_window_dev_pp"] <= 4.0  # 2 * slack in 100
    bad = _wiltonctl("bench", "phi", "--data", str(data), "--requests", "0")
    assert bad.returncode == 1 and "--requests" in bad.stderr


def test_window_metrics_by_hand():
    sent = [False, False, False, True] * 50  # exactly 75 % local
    report = phi_report(sent, 0.75, 100)
    assert report.max_window_dev_pp == 0.0 and report.windows_outside_1pp == 0 and report.overall_local_share == 0.75
    assert window_shares([True, False, True], 2) == [0.5, 0.5]


def test_quality_report_baselines():
    from wilton_plugin.scoring.data import Row

    rows = [Row("p", 0.0, 1.0), Row("q", 1.0, 1.0), Row("r", 1.0, 0.0), Row("s", 0.0, 1.0)]
    report = quality_report(rows, [True, False, False, False])
    assert report["quality"] == 0.75 and report["oracle_quality"] == 0.75 and report["pgr"] == pytest.approx(1.0)


def test_prompts_fall_into_families_and_the_shipped_model_covers_each():
    from wilton_plugin.scoring import tasks, wordproblem
    from wilton_plugin.scoring.model import Linear, Prior, family

    assert {family(r.prompt) for r in read_rows(MMLU)[::50]} == {"choice"}
    assert sum(family(r.prompt) == "quant" for r in read_rows(GSM)) == 654  # the 6 others use formal maths words
    assert family("Write a short poem about the sea.") == "open"
    # numbers in code or symbolic maths do not make a word problem: the word-problem model never saw those
    assert family("Write a Python function that returns the 10 largest of 1000 numbers.") == "open"
    assert family("Solve x^2 - 5x + 6 = 0 and check both roots.") == "open"
    assert family("What is the probability of rolling a total of at least 3 with two dice?") == "open"
    assert family("Tom has 3 apples and buys 5 more. How many apples does he have?") == "quant"
    assert family("A shop sells 3 pens for $2. Calculate the cost of 12 pens.") == "quant"
    # prose that quotes numbers without asking for a quantity is not a word problem
    assert family("Write a 300-word persuasive essay arguing that cities should plant 10,000 trees a year.") == "open"
    assert family("Write a 200-word story about 3 friends lost at sea. Can you make it funny?") == "open"
    assert family("List each region with its revenue. North: $4.2 million, up 12%. South: $3.1 million, down 4%.") == "open"
    assert family("Pretend you are a captain with 40 years at sea and a crew of 12. Give a rousing speech.") == "open"
    assert family("You are a sommelier. A guest orders 2 bottles for 6 people. How many glasses do you pour?") == "open"
    assert family("You have 5 apples and eat 2. How many apples are left?") == "quant"  # told in the second person
    for cue in ("Let's think step by step.", "Answer:", "\nA:", "(Round to the nearest cent.)"):  # notes after the ask
        assert family(f"Tom has 3 apples and buys 5 more. How many apples does he have? {cue}") == "quant", cue
    long_options = "Passage. " * 300 + "\nWhich is right?\n" + "".join(f"{c}. {'option text ' * 40}\n" for c in "ABCD")
    assert family(long_options) == "choice"  # options longer than the features' tail scan still count
    model = make_scorer("learned", None).model
    assert isinstance(model.families["choice"], Linear) and isinstance(model.families["quant"], Linear)
    assert model.families["choice"].feature_set == "structural-3"
    assert model.families["quant"].feature_set == "wordproblem-1"
    assert model.families["open"] == Prior("tasks")  # 6 open training rows: too few for a model
    poem = "Write a short poem about the sea."
    expected = model.calibrate(tasks.expected_gain(poem, wordproblem.tokens(poem)[0]))
    assert make_scorer("learned", None).score([{"role": "user", "content": poem}]) == expected


@pytest.mark.parametrize(
    ("prompt", "task"),
    [
        ("Implement a thread-safe LRU cache in Java.", "code"),
        ("My component loops forever:\n```js\nuseEffect(() => setCount(count + 1))\n```", "code"),
        ("Prove that the square root of 2 is irrational.", "maths"),
        ("Find all x with x^3 - 6x^2 + 11x - 6 = 0.", "maths"),
        ("Alice is taller than Bob and Bob is taller than Carol. Who is the shortest?", "reasoning"),
        ("Extract every person's name from this text and list them: ...", "extraction"),
        ("Pretend you are a pirate captain greeting a new crew.", "roleplay"),
        ("Write a haiku about the sea.", "writing"),
        ("Explain why the sky is blue.", "knowledge"),
        ("hi!", "chat"),
        ("Hello! Could you write a Python function that parses dates from log lines?", "code"),
    ],
)
def test_task_prior_reads_the_task(prompt: str, task: str) -> None:
    from wilton_plugin.scoring import tasks, wordproblem

    assert tasks.task(wordproblem.tokens(prompt)[0], prompt) == task


def test_task_prior_ranks_code_maths_and_reasoning_above_writing_and_chat() -> None:
    scorer = make_scorer("learned", None)

    def score(prompt: str) -> float:
        return scorer.score([{"role": "user", "content": prompt}])

    hard = ["Implement a thread-safe LRU cache in Java with O(1) get and put.",
            "Prove that there are infinitely many primes.",
            "Alice is older than Bob, Bob is older than Carol. Who is the youngest?"]
    easy = ["Write a haiku about the sea.", "Pretend you are a pirate and greet me.", "thanks!",
            "Draft a short email telling my team the office is closed on Friday."]
    assert min(map(score, hard)) > max(map(score, easy))
    assert all(0.0 <= score(p) <= 1.0 for p in hard + easy)


def test_a_family_with_enough_rows_is_learned_and_the_others_fall_back():
    from wilton_plugin.scoring.data import Row
    from wilton_plugin.scoring.model import Linear, Prior

    rng = random.Random(0)
    chat_rows = [Row(f"Please explain topic {i} " + "in detail, " * rng.randint(0, 30), rng.random(), rng.random())
                 for i in range(80)]
    model = train(chat_rows, seed=0)
    assert model.info["rows_by_family"] == {"choice": 0, "quant": 0, "open": 80}
    assert isinstance(model.families["open"], Linear)
    # choice and quant have no rows: both use the structural model trained on all rows
    assert model.families["choice"] == model.families["quant"] == model.families["open"]
    model = train(read_rows(GSM)[:120], seed=0)
    assert isinstance(model.families["quant"], Linear) and model.families["quant"].feature_set == "wordproblem-1"
    assert model.families["open"] == Prior("tasks")
    assert model.families["choice"].feature_set == "structural-3"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b.update(format="wilton-scorer/1"), "retrain with `wiltonctl train-scorer`"),
        (lambda b: b["families"].pop("quant"), "family 'quant' is missing"),
        (lambda b: b["families"].update(open={"prior": "oracle"}), "names prior 'oracle'"),
        (lambda b: b["families"]["choice"].update(features="structural-0"), "trained on features 'structural-0'"),
        (lambda b: b["families"]["quant"]["weights"].pop(), "family 'quant' has malformed weights"),
        (lambda b: b.update(quantiles=[3, 2, 1]), "quantiles are malformed"),
    ],
)
def test_a_damaged_artifact_is_refused_with_one_line(tmp_path, edit, message):
    body = json.loads(DEFAULT_ARTIFACT.read_text(encoding="utf-8"))
    edit(body)
    path = tmp_path / "damaged.json"
    path.write_text(json.dumps(body), encoding="utf-8")
    with pytest.raises(ConfigError, match="scorer.artifact") as info:
        make_scorer("learned", str(path))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_open_traffic_and_follow_ups_are_ranked_like_the_published_category_gaps():
    """Hand-written chat prompts in 8 categories (data/chat-prompts/open_prompts*.csv; no outcomes), through
    bench/open_prompts.py: requests that quote numbers (an essay's word count, figures to extract, a
    persona's age) are not word problems, and the categories where frontier models lead most (code,
    maths, reasoning) score above writing, role-play, humanities and extraction. At the start of
    session 5 the AUCs of the first three sets were 0.585, 0.476, 0.517; with session 5's marker
    words 0.928, 0.832, 0.856 (and 0.867 on the fourth). The task classifier of session 6 is trained
    on the first three, so only the fourth, never trained on, measures it (0.988 when first run)."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "open_prompts.py"), "--json"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    tuned, held_out, held_out2, held_out3 = json.loads(result.stdout)["files"]
    assert (tuned["n"], held_out["n"], held_out2["n"], held_out3["n"]) == (96, 80, 80, 80)
    # (set, AUC floor, word problems allowed per category among writing, role-play, extraction, code)
    for report, floor, slips in ((tuned, 0.85, 0), (held_out, 0.85, 1), (held_out2, 0.85, 1), (held_out3, 0.85, 1)):
        categories = report["categories"]
        assert report["auc_high_vs_low"] >= floor, report
        assert all(categories[c]["quant"] <= slips for c in ("writing", "roleplay", "extraction", "coding")), categories
        assert categories["coding"]["task_read"] >= 0.8 * categories["coding"]["n"], categories
    # Two-turn conversations (data/chat-prompts/followups*.csv): a follow-up scored alone ranks like a coin
    # (0.508 / 0.490 when written); read with its conversation it ranks like the first messages.
    followups, followups_held_out = json.loads(result.stdout)["followups"]
    assert (followups["n"], followups_held_out["n"]) == (96, 80)
    for report in (followups, followups_held_out):
        assert report["auc_followup_in_conversation"] >= 0.80, report
        assert report["auc_followup_in_conversation"] >= report["auc_followup_alone"] + 0.25, report
        assert report["auc_first"] >= 0.80, report
    # App requests (data/chat-prompts/system_prompts_heldout.csv, scored once when written): the
    # system prompt sets the task when the user's message sets none (0.887 alone, 0.915 with it).
    # Since session 7 the system prompt's reading is averaged with the user's message: on long agent
    # prompts (agent_prompts*.csv) taking the system prompt's alone ranked below the user's message
    # (0.782 / 0.863 vs 0.811 / 0.896); the mean gives 0.829 / 0.896 (0.916 on the first set).
    apps, agents, agents_held_out = json.loads(result.stdout)["system_prompts"]
    assert (apps["n"], agents["n"], agents_held_out["n"]) == (80, 80, 48)
    assert apps["system_prompt_taken"] >= 10, apps
    assert apps["auc_with_system"] >= 0.85 and apps["auc_with_system"] >= apps["auc_user_alone"], apps
    for report in (agents, agents_held_out):
        assert report["auc_with_system"] >= report["auc_user_alone"] - 0.01, report
    # Follow-ups that continue or start a new request (followups_switch*.csv): the linked rule ranks the
    # follow-ups' work above scoring them alone (0.911 / 0.881 vs 0.781 / 0.797; session 6: 0.722 / 0.760).
    switches, switches_held_out = json.loads(result.stdout)["switches"]
    assert (switches["n"], switches_held_out["n"]) == (96, 80)
    for report in (switches, switches_held_out):
        assert report["auc_followup_in_conversation"] >= report["auc_followup_alone"] + 0.05, report
        assert report["switches_read"][0] >= 0.6 * report["switches_read"][1], report
        assert report["continues_read"][0] >= 0.8 * report["continues_read"][1], report


@settings(max_examples=300, deadline=None, database=None)
@given(text=st.text(max_size=200))
def test_word_problem_tokens_map_every_script_like_str_translate(text: str) -> None:
    """``tokens`` maps characters by regex outside ASCII (3x faster there) and by str.translate on ASCII."""
    from wilton_plugin.scoring import wordproblem

    assert wordproblem._NOT_KEPT.sub(" ", text) == text.translate(wordproblem._TRANSLATE)
