"""Audit fixes: `wiltonctl score` shows what the proxy computes, `bench phi` counts recovery one way and
refuses what it cannot measure, `--l2` is checked, malformed artifacts and CSVs are one line (without
prompt text), and the numeric-option pattern cannot backtrack."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wilton_plugin.cli.main import main
from wilton_plugin.errors import ConfigError
from wilton_plugin.replay import phi_report
from wilton_plugin.scoring import features
from wilton_plugin.scoring.data import DataError, read_rows
from wilton_plugin.scoring.model import CONTEXT_TURNS, DEFAULT_ARTIFACT, LearnedScorer, ScorerModel, family
from wilton_plugin.scoring.train import train

ROOT = Path(__file__).resolve().parent.parent
MMLU = ROOT / "data" / "routing-eval" / "mmlu_dev.csv"
SCORER = LearnedScorer.load()


def _run(capsys, *args: str, stdin: str | None = None, monkeypatch=None) -> tuple[int, str, str]:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def _slice(out: Path, rows: int) -> Path:
    with open(MMLU, encoding="utf-8", newline="") as handle:
        kept = list(csv.DictReader(handle))[:rows]
    with open(out, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(kept[0]))
        writer.writeheader()
        writer.writerows(kept)
    return out


# --- wiltonctl score: the proxy's own reading ------------------------------------------------------

# Seven user messages: the proxy reads the last CONTEXT_TURNS + 2, where message 3 is the request the
# follow-ups continue; with all seven in view message 3 would be linked to message 1 instead.
LONG = [
    "Tell me about the volcanoes of Iceland and their eruptions",
    "Recommend good restaurants downtown Chicago",
    "Eruption frequency Iceland volcanoes historically documented",
    "make it shorter", "make it shorter", "make it shorter", "make it shorter",
]


@pytest.mark.parametrize("system", ["", "You turn the analyst's question into one PostgreSQL query."])
def test_score_messages_is_the_proxys_score_on_a_long_conversation(capsys, tmp_path, system):
    messages = ([{"role": "system", "content": system}] if system else []) + [
        m for text in LONG for m in ({"role": "user", "content": text}, {"role": "assistant", "content": "Sure."})][:-1]
    assert len(LONG) > CONTEXT_TURNS + 2
    path = tmp_path / "conversation.json"
    path.write_text(json.dumps({"messages": messages}), encoding="utf-8")
    code, out, _ = _run(capsys, "score", "--messages", str(path), "--json")
    report = json.loads(out)
    assert code == 0 and report["score"] == SCORER.score(messages)
    assert (report["message"], report["user_messages"]) == (3, 7)  # numbered in the user's conversation
    assert "continues message 3" in report["conversation"]
    code, out, _ = _run(capsys, "score", "--messages", str(path))
    assert code == 0 and "user message 3 of 7" in out and f"score      {SCORER.score(messages):.3f}" in out


@pytest.mark.parametrize("args", [("score", ""), ("score",), ("score", "--messages", "-")])
def test_an_empty_prompt_scores_zero_as_in_the_proxy(capsys, monkeypatch, args):
    stdin = json.dumps([{"role": "user", "content": ""}]) if "--messages" in args else ""
    code, out, _ = _run(capsys, *args, "--json", stdin=stdin, monkeypatch=monkeypatch)
    report = json.loads(out)
    assert code == 0 and report["score"] == 0.0 == SCORER.score([{"role": "user", "content": ""}])
    assert report["predicted_gain"] is None


# --- bench phi: recovery and repayment counted the same way ----------------------------------------

# Window 4, target 0.75, outage (2, 2): checkpoint k (k requests after the outage's last one, request 3)
# is the window ending at request 3 + k and the debt after request 3 + k. Each case fails (a window
# outside 1 pp, a debt outside ±1) at the same checkpoints for both, so both counts must agree.
@pytest.mark.parametrize(
    ("local", "failing", "expected"),
    [
        ("LLLFLLLFLLLF", (), 0),  # holds from the outage's end
        ("FLLFLLLFLLLF", (0,), 1),  # fails only as the outage ends
        ("LFFLLLFLLLFL", (0, 1), 2),  # and after the first request past it
        ("LLLFLLLFLLLFLF", (10,), None),  # fails at the replay's last request: never
    ],
)
def test_recovery_and_repaid_count_from_the_outages_last_request(local, failing, expected):
    sent = [c == "F" for c in local]
    debts = [5.0 if i - 3 in failing else 0.0 for i in range(len(local))]
    report = phi_report(sent, 0.75, 4, outage=(2, 2), debts=debts, slack=1.0)
    windows = [abs(sum(c == "L" for c in local[i:i + 4]) / 4 - 0.75) > 0.01 for i in range(len(local) - 3)]
    assert tuple(k for k, bad in enumerate(windows) if bad) == failing  # the case is what it says
    assert (report.recovery_requests, report.repaid_requests) == (expected, expected)
    assert report.as_dict()["recovery_requests"] == expected  # None is reported (as null), not dropped


def test_recovery_before_the_first_complete_window_counts_from_the_outage():
    # outage (0, 1) ends before a window of 4 is complete: the first window is checkpoint 3
    report = phi_report([c == "F" for c in "FLLFLLLFLLLF"], 0.75, 4, outage=(0, 1), debts=[0.0] * 12, slack=1.0)
    assert (report.recovery_requests, report.repaid_requests) == (4, 0)


def test_phi_report_refuses_what_it_cannot_measure():
    with pytest.raises(ValueError, match="window"):
        phi_report([False] * 10, 0.75, 11)
    for outage in ((5, 5), (10, 1), (2, 0)):
        with pytest.raises(ValueError, match="outage"):
            phi_report([False] * 10, 0.75, 5, outage=outage, debts=[0.0] * 10)


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--window", "1000"), "--window"),
        (("--window", "50", "--outage", "10:1000"), "--outage"),
        (("--window", "50", "--outage", "500:10"), "--outage"),
        (("--window", "50", "--outage", "150:50"), "--outage"),  # ends with the replay: nothing after it
        (("--window", "50", "--requests", "120", "--outage", "100:20"), "--outage"),
    ],
)
def test_bench_phi_refuses_a_window_or_outage_outside_the_replay(capsys, tmp_path, args, flag):
    data = _slice(tmp_path / "m.csv", 200)
    code, out, err = _run(capsys, "bench", "phi", "--data", str(data), *args, "--json")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert f"'{flag}' has value" in err and "Expected" in err


def test_bench_phi_reports_never_when_the_share_does_not_recover(capsys, tmp_path):
    data = _slice(tmp_path / "m.csv", 200)
    code, out, _ = _run(capsys, "bench", "phi", "--data", str(data), "--window", "100", "--outage", "150:49", "--json")
    report = json.loads(out)
    assert code == 0 and report["recovery_requests"] is None and report["repaid_requests"] is None
    code, out, _ = _run(capsys, "bench", "phi", "--data", str(data), "--window", "100", "--outage", "150:49")
    assert code == 0 and "recovery_requests      never" in out


# --- --l2 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf", "-inf"])
@pytest.mark.parametrize("command", ["train-scorer", "cv"])
def test_l2_must_be_a_finite_positive_number(capsys, tmp_path, value, command):
    data = _slice(tmp_path / "m.csv", 60)
    out_path = tmp_path / "artifact.json"
    args = (["train-scorer", "--out", str(out_path)] if command == "train-scorer" else ["bench", "cv"])
    code, _, err = _run(capsys, *args, "--data", str(data), f"--l2={value}")
    assert code == 1 and err.count("\n") == 1 and "'--l2' has value" in err and "> 0" in err
    assert not out_path.exists()
    with pytest.raises(ValueError, match="l2"):
        train(read_rows(data), l2=float(value))


# --- malformed artifacts ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda b: b["families"]["choice"].update(features=["structural-2"]), "trained on features ['structural-2']"),
        (lambda b: b["families"].update(open={"prior": []}), "names prior []"),
        (lambda b: b.update(info="abc"), "info is a str"),
        (lambda b: b.update(info=[1, 2]), "info is a list"),
        (lambda b: b["families"]["choice"].update(weights="1" * len(b["families"]["choice"]["weights"])),
         "family 'choice' has malformed weights"),
        (lambda b: b["families"]["quant"].update(bias=True), "family 'quant' has malformed weights"),
        (lambda b: b["families"]["quant"].update(means={"a": 1}), "family 'quant' has malformed weights"),
        (lambda b: b.update(quantiles=["nan"] * 101), "quantiles are malformed"),
        (lambda b: b.update(quantiles="0123456789"), "quantiles are malformed"),
        (lambda b: b.update(quantiles=[10 ** 400] * 2), "quantiles are malformed"),
    ],
)
def test_a_malformed_artifact_is_one_config_error(tmp_path, edit, message):
    body = json.loads(DEFAULT_ARTIFACT.read_text(encoding="utf-8"))
    edit(body)
    with pytest.raises(ConfigError, match="scorer.artifact") as info:
        ScorerModel.from_json(json.dumps(body), "damaged.json")
    assert message in str(info.value) and "\n" not in str(info.value)


# --- the numeric-option pattern --------------------------------------------------------------------

# The pattern before the fix: same language, but the run after the first digit could give characters
# back to the trailing ``\s*$``, one split at a time (quadratic in a run of spaces).
BACKTRACKING = re.compile(r"[\s$\-\u2212+~\u2248(]*\d[\d.,/\s]*(?:[%\u00b0]|\w{0,6}\.?)?\s*$")


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet="0123456789 .,/\t\n$-+~(%°abkgX_!é\u2212\u2248\u00a0\u2028\u0661", max_size=16))
def test_the_numeric_option_pattern_matches_what_it_did(text: str) -> None:
    for option in (text, text.strip()):
        assert (features._NUMERIC_OPTION.match(option) is None) == (BACKTRACKING.match(option) is None)


def test_the_run_after_the_first_digit_cannot_backtrack():
    """The crafted prompt (an option of a digit, 1,900 spaces and "!") cost a quadratic search in the old
    pattern; the run after the first digit is possessive now, so each option is one linear pass."""
    parsed = re._parser.parse(features._NUMERIC_OPTION.pattern)
    kinds = [str(op) for op, _ in parsed]
    digit = next(i for i, (op, av) in enumerate(parsed) if str(op) == "IN" and "CATEGORY_DIGIT" in str(av))
    assert kinds[digit + 1] == "POSSESSIVE_REPEAT"
    crafted = "Q?\nA. 1" + " " * 1900 + "!\nB. 2\nC. 3\nD. 4"
    assert features.features(crafted) == _features_with(BACKTRACKING, crafted)  # same values as before


def _features_with(pattern: re.Pattern[str], text: str) -> list[float]:
    saved = features._NUMERIC_OPTION
    features._NUMERIC_OPTION = pattern
    try:
        return features.features(text)
    finally:
        features._NUMERIC_OPTION = saved


def test_numeric_option_features_of_the_shipped_options_are_unchanged():
    with open(MMLU, encoding="utf-8", newline="") as handle:
        prompts = [row["prompt"] for row in csv.DictReader(handle)][::7]
    assert [features.features(p) for p in prompts] == [_features_with(BACKTRACKING, p) for p in prompts]


# --- CSV errors ------------------------------------------------------------------------------------

def test_a_bad_byte_at_the_start_of_a_csv_names_the_file(capsys, tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"prompt,local,frontier\n\xff\xfe,1,0\n")
    with pytest.raises(DataError, match=re.escape(f"{path}: not valid UTF-8")):
        read_rows(path)
    code, _, err = _run(capsys, "bench", "quality", "--data", str(path))
    assert code == 1 and err.count("\n") == 1 and str(path) in err and "Traceback" not in err


SECRET = "My SSN is 123-45-6789, please advise"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        # a stray comma shifts the prompt's text into the score columns
        (f'prompt,local,frontier\n"ok",1,0\n{SECRET},1,0\n',
         "line 3: column 'local' is not a number (text of 14 characters, not shown)"),
        (f"{SECRET},1,0\nhi,1,0\n", "4 columns that are not names: is the header row missing?"),
        ("prompt,local,frontier\nhi,1\n", "line 2: column 'frontier' is missing"),
        ("prompt,local,frontier,local\nhi,1,0,x\n", "column 'local' appears more than once"),
        ("prompt,local,frontier\nhi,1, \n", "line 2: column 'frontier' is empty"),
    ],
)
def test_csv_errors_never_show_a_cells_text(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_rows(path)
    text = str(info.value)
    assert message in text and "\n" not in text
    for word in ("SSN", "123-45-6789", "advise"):
        assert word not in text.replace(str(path), "")


def test_a_non_finite_score_is_named_not_quoted(tmp_path):
    path = tmp_path / "inf.csv"
    path.write_text("prompt,local,frontier\nhi,1,-Infinity\n", encoding="utf-8")
    with pytest.raises(DataError, match=re.escape("line 2: column 'frontier' is -inf; expected a finite number")):
        read_rows(path)


_SCORES_UNDER_SEED = """
import csv, sys
from wilton_plugin.scoring.model import LearnedScorer
model = LearnedScorer.load().model
with open(sys.argv[1], encoding="utf-8", newline="") as handle:
    rows = list(csv.DictReader(handle))[:400]
