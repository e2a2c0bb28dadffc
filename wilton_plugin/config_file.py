"""Reading Wilton's part of a LiteLLM YAML file (used by the proxy at start-up and by wiltonctl).

LiteLLM merges the files named by a top-level ``include:`` list into the config before using it
(``litellm.proxy.common_utils.config_includes``): lists are extended, other values replaced, each
file read once, a nested entry resolved next to the file that names it (or, for older configs,
next to the root config). ``load_config_file`` merges them the same way, so a ``model_list`` kept
in an included file is checked and balanced like one in the main file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import yaml

from wilton_plugin.errors import ConfigError
from wilton_plugin.settings import WiltonSettings, check_groups, parse_settings

INCLUDE_KEY = "include"


def load_config_file(path: str, environ: Mapping[str, str]) -> tuple[WiltonSettings, dict[str, Any]]:
    """Read and validate Wilton's part of a LiteLLM YAML file, its ``include:`` files merged in."""
    config = resolve_includes(_read(path, "config"), os.path.abspath(path))
    settings = parse_settings(config.get("wilton_settings"), environ)
    groups = check_groups(config.get("model_list"), settings)
    return settings, groups


def resolve_includes(config: Mapping[str, Any], root: str) -> dict[str, Any]:
    """``config`` (read from ``root``) with every included file merged in, as LiteLLM merges them."""
    merged = {k: v for k, v in config.items() if k != INCLUDE_KEY}
    pending = [(entry, root) for entry in _entries(config, root)]
    loaded = {root}
    while pending:
        entry, declared_in = pending.pop(0)
        location = _locate(entry, declared_in, root)
        if location in loaded:
            continue
        loaded.add(location)
        included = _read(location, f"{INCLUDE_KEY} ({declared_in})")
        for key, value in included.items():
            if key == INCLUDE_KEY:
                continue
            base = merged.get(key)
            merged[key] = [*base, *value] if isinstance(base, list) and isinstance(value, list) else value
        pending.extend((e, location) for e in _entries(included, location))
    return merged


def _entries(config: Mapping[str, Any], where: str) -> list[str]:
    if INCLUDE_KEY not in config:
        return []
    entries = config[INCLUDE_KEY]
    if not isinstance(entries, list) or not all(isinstance(e, str) for e in entries):
        raise ConfigError(INCLUDE_KEY, entries, f"Expected a list of file paths (in {where}).")
    return entries


def _locate(entry: str, declared_in: str, root: str) -> str:
    """Next to the file that names it; next to the root config when only that one exists (LiteLLM's rule)."""
    declared = os.path.abspath(os.path.join(os.path.dirname(declared_in), entry))
    legacy = os.path.abspath(os.path.join(os.path.dirname(root), entry))
    return legacy if not os.path.exists(declared) and os.path.exists(legacy) else declared


def _read(path: str, key: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError(key, path, f"Cannot read the file ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(key, path, f"Not valid YAML ({str(exc).splitlines()[0]}).") from exc
    if not isinstance(config, Mapping):
        raise ConfigError(key, path, "Expected a YAML mapping at the top level.")
    return dict(config)
