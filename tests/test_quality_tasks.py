"""The task reader's classifier: reproducible from its data, read out of sample, well-formed."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wilton_plugin.scoring import taskmodel, tasks, wordproblem
from wilton_plugin.scoring.taskmodel import CATEGORIES, DEFAULT_MODEL, TaskModel
from wilton_plugin.scoring.tasktrain import request_features, train

ROOT = Path(__file__).resolve().parent.parent


def test_the_shipped_classifier_is_rebuilt_byte_for_byte():
    result = subprocess.run([sys.executable, "-m", "wilton_plugin.scoring.tasktrain", "--check"], capture_output=True,
                            text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    info = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))["info"]
    assert info["rows"] == 432 and "data/chat-prompts/open_prompts_heldout3.csv" not in info["sources"]
    assert DEFAULT_MODEL.stat().st_size < 400_000


def test_left_out_authors_are_read_better_than_by_marker_words():
    """bench/task_cv.py: each file read by a classifier trained on the others' authors only (the
    session-6 run: accuracy 0.75-0.91 vs markers 0.59-0.80; AUC 0.937-0.985 vs 0.832-0.928), and the
    file no classifier was trained on, read by the shipped one."""
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "task_cv.py"), "--json"], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    folds = report["leave_one_file_out"]
    assert len(folds) == 5
    for name, fold in folds.items():
        assert fold["classifier_accuracy"] >= 0.7 and fold["auc_classifier"] >= 0.9, (name, fold)
        assert fold["auc_classifier"] > fold["auc_markers"], (name, fold)
    assert report["mean"]["classifier_accuracy"] >= report["mean"]["marker_accuracy"] + 0.15, report["mean"]
    (held_out,) = report["held_out"].values()
    assert held_out["n"] == 80 and held_out["auc_classifier"] >= 0.85, held_out


def test_probabilities_are_a_distribution_whatever_the_words():
    model = tasks.MODEL
    for text in ("", "Write a haiku about rain.", "Fix this SQL query: SELECT * FROM t WHERE", "请解释光合作用"):
        words = wordproblem.tokens(text)[0]
        marked, request = tasks.read(words, text)
        probabilities = model.probabilities(taskmodel.features(words, request, marked))
        assert len(probabilities) == len(CATEGORIES) and abs(sum(probabilities) - 1.0) < 1e-9
        assert all(0.0 <= p <= 1.0 for p in probabilities)


@settings(max_examples=100, deadline=None, database=None)
@given(words=st.lists(st.sampled_from(sorted(tasks.MODEL.weights)[:400]) | st.text(max_size=8), max_size=40))
def test_the_reading_is_exact_whatever_the_order_of_the_features(words: list[str]) -> None:
    """Log-likelihoods are summed exactly, so the reading equals one made in any fixed order, to the bit."""
    model = tasks.MODEL
    known = sorted(set(words) & model.weights.keys())
    totals = [prior + math.fsum(model.weights[f][i] for f in known) for i, prior in enumerate(model.log_prior)]
    exps = [math.exp(t - max(totals)) for t in totals]
    assert model.probabilities(set(words)) == tuple(e / math.fsum(exps) for e in exps)


def test_training_checks_its_categories_and_fits_small_data():
    rows = [("coding", "Write a Python script that renames files."), ("coding", "Fix my Python loop."),
            ("writing", "Write a poem about rain."), ("writing", "Write a poem about snow.")]
    model = train(rows)
    assert set(model.weights) <= set().union(*(request_features(p) for _, p in rows))
    coding, writing = CATEGORIES.index("coding"), CATEGORIES.index("writing")
    python = model.probabilities(request_features("Python please"))
    assert python[coding] > python[writing]
    with pytest.raises(ValueError, match="unknown categories"):
        train([("poetry", "Write a poem.")])


@pytest.mark.parametrize(("edit", "message"), [
    (lambda b: b.update(format="x"), "not a Wilton task model"),
    (lambda b: b.update(categories=["a"]), "categories"),
    (lambda b: b["log_prior"].pop(), "one value per category"),
    (lambda b: b["log_prior"].__setitem__(0, float("nan")), "finite"),
    (lambda b: b.pop("weights"), "missing or malformed"),
    (lambda b: b.update(weights=[1, 2]), "missing or malformed"),
])
def test_a_damaged_model_file_is_refused(edit, message):
    body = json.loads(DEFAULT_MODEL.read_text(encoding="utf-8"))
    edit(body)
    with pytest.raises(ValueError, match=message):
        TaskModel.from_json(json.dumps(body))


@settings(max_examples=100, deadline=None, database=None)
@given(texts=st.lists(st.sampled_from(["Write a haiku.", "Fix this SQL query please", "why?", "", "Solve x^2 = 4 now",
                                       "Tom is taller than Ann. Who is shorter?"]), min_size=1, max_size=6),
       reuse=st.booleans())
def test_the_kept_reading_is_only_returned_for_the_same_words_and_head(texts: list[str], reuse: bool) -> None:
    """``tasks.read`` keeps its last reading: whatever the order of calls, and even when the same list
    object comes back with another head, it answers as a fresh reading would."""
    shared = wordproblem.tokens(texts[0])[0]
    for text in texts:
        words = shared if reuse else wordproblem.tokens(text)[0]
        request = tasks.instruction_words(text)
        assert tasks.read(words, text) == (tasks._marked_task(words, text, request), request)
        assert tasks.read(words, text) == (tasks._marked_task(words, text, request), request)
