"""``wiltonctl validate-config FILE``: the same validation the proxy runs at start-up."""

from __future__ import annotations

import argparse
import os


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``validate-config``."""
    parser = subparsers.add_parser(
        "validate-config",
        help="validate a LiteLLM YAML's Wilton settings and tiers, as the proxy does at start-up",
        description="Validate wilton_settings and every deployment's wilton_tier/wilton_phi_score "
        "(WILTON_* environment overrides applied) and load the scorer's artifact. Exit 0 when valid, 1 with "
        "one line when not.",
    )
    parser.add_argument("file", help="the LiteLLM config file")
    parser.set_defaults(func=_validate)


def check_config(path: str):  # -> (WiltonSettings, groups, Scorer)
    """Everything the proxy checks at start-up: the YAML, the environment overrides, the scorer's artifact."""
    from wilton_plugin.config_file import load_config_file
    from wilton_plugin.core.scorer import make_scorer

    settings, groups = load_config_file(path, os.environ)
    return settings, groups, make_scorer(settings.scorer.name, settings.scorer.artifact)


def _validate(args: argparse.Namespace) -> int:
    settings, groups, scorer = check_config(args.file)
    managed = ", ".join(f"{group} ({len(specs)} deployments)" for group, specs in sorted(groups.items())) or "none"
    print(f"{args.file}: valid. phi_target {settings.phi_target:g} ({settings.phi_unit}); managed groups: {managed}; "
          f"scorer {_describe(settings.scorer.name, scorer)}")
    return 0


def _describe(name: str, scorer: object) -> str:
    path = getattr(scorer, "path", None)
    if path is None:
        return name
    from wilton_plugin.scoring import tasks  # loaded with the learned scorer already
    from wilton_plugin.scoring.model import Prior

    model = scorer.model  # type: ignore[attr-defined]
    info = model.info
    sources = ", ".join(info.get("sources") or ()) or "unknown files"
    described = f"{name} ({path}: trained on {info.get('rows', '?')} rows from {sources}"
    if model.families["open"] == Prior("tasks"):  # open prompts are read by the task prior's classifier
        described += (f"; open prompts by the task prior {tasks.VERSION}, its category classifier trained on "
                      f"{tasks.MODEL.info.get('rows', '?')} hand-written requests")
    return described + ")"
