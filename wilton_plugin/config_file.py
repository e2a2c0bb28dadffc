"""Reading Wilton's part of a LiteLLM YAML file (used by the proxy at start-up and by wiltonctl)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from wilton_plugin.errors import ConfigError
from wilton_plugin.settings import WiltonSettings, check_groups, parse_settings


def load_config_file(path: str, environ: Mapping[str, str]) -> tuple[WiltonSettings, dict[str, Any]]:
    """Read and validate Wilton's part of a LiteLLM YAML file."""
    try:
        with open(path, encoding="utf-8") as handle:
            config = yaml.safe_load(handle) or {}
    except OSError as exc:
        raise ConfigError("config", path, f"Cannot read the file ({exc.strerror}).") from exc
    except yaml.YAMLError as exc:
        raise ConfigError("config", path, f"Not valid YAML ({str(exc).splitlines()[0]}).") from exc
    if not isinstance(config, Mapping):
        raise ConfigError("config", path, "Expected a YAML mapping at the top level.")
    settings = parse_settings(config.get("wilton_settings"), environ)
    groups = check_groups(config.get("model_list"), settings)
    return settings, groups
