"""Cross-validation of the learned scorer (``wiltonctl bench cv``) and graded-score data."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from wilton_plugin import crossval
from wilton_plugin.replay import replay_settings
from wilton_plugin.scoring.data import DataError, Row, read_rows

ROOT = Path(__file__).resolve().parent.parent
MMLU = ROOT / "data" / "routing-eval" / "mmlu_dev.csv"
GSM = ROOT / "data" / "routing-eval" / "gsm8k_dev.csv"


def _wiltonctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wilton_plugin.cli.main", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT)


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def _sample(path: Path, every: int) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))[::every]


def test_whole_groups_are_held_out_and_identical_prompts_share_a_fold():
    rows = [Row(f"q{i}", 1, 0, subject=f"s{i % 7}") for i in range(70)]
    by_group = crossval.split(rows, 5, random.Random(3))
    assert by_group.kind == "groups" and by_group.groups == 7 and set(by_group.fold_of) == set(range(5))
    for subject in {r.subject for r in rows}:
        assert len({f for r, f in zip(rows, by_group.fold_of) if r.subject == subject}) == 1
    assert crossval.split(rows, 5, random.Random(3)) == by_group  # seeded

    repeated = [Row(f"p{i % 30}", 1, 0) for i in range(60)]  # one group: split by rows
    by_row = crossval.split(repeated, 5, random.Random(3))
    assert by_row.kind == "rows" and set(by_row.fold_of) == set(range(5))
    for text in {r.prompt for r in repeated}:
        assert len({f for r, f in zip(repeated, by_row.fold_of) if r.prompt == text}) == 1


def test_no_model_scores_a_group_it_was_trained_on(monkeypatch):
    mmlu = [r for r in read_rows(MMLU)[::40]]
    gsm = read_rows(GSM)[::10]
    seen: list[set[str]] = []
    real_train = crossval.train

    def recording_train(rows, **kwargs):
        seen.append({r.prompt for r in rows})
        return real_train(rows, **kwargs)

    monkeypatch.setattr(crossval, "train", recording_train)
    files = [("mmlu", mmlu), ("gsm8k", gsm)]
    reports = crossval.cross_validate(files, replay_settings(0.75, "constant"), folds=4, seed=1)
    assert len(seen) == 4
    rng = random.Random(1)
    splits = [crossval.split(rows, 4, rng) for _, rows in files]
    for k, trained_on in enumerate(seen):
        held = [r for (_, rows), s in zip(files, splits) for r, f in zip(rows, s.fold_of) if f == k]
        assert held and not {r.prompt for r in held} & trained_on
        held_subjects = {r.subject for r in held if r in mmlu}
        assert not held_subjects & {r.subject for r in mmlu if r.prompt in trained_on}
    assert [(r["file"], r["split"]) for r in reports] == [("mmlu", "groups"), ("gsm8k", "rows")]
    for report in reports:
        assert abs(report["frontier_share"] - 0.25) <= 5 / report["n"]
        assert report["random_pgr"] < report["oracle_pgr"] and 0.0 <= report["quality"] <= 1.0


def test_bench_cv_json_and_errors(tmp_path):
    mmlu = _write(tmp_path / "m.csv", _sample(MMLU, 30))
    gsm = _write(tmp_path / "g.csv", _sample(GSM, 3))
    result = _wiltonctl("bench", "cv", "--data", str(mmlu), "--data", str(gsm), "--folds", "3", "--shuffle", "--json")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["folds"] == 3 and len(out["results"]) == 4
    assert [(r["order"], r["split"]) for r in out["results"]] == [
        ("file", "groups"), ("shuffled", "groups"), ("file", "rows"), ("shuffled", "rows")]
    for r in out["results"]:
        for key in ("n", "frontier_share", "quality", "pgr", "ranked_pgr", "random_pgr", "oracle_pgr", "groups"):
            assert key in r
    table = _wiltonctl("bench", "cv", "--data", str(gsm), "--folds", "2")
    assert table.returncode == 0 and "rows" in table.stdout and "oracle" in table.stdout

    for args, message in (
        (("--group-by", "team"), "missing column 'team'"),
        (("--folds", "1"), "folds has value 1"),
    ):
        bad = _wiltonctl("bench", "cv", "--data", str(gsm), *args)
        assert bad.returncode == 1 and message in bad.stderr and bad.stderr.count("\n") == 1
    tiny = _write(tmp_path / "t.csv", [{"prompt": f"p{i}", "local": "1", "frontier": "0"} for i in range(3)])
    with pytest.raises(DataError, match="cannot fill 5 folds"):
        crossval.cross_validate([("t", read_rows(tiny))], replay_settings(0.75, "constant"))


def test_a_spreadsheet_export_with_a_bom_and_crlf_reads_like_plain_csv(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"\xef\xbb\xbfprompt,local,frontier,subject\r\n\"two\r\nlines\",1,0.5,law\r\n")
    assert read_rows(path) == [Row("two\r\nlines", 1.0, 0.5, subject="law")]


def test_json_stays_strict_when_pgr_is_undefined(tmp_path):
    """Both models score the same on every row: no gap to recover, PGR is null (not NaN, invalid JSON)."""
    flat = _write(tmp_path / "flat.csv", [{"prompt": f"question {i} about things", "local": "1", "frontier": "1"}
                                          for i in range(120)])

    def strict(text: str) -> dict:
        return json.loads(text, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))

    quality = _wiltonctl("bench", "quality", "--data", str(flat), "--json")
    assert quality.returncode == 0, quality.stderr
    report = strict(quality.stdout)
    assert report["pgr"] is None and report["oracle_pgr"] is None and report["quality"] == 1.0
    cv = _wiltonctl("bench", "cv", "--data", str(flat), "--folds", "2", "--json")
    assert cv.returncode == 0, cv.stderr
    assert strict(cv.stdout)["results"][0]["pgr"] is None


def test_graded_scores_train_and_replay(tmp_path):
    """MT-Bench-style judge scores (1..10): training, replay and PGR work on the graded scale."""
    rng = random.Random(7)
    rows = []
    for i in range(240):
        hard = i % 4 == 0
        prompt = (f"Write a Python function that parses log line {i} and explain its complexity." if hard
                  else f"Write a short friendly note number {i} to a colleague.")
        local = rng.choice(["4", "5", "6"]) if hard else rng.choice(["8", "9", "9.5"])
        rows.append({"prompt": prompt, "local": local, "frontier": rng.choice(["9", "9.5", "10"]), "team": f"t{i % 6}"})
    data = _write(tmp_path / "graded.csv", rows)
    artifact = tmp_path / "graded.json"
    trained = _wiltonctl("train-scorer", "--data", str(data), "--out", str(artifact))
    assert trained.returncode == 0, trained.stderr
    quality = _wiltonctl("bench", "quality", "--data", str(data), "--artifact", str(artifact), "--json")
    assert quality.returncode == 0, quality.stderr
    report = json.loads(quality.stdout)
    assert 7.0 < report["local_quality"] < report["frontier_quality"] <= 10.0
    assert report["pgr"] > report["random_pgr"] + 0.3  # the hard prompts are told apart and sent
    cv = _wiltonctl("bench", "cv", "--data", str(data), "--group-by", "team", "--folds", "3", "--json")
    assert cv.returncode == 0, cv.stderr
    (held_out,) = json.loads(cv.stdout)["results"]
    assert held_out["split"] == "groups" and held_out["groups"] == 6 and held_out["pgr"] > held_out["random_pgr"]
