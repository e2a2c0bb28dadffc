"""``wiltonctl score``: a prompt's score and the features behind it add up to what the proxy computes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wilton_plugin.errors import ConfigError
from wilton_plugin.scoring.data import read_rows
from wilton_plugin.scoring.explain import explain
from wilton_plugin.scoring.features import DIM
from wilton_plugin.scoring.model import DEFAULT_ARTIFACT, LearnedScorer, ScorerModel

ROOT = Path(__file__).resolve().parent.parent
MMLU = ROOT / "data" / "routing-eval" / "mmlu_dev.csv"
GSM = ROOT / "data" / "routing-eval" / "gsm8k_dev.csv"


def _wiltonctl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT, input=stdin)


def _without_means(text: str) -> str:
    body = json.loads(text)
    for family in body["families"].values():
        family.pop("means", None)
    return json.dumps(body)


@pytest.mark.parametrize("artifact_text", ["shipped", "no means"])
def test_effects_add_up_to_the_prediction(artifact_text):
    text = DEFAULT_ARTIFACT.read_text(encoding="utf-8")
    model = ScorerModel.from_json(text if artifact_text == "shipped" else _without_means(text))
    scorer = LearnedScorer(model)
    prompts = [r.prompt for r in read_rows(MMLU)[::900]] + [r.prompt for r in read_rows(GSM)[::150]]
    families = set()
    for prompt in prompts:
        report = explain(model, prompt, top=DIM)
        families.add(report["family"])
        assert report["reference"] == ("training means" if artifact_text == "shipped" else "zero")
        assert report["features_moved"] == len(report["effects"]) > 0
        total = report["baseline_gain"] + sum(e["effect"] for e in report["effects"])
        assert total == pytest.approx(report["predicted_gain"], abs=1e-9)
        assert report["score"] == pytest.approx(scorer.score_text(prompt))
        effects = [abs(e["effect"]) for e in report["effects"]]
        assert effects == sorted(effects, reverse=True)
    assert families == {"choice", "quant"}


def test_a_prior_family_names_its_task():
    model = LearnedScorer.load().model
    report = explain(model, "Write a Rust function that reverses a linked list in place.")
    assert report["family"] == "open" and report["model"] == "prior tasks"
    assert (report["task"], report["task_markers"]) == ("coding", "code")
    assert list(report["categories"])[0] == "coding" and 0.5 < report["categories"]["coding"] <= 1.0
    assert "effects" not in report and 0.0 <= report["score"] <= 1.0


@pytest.mark.parametrize(
    ("prompt", "family", "reason"),
    [
        ("Which is right?\nA. x\nB. y\nC. z\nD. w", "choice", "lists answer options"),
        ("Tom has 3 apples and buys 5 more. How many does he have?", "quant", "a word problem"),
        ("Write a 300-word essay on planting 10,000 trees.", "open", "opens by instructing"),
        ("The budget was $4.2 million in 2021 and $5.1 million in 2022.", "open", "does not end by asking"),
        ("Solve x^2 - 5x + 6 = 0 for both roots.", "open", "code or formal maths"),
        ("Tom has 3 apples. " * 80 + "How many?", "open", "longer than a word problem: over 1,200"),
        ("Tell me about the sea.", "open", "fewer than two quantities"),
    ],
)
def test_the_family_comes_with_its_reason(prompt, family, reason):
    report = explain(LearnedScorer.load().model, prompt)
    assert report["family"] == family and reason in report["family_reason"]


def test_means_of_the_wrong_length_are_refused():
    body = json.loads(DEFAULT_ARTIFACT.read_text(encoding="utf-8"))
    body["families"]["choice"]["means"] = body["families"]["choice"]["means"][:-1]
    with pytest.raises(ConfigError, match="family 'choice' has malformed weights"):
        ScorerModel.from_json(json.dumps(body))


def test_wiltonctl_score(tmp_path):
    prompt = read_rows(GSM)[0].prompt
    result = _wiltonctl("score", "--json", "--top", "3", stdin=prompt)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["family"] == "quant" and len(report["effects"]) == 3
    assert report["score"] == pytest.approx(LearnedScorer.load().score_text(prompt))
    path = tmp_path / "p.txt"
    path.write_text(prompt, encoding="utf-8")
    table = _wiltonctl("score", "--file", str(path))
    assert table.returncode == 0 and "wordproblem-1" in table.stdout and "training means" in table.stdout
    for args, message in ((("x", "--file", str(path)), "one way"), (("x", "--top", "-1"), "--top"),
                          (("x", "--artifact", str(tmp_path / "none.json")), "scorer.artifact")):
        bad = _wiltonctl("score", *args)
        assert bad.returncode == 1 and message in bad.stderr and bad.stderr.count("\n") == 1


def test_wiltonctl_score_explains_a_conversation_as_the_proxy_scores_it(tmp_path):
    """--messages: the message that set the score is explained, and the score is the proxy's own."""
    word_problem = read_rows(GSM)[0].prompt
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": word_problem},
                {"role": "assistant", "content": "18"}, {"role": "user", "content": "show me the steps"}]
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"model": "chat", "messages": messages}), encoding="utf-8")
    result = _wiltonctl("score", "--messages", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    scorer = LearnedScorer.load()
    assert report["score"] == pytest.approx(scorer.score(messages)) == pytest.approx(scorer.score_text(word_problem))
    assert (report["message"], report["user_messages"], report["family"]) == (1, 2, "quant")
    assert "continues message 1" in report["conversation"]
    # a follow-up that starts a new piece of work is explained itself; a bare list is read from stdin
    messages[-1]["content"] = "Now write a limerick about autumn."
    table = _wiltonctl("score", "--messages", "-", stdin=json.dumps(messages))
    assert table.returncode == 0 and "user message 2 of 2" in table.stdout and "task       writing" in table.stdout
    # a follow-up stating quantities is read as a detail, not as a word problem
    messages[-1]["content"] = "We have 3 regions and 40 tags per page. How many queries is that?"
    detail = json.loads(_wiltonctl("score", "--messages", "-", "--json", stdin=json.dumps(messages)).stdout)
    assert detail["score"] == pytest.approx(scorer.score(messages))
    assert (detail["message"], detail["family"]) == (1, "quant")  # it continues the word problem
    for stdin, message in (("not json", "Not JSON"), ('{"messages": [{"role": "assistant", "content": "x"}]}', "role")):
        bad = _wiltonctl("score", "--messages", "-", stdin=stdin)
        assert bad.returncode == 1 and message in bad.stderr and bad.stderr.count("\n") == 1
    bad = _wiltonctl("score", "--messages", str(tmp_path / "none.json"))
    assert bad.returncode == 1 and "Cannot read it" in bad.stderr
