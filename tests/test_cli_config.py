"""``wiltonctl validate-config``: the proxy's start-up validation, as a command."""

from __future__ import annotations

import subprocess
import sys

import yaml


def _run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "wilton_plugin.cli.main", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_the_example_config_is_valid():
    result = _run("validate-config", "config/litellm_config.yaml")
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout and "chat (4 deployments)" in result.stdout
    assert "scorer learned (" in result.stdout and "mmlu_dev.csv" in result.stdout  # the shipped artifact, loaded
    assert "task prior tasks-3, its category classifier trained on 432 hand-written requests" in result.stdout


def test_an_unusable_scorer_artifact_fails_validation_as_it_fails_start_up(tmp_path):
    with open("config/litellm_config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["wilton_settings"]["scorer"]["artifact"] = str(tmp_path / "missing.json")
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run("validate-config", str(path))
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "'scorer.artifact' has value" in result.stderr and "missing.json" in result.stderr


def test_a_bad_value_is_one_line_and_exit_1(tmp_path):
    with open("config/litellm_config.yaml", encoding="utf-8") as handle:
        config = yaml.safe_load(handle)
    config["wilton_settings"]["phi_unit"] = "bytes"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    result = _run("validate-config", str(path))
    assert result.returncode == 1
    assert result.stderr.strip() == "wiltonctl: Wilton config 'phi_unit' has value 'bytes'. Valid values: requests, tokens."
    assert "Traceback" not in result.stderr


def test_an_environment_override_is_validated():
    result = _run("validate-config", "config/litellm_config.yaml", env={"WILTON_PHI_TARGET": "nan"})
    assert result.returncode == 1 and "'phi_target' has value 'nan'" in result.stderr


def test_a_missing_file_is_one_line():
    result = _run("validate-config", "no/such.yaml")
    assert result.returncode == 1 and result.stderr.count("\n") == 1 and "Cannot read the file" in result.stderr


def test_no_command_prints_usage_and_exits_2():
    result = _run()
    assert result.returncode == 2 and "validate-config" in result.stderr