print([model.predict(row["prompt"])[0].hex() for row in rows])
"""


def test_a_prompts_score_does_not_depend_on_the_hash_seed():
    # The word weights come from a set: summed in its iteration order, the last bits of a score
    # changed with PYTHONHASHSEED, so two workers could rank the same prompt differently.
    def scores(seed: str) -> str:
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _SCORES_UNDER_SEED, str(MMLU)], env=env,
                              capture_output=True, text=True, check=True, timeout=120)
        return done.stdout

    first = scores("1")
    assert first.count("0x") == 400
    assert scores("2") == first
    assert scores("3") == first


def test_the_stem_ends_at_the_first_option_line_whatever_the_option_style():
    # The stem was cut at the first line opening with the first option's letter: "(A)" options were
    # never found (the whole prompt was read as the stem), and a stem line such as "An investor ..."
    # ended the stem early. Scores of "(A)"-style prompts drifted from the "A."-style ones they equal.
    bodies = ["a dozen for $3", "six for $2", "one for 30 cents", "they cost the same"]

    def prompt(stem: str, style: str) -> str:
        options = (style.format(letter, body) for letter, body in zip("ABCD", bodies))
        return stem + "\n" + "\n".join(options) + "\nAnswer:"

    names = features.DENSE_NAMES
    checked = [names.index(n) for n in ("log_stem_chars", "log_sentences", "words_per_sentence", "numbers_in_stem_share")]
    for stem in ("A farmer sells eggs.\nThe buyer wants 3 of them.\nWhich is cheaper per egg?",
                 "A farmer sells eggs.\nAn investor buys 3 hens.\nWhich is cheaper per egg?",
                 "A farmer sells eggs.\nEn investor buys 3 hens.\nWhich is cheaper per egg?"):
        dense = [features.parts(prompt(stem, style))[0] for style in ("{}. {}", "({}) {}", "{}) {}")]
        assert [[d[i] for i in checked] for d in dense[1:]] == [[dense[0][i] for i in checked]] * 2, stem
        scores = [SCORER.model.predict(prompt(stem, style))[0] for style in ("{}. {}", "({}) {}", "{}) {}")]
        assert max(scores) - min(scores) < 0.01, (stem, scores)
    # a stem line opening with "A" is part of the stem, as one of the same length opening with "E"
    an, en = (features.parts(prompt(stem, "{}. {}"))[0][names.index("log_stem_chars")]
              for stem in ("Q.\nAn investor buys 3 hens. Which is cheaper?", "Q.\nEn investor buys 3 hens. Which is cheaper?"))
    assert an == en


@pytest.mark.parametrize(("inline", "lines"), [
    ("Answer Choices: (A) 12 (B) 15 (C) 18 (D) 20", ["Answer Choices:", "(A) 12", "(B) 15", "(C) 18", "(D) 20"]),
    ("Options: A)12 B)15 C)18 D)20", ["Options:", "A)12", "B)15", "C)18", "D)20"]),
    ("(A) 12 (B) 15 (C) 18 (D) 20", ["(A) 12", "(B) 15", "(C) 18", "(D) 20"]),
])
def test_options_written_on_one_line_are_read_as_options(inline, lines):
    # AQuA- and CoT-style prompts run their options together on one line; they were read as an open
    # request (another family, another model), so their scores ranked nothing like the same question's.
    stem = "A train covers 60 km in 45 minutes. How many minutes does it need for 100 km at the same speed?"
    assert features.lined_options(f"{stem}\n{inline}").split("\n") == [stem, *lines]
    assert family(f"{stem}\n{inline}") == "choice"
    one_per_line = stem + "\n" + "\n".join(lines)
    assert abs(SCORER.model.predict(f"{stem}\n{inline}")[0] - SCORER.model.predict(one_per_line)[0]) < 1e-9


@pytest.mark.parametrize("prose", ["Compare plan (A) with plan (B) and then (C) it.",
                                   "Three steps: (A) wash, (B) dry, (C) fold.", "see (B) and (C)", "A) 1 B) 2"])
def test_letters_in_prose_are_not_options(prose):
    assert features.lined_options(prose) == prose
