"""A bad configuration stops the proxy at start-up with one line naming key, value and what is valid."""

from __future__ import annotations

import math
import subprocess

import pytest
import yaml

from wilton_plugin.devstack import ProxyProcess, demo_config, write_config
from wilton_plugin.config_file import load_config_file
from wilton_plugin.errors import ConfigError
from wilton_plugin.proxy import CONFIG_EXIT_CODE

GOOD = demo_config("http://127.0.0.1:9", "http://127.0.0.1:9")


def _bad(mutate) -> dict:
    config = yaml.safe_load(yaml.safe_dump(GOOD))
    mutate(config)
    return config


def _set(path: list, value):
    def mutate(config):
        node = config
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return mutate


def _only_local(config):
    config["model_list"] = [d for d in config["model_list"] if d["model_info"]["wilton_tier"] != "frontier"]


CASES = {
    "phi_target above 1": (_set(["wilton_settings", "phi_target"], 1.5), "'phi_target' has value 1.5", "[0, 1]"),
    "phi_target nan": (_set(["wilton_settings", "phi_target"], math.nan), "'phi_target' has value nan", "finite"),
    "unknown unit": (_set(["wilton_settings", "phi_unit"], "bytes"), "'phi_unit' has value 'bytes'", "requests, tokens"),
    "typo in a tier": (
        _set(["model_list", 2, "model_info", "wilton_tier"], "fronteir"),
        "'model_list[2].model_info.wilton_tier' has value 'fronteir'",
        "edge, frontier, selfhost",
    ),
    "reserved model_info.tier": (
        _set(["model_list", 0, "model_info", "tier"], "selfhost"),
        "'model_list[0].model_info.tier' has value 'selfhost'",
        "wilton_tier",
    ),
    "typo in a key": (_set(["wilton_settings", "phi_targt"], 0.7), "'phi_targt' has value <not shown>", "valid keys"),
    "group without frontier": (_only_local, "'phi_target' has value 0.75", "no frontier deployment"),
    "phi_score out of range": (
        _set(["model_list", 1, "model_info", "wilton_phi_score"], 1.2),
        "'model_list[1].model_info.wilton_phi_score' has value 1.2",
        "[0, 1]",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_config_file_rejects(name, tmp_path):
    mutate, says, valid = CASES[name]
    path = write_config(_bad(mutate), tmp_path)
    with pytest.raises(ConfigError) as err:
        load_config_file(str(path), {})
    message = str(err.value)
    assert "\n" not in message
    assert says in message and valid in message


def test_environment_override_is_validated_too(tmp_path):
    path = write_config(GOOD, tmp_path)
    with pytest.raises(ConfigError, match="'phi_target' has value 'abc'"):
        load_config_file(str(path), {"WILTON_PHI_TARGET": "abc"})
    settings, _ = load_config_file(str(path), {"WILTON_PHI_TARGET": "0.6"})
    assert settings.phi_target == 0.6


@pytest.mark.parametrize("where", ["missing.yaml", "."])
def test_an_explicit_wilton_config_that_cannot_be_read_stops_start_up(tmp_path, monkeypatch, where):
    from wilton_plugin import proxy

    refused = []
    monkeypatch.setattr(proxy, "refuse_to_start", refused.append)  # records instead of exiting the test process
    path = str(tmp_path / where)
    with pytest.raises(ConfigError) as err:
        proxy.build_handler({"WILTON_CONFIG": path})
    message = str(err.value)
    assert refused == [err.value] and "\n" not in message
    assert message.startswith(f"Wilton config 'WILTON_CONFIG' has value '{path}'. Cannot read the file (")


def test_a_guessed_config_path_that_is_missing_only_warns(tmp_path, monkeypatch, caplog):
    from wilton_plugin import proxy

    monkeypatch.setattr(proxy, "refuse_to_start", pytest.fail)
    monkeypatch.setattr(proxy, "Metrics", lambda: None)  # the default registry takes each metric once per process
    handler = proxy.build_handler({"CONFIG_FILE_PATH": str(tmp_path / "missing.yaml"), "WILTON_CONFIG": ""})
    assert handler.service.groups == {} and "no config file found" in caplog.text


def _start_expecting_refusal(tmp_path, config, workers=1, env=None) -> tuple[int, str]:
    proxy = ProxyProcess(write_config(config, tmp_path), workers=workers, env=env, startup_timeout=60)
    proxy.start(wait=False)
    try:
        code = proxy.process.wait(60)
    except subprocess.TimeoutExpired:
        proxy.stop()
        pytest.fail(f"proxy kept running with a bad config:\n{proxy.log_tail()}")
    log = proxy.log_text()
    proxy.stop()
    return code, log


@pytest.mark.proxy
@pytest.mark.parametrize("name", ["phi_target above 1", "typo in a tier", "group without frontier"])
def test_the_proxy_refuses_to_start(name, tmp_path):
    mutate, says, valid = CASES[name]
    code, log = _start_expecting_refusal(tmp_path, _bad(mutate))
    assert code == CONFIG_EXIT_CODE
    lines = [line for line in log.splitlines() if line.startswith("wilton: ")]
    assert len(lines) == 1, log[-3000:]
    assert says in lines[0] and valid in lines[0]
    assert "Traceback" not in log


@pytest.mark.proxy
def test_the_proxy_refuses_to_start_without_its_scorer_artifact(tmp_path):
    missing = str(tmp_path / "scorer.json")
    code, log = _start_expecting_refusal(tmp_path, _bad(_set(["wilton_settings", "scorer"], {"name": "learned", "artifact": missing})))
    assert code == CONFIG_EXIT_CODE
    lines = [line for line in log.splitlines() if line.startswith("wilton: ")]
    assert lines == [f"wilton: Wilton config 'scorer.artifact' has value '{missing}'. Cannot read it (No such file or directory)."]
    assert "Traceback" not in log


@pytest.mark.proxy
def test_the_proxy_refuses_to_start_with_two_workers(tmp_path):
    """uvicorn would respawn a failing worker forever; Wilton stops its supervisor instead.

    The supervisor exits by SIGTERM, so the status is uvicorn's (0): the log line says why.
    """
    _, log = _start_expecting_refusal(tmp_path, _bad(CASES["unknown unit"][0]), workers=2)
    lines = {line for line in log.splitlines() if line.startswith("wilton: ")}
    assert lines == {"wilton: Wilton config 'phi_unit' has value 'bytes'. Valid values: requests, tokens."}


def test_the_shipped_example_config_is_valid():
    settings, groups = load_config_file("config/litellm_config.yaml", {})
    assert settings.phi_target == 0.75
    assert sorted(spec.tier for spec in groups["chat"]) == ["edge", "frontier", "frontier", "selfhost"]
