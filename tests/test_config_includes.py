"""``include:`` in the proxy's YAML: Wilton checks and balances what LiteLLM merges in."""

from __future__ import annotations

import asyncio
import os

import pytest
import yaml
from litellm.proxy.common_utils.config_includes import resolve_include_file_path
from litellm.proxy.common_utils.config_includes import resolve_includes as litellm_resolve_includes

from wilton_plugin.config_file import load_config_file, resolve_includes
from wilton_plugin.errors import ConfigError

LOCAL = {"model_name": "chat", "litellm_params": {"model": "ollama/x"}, "model_info": {"id": "l", "wilton_tier": "selfhost"}}
FRONTIER = {"model_name": "chat", "litellm_params": {"model": "openai/y"}, "model_info": {"id": "f", "wilton_tier": "frontier"}}


def _write(path, body) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(body))
    return str(path)


def _tree(tmp_path, tier="frontier"):
    frontier = dict(FRONTIER, model_info={"id": "f", "wilton_tier": tier})
    _write(tmp_path / "models" / "frontier.yaml", {"model_list": [frontier], "wilton_settings": {"phi_target": 0.8}})
    _write(tmp_path / "models" / "local.yaml", {"model_list": [LOCAL], "include": ["frontier.yaml"]})
    return _write(tmp_path / "config.yaml", {"include": ["models/local.yaml"], "model_list": [],
                                             "wilton_settings": {"phi_target": 0.75}, "litellm_settings": {"x": 1}})


def test_a_model_list_in_an_included_file_is_balanced(tmp_path):
    settings, groups = load_config_file(_tree(tmp_path), {})
    assert [s.deployment_id for s in groups["chat"]] == ["l", "f"]
    assert settings.phi_target == 0.8  # a later file replaces a mapping, as LiteLLM merges it


def test_a_bad_tier_in_an_included_file_stops_start_up(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config_file(_tree(tmp_path, tier="Frontier"), {})
    assert "wilton_tier' has value 'Frontier'" in str(info.value) and "\n" not in str(info.value)


def test_the_merge_is_litellms(tmp_path):
    root = os.path.abspath(_tree(tmp_path))
    with open(root) as handle:
        config = yaml.safe_load(handle)

    async def read(location):
        with open(location) as handle:
            return yaml.safe_load(handle)

    expected = asyncio.run(litellm_resolve_includes(
        config=config, location=root, resolve=lambda e, d: resolve_include_file_path(e, d, root), read=read))
    assert resolve_includes(config, root) == expected


@pytest.mark.parametrize("include", ["models.yaml", [1, 2]])
def test_a_malformed_include_is_one_line(tmp_path, include):
    path = _write(tmp_path / "config.yaml", {"include": include})
    with pytest.raises(ConfigError) as info:
        load_config_file(path, {})
    assert str(info.value).startswith("Wilton config 'include' has value") and "list of file paths" in str(info.value)


def test_a_missing_included_file_is_one_line(tmp_path):
    path = _write(tmp_path / "config.yaml", {"include": ["nowhere.yaml"]})
    with pytest.raises(ConfigError) as info:
        load_config_file(path, {})
    assert "nowhere.yaml" in str(info.value) and "Cannot read the file" in str(info.value)
