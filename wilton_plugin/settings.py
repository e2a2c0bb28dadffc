"""Wilton's settings: parsed once, at the edge, from the LiteLLM YAML and the environment.

Everything here is pure: plain dicts in, frozen dataclasses out, ``ConfigError`` (one line naming
the key, the value and what is valid) on anything wrong. The proxy glue calls
``load_from_config`` at start-up, so a bad value stops the proxy before it serves a request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from wilton_plugin.errors import ConfigError

LOCAL_TIERS = frozenset({"selfhost", "edge"})
FRONTIER_TIERS = frozenset({"frontier"})
TIERS = LOCAL_TIERS | FRONTIER_TIERS
PHI_UNITS = ("requests", "tokens")
WINDOW_KINDS = ("count", "time")
SPILL_POLICIES = ("compensate", "forgive")


@dataclass(frozen=True)
class WindowSettings:
    """The sliding window over which φ is observed: last ``size`` decisions or last ``size`` seconds."""

    kind: str = "count"
    size: float = 1000.0


@dataclass(frozen=True)
class BalanceSettings:
    """How tightly the balancer holds the share, in work units (requests, or mean-sized requests)."""

    slack: float = 2.0  # the debt stays in [-slack, +slack]: any run deviates by at most 2*slack
    max_debt: float = 50.0  # work owed after a spill-over is compensated up to this much, then forgotten


@dataclass(frozen=True)
class SelectorSettings:
    """Weights of the per-tier deployment choice; they need not sum to 1."""

    phi_score: float = 0.5
    latency: float = 0.3
    cost: float = 0.2
    latency_ewma_alpha: float = 0.2  # weight of the newest latency sample, in (0, 1]
    sharpness: float = 4.0  # p(deployment) ∝ runtime_weight * exp(sharpness * utility)


@dataclass(frozen=True)
class ScorerSettings:
    """Which difficulty scorer rates prompts (0 = easy, 1 = hard) and its artifact, if any."""

    name: str = "heuristic"
    artifact: str | None = None


@dataclass(frozen=True)
class WiltonSettings:
    """The ``wilton_settings:`` block of the LiteLLM YAML, validated, with environment overrides."""

    phi_target: float = 0.75  # local share asked for, in [0, 1]
    phi_unit: str = "requests"
    window: WindowSettings = field(default_factory=WindowSettings)
    balance: BalanceSettings = field(default_factory=BalanceSettings)
    selector: SelectorSettings = field(default_factory=SelectorSettings)
    scorer: ScorerSettings = field(default_factory=ScorerSettings)
    spill_policy: str = "compensate"  # spilled work is owed back (up to balance.max_debt), or forgiven
    allow_tier_header: bool = False  # callers may force a tier with `x-wilton-tier`
    team_targets: bool = True  # honour `wilton_phi_target` in key/team metadata
    teams: Mapping[str, float] = field(default_factory=dict)  # static per-team targets
    redis_prefix: str = "wilton:"
    redis_retry_seconds: float = 2.0  # how often to retry Redis after it went away
    runtime_refresh_seconds: float = 1.0  # how stale runtime settings read from Redis may be
    decision_log_size: int = 10_000  # recent decisions kept in memory per worker (GET /wilton/decisions), 0..1,000,000
    decision_log_prompts: bool = False  # keep the prompt text in the decision log (off: never stored)

    @property
    def frontier_target(self) -> float:
        """The frontier share asked for: 1 - phi_target."""
        return 1.0 - self.phi_target


@dataclass(frozen=True)
class DeploymentSpec:
    """What Wilton needs from one LiteLLM deployment: never its litellm_params (they hold keys)."""

    model_group: str
    deployment_id: str | None
    tier: str
    phi_score: float
    input_cost_per_token: float
    output_cost_per_token: float

    @property
    def is_local(self) -> bool:
        """True for the local tiers (selfhost, edge)."""
        return self.tier in LOCAL_TIERS


# --- scalar validators ---------------------------------------------------------------------


class _Hidden:
    """Stands for a value an error must not print (that of an unknown key: it may be a secret)."""

    def __repr__(self) -> str:
        return "<not shown>"


HIDDEN = _Hidden()


def _number(key: str, value: object, lo: float, hi: float, *, lo_open: bool = False) -> float:
    if isinstance(value, bool):
        raise ConfigError(key, value, f"Not a number; expected a finite number in {_range(lo, hi, lo_open)}.")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):  # OverflowError: an int too big for a float
        raise ConfigError(key, value, f"Not a number; expected a finite number in {_range(lo, hi, lo_open)}.") from None
    if not math.isfinite(number) or number > hi or number < lo or (lo_open and number == lo):
        raise ConfigError(key, value, f"Expected a finite number in {_range(lo, hi, lo_open)}.")
    return number


def _count(key: str, value: object, lo: int, hi: int) -> int:
    number = _number(key, value, lo, hi)
    if number != int(number):
        raise ConfigError(key, value, f"Expected a whole number in [{lo}, {hi}].")
    return int(number)


def _range(lo: float, hi: float, lo_open: bool) -> str:
    left = "(" if lo_open else "["
    right = "]" if math.isfinite(hi) else ")"
    return f"{left}{lo:g}, {hi:g}{right}"


def _choice(key: str, value: object, choices: tuple[str, ...] | frozenset[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(key, value, f"Valid values: {', '.join(sorted(choices))}.")
    return value


def _bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"1", "true", "yes", "on", "0", "false", "no", "off"}:
        return value.strip().lower() in {"1", "true", "yes", "on"}
    raise ConfigError(key, value, "Not a valid bool; use true or false.")


def _mapping(key: str, value: object) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "Expected a mapping (key: value lines).")
    return value


def _key_text(name: object) -> str:
    """A YAML key as it can stand in a one-line error: itself when printable, else its repr."""
    return name if isinstance(name, str) and name.isprintable() and name else repr(name)


def _known_keys(key: str, block: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for name in block:
        if name not in known:  # its value is not shown: a misplaced key may hold a secret (redis_password)
            raise ConfigError(f"{key}.{_key_text(name)}" if key else _key_text(name), HIDDEN,
                              f"Unknown key; valid keys: {', '.join(known)}.")


# --- the wilton_settings block ---------------------------------------------------------------

_TOP_KEYS = (
    "phi_target",
    "phi_unit",
    "window",
    "balance",
    "selector",
    "scorer",
    "spill_policy",
    "allow_tier_header",
    "team_targets",
    "teams",
    "redis_prefix",
    "redis_retry_seconds",
    "runtime_refresh_seconds",
    "decision_log_size",
    "decision_log_prompts",
)

# Environment variable -> dotted key in wilton_settings.
ENV_OVERRIDES: Mapping[str, str] = {
    "WILTON_PHI_TARGET": "phi_target",
    "WILTON_PHI_UNIT": "phi_unit",
    "WILTON_WINDOW_KIND": "window.kind",
    "WILTON_WINDOW_SIZE": "window.size",
    "WILTON_BALANCE_SLACK": "balance.slack",
    "WILTON_SPILL_POLICY": "spill_policy",
    "WILTON_ALLOW_TIER_HEADER": "allow_tier_header",
    "WILTON_SCORER": "scorer.name",
    "WILTON_SCORER_ARTIFACT": "scorer.artifact",
    "WILTON_REDIS_PREFIX": "redis_prefix",
}


def _apply_env(raw: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: (dict(v) if isinstance(v, Mapping) else v) for k, v in raw.items()}
    for env_name, dotted in ENV_OVERRIDES.items():
        if env_name not in environ:
            continue
        head, _, tail = dotted.partition(".")
        if tail:  # the YAML block is checked first: an override must not replace a malformed one
            merged[head] = dict(_mapping(head, merged.get(head)))
            merged[head][tail] = environ[env_name]
        else:
            merged[head] = environ[env_name]
    return merged


def parse_settings(raw: object, environ: Mapping[str, str] | None = None) -> WiltonSettings:
    """Validate the ``wilton_settings`` block (None means all defaults) with env overrides applied."""
    block = _apply_env(_mapping("wilton_settings", raw), environ or {})
    _known_keys("", block, _TOP_KEYS)
    defaults = WiltonSettings()
    settings = replace(
        defaults,
        phi_target=_number("phi_target", block.get("phi_target", defaults.phi_target), 0.0, 1.0),
        phi_unit=_choice("phi_unit", block.get("phi_unit", defaults.phi_unit), PHI_UNITS),
        window=_parse_window(_mapping("window", block.get("window"))),
        balance=_parse_balance(_mapping("balance", block.get("balance"))),
        selector=_parse_selector(_mapping("selector", block.get("selector"))),
        scorer=_parse_scorer(_mapping("scorer", block.get("scorer"))),
        spill_policy=_choice("spill_policy", block.get("spill_policy", defaults.spill_policy), SPILL_POLICIES),
        allow_tier_header=_bool("allow_tier_header", block.get("allow_tier_header", defaults.allow_tier_header)),
        team_targets=_bool("team_targets", block.get("team_targets", defaults.team_targets)),
        teams=_parse_teams(_mapping("teams", block.get("teams"))),
        redis_prefix=_prefix(block.get("redis_prefix", defaults.redis_prefix)),
        redis_retry_seconds=_number("redis_retry_seconds", block.get("redis_retry_seconds", 2.0), 0.0, 3600.0, lo_open=True),
        runtime_refresh_seconds=_number(
            "runtime_refresh_seconds", block.get("runtime_refresh_seconds", 1.0), 0.0, 60.0, lo_open=True
        ),
        decision_log_size=_count("decision_log_size", block.get("decision_log_size", defaults.decision_log_size), 0, 1_000_000),
        decision_log_prompts=_bool("decision_log_prompts", block.get("decision_log_prompts", defaults.decision_log_prompts)),
    )
    return settings


def _parse_window(block: Mapping[str, Any]) -> WindowSettings:
    _known_keys("window", block, ("kind", "size"))
    kind = _choice("window.kind", block.get("kind", "count"), WINDOW_KINDS)
    if kind == "count":
        size = _number("window.size", block.get("size", 1000), 10.0, 1_000_000.0)
        if size != int(size):
            raise ConfigError("window.size", block.get("size"), "A count window holds a whole number of decisions.")
    else:
        size = _number("window.size", block.get("size", 3600), 1.0, 7 * 86400.0)
    return WindowSettings(kind=kind, size=size)


def _parse_balance(block: Mapping[str, Any]) -> BalanceSettings:
    _known_keys("balance", block, ("slack", "max_debt"))
    slack = _number("balance.slack", block.get("slack", 2.0), 0.5, 1000.0)
    max_debt = _number("balance.max_debt", block.get("max_debt", 50.0), 0.0, 1e9)
    if max_debt < slack:
        raise ConfigError("balance.max_debt", max_debt, f"Must be at least balance.slack ({slack:g}).")
    return BalanceSettings(slack=slack, max_debt=max_debt)


def _parse_selector(block: Mapping[str, Any]) -> SelectorSettings:
    _known_keys("selector", block, ("phi_score", "latency", "cost", "latency_ewma_alpha", "sharpness"))
    weights = {
        name: _number(f"selector.{name}", block.get(name, getattr(SelectorSettings, name)), 0.0, 100.0)
        for name in ("phi_score", "latency", "cost")
    }
    return SelectorSettings(
        **weights,
        latency_ewma_alpha=_number("selector.latency_ewma_alpha", block.get("latency_ewma_alpha", 0.2), 0.0, 1.0, lo_open=True),
        sharpness=_number("selector.sharpness", block.get("sharpness", 4.0), 0.0, 100.0),
    )


def _parse_scorer(block: Mapping[str, Any]) -> ScorerSettings:
    from wilton_plugin.core.scorer import ARTIFACT_SCORERS, SCORERS  # local import: scorer registry is part of the core

    _known_keys("scorer", block, ("name", "artifact"))
    name = _choice("scorer.name", block.get("name", "heuristic"), tuple(SCORERS))
    artifact = block.get("artifact")
    if artifact is not None and not isinstance(artifact, str):
        raise ConfigError("scorer.artifact", artifact, "Expected a file path.")
    artifact = artifact or None  # empty (e.g. WILTON_SCORER_ARTIFACT=): none, the shipped default for learned
    if artifact is not None and name not in ARTIFACT_SCORERS:  # it would be ignored: say so rather than score without it
        raise ConfigError("scorer.artifact", artifact,
                          f"Only the {', '.join(sorted(ARTIFACT_SCORERS))} scorer reads an artifact, and scorer.name is "
                          f"'{name}'; remove the artifact or set scorer.name to {', '.join(sorted(ARTIFACT_SCORERS))}.")
    return ScorerSettings(name=name, artifact=artifact)


def _parse_teams(block: Mapping[str, Any]) -> Mapping[str, float]:
    return {str(team): _number(f"teams.{_key_text(team)}", target, 0.0, 1.0) for team, target in block.items()}


def _prefix(value: object) -> str:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ConfigError("redis_prefix", value, "Expected a non-empty string without spaces, e.g. 'wilton:'.")
    return value


# --- the model_list --------------------------------------------------------------------------

MODEL_INFO_KEYS = ("wilton_tier", "wilton_phi_score")  # every other model_info key starting wilton_ is refused


def parse_deployments(model_list: object) -> list[DeploymentSpec]:
    """Read tier and phi_score of every deployment that declares a ``wilton_tier``."""
    if model_list is None:
        return []
    if not isinstance(model_list, list):
        raise ConfigError("model_list", type(model_list).__name__, "Expected a list of deployments.")
    specs: list[DeploymentSpec] = []
    for index, deployment in enumerate(model_list):
        if not isinstance(deployment, Mapping):
            raise ConfigError(f"model_list[{index}]", type(deployment).__name__, "Expected a mapping.")
        spec = parse_deployment(deployment, f"model_list[{index}]")
        if spec is not None:
            specs.append(spec)
    return specs


def parse_deployment(deployment: Mapping[str, Any], where: str = "deployment") -> DeploymentSpec | None:
    """One deployment dict to a spec, or None when it has no ``wilton_tier`` (Wilton leaves it alone)."""
    info = deployment.get("model_info") or {}
    if not isinstance(info, Mapping):
        raise ConfigError(f"{where}.model_info", type(info).__name__, "Expected a mapping.")
    group = deployment.get("model_name")
    if isinstance(info.get("tier"), str) and info["tier"] in TIERS:
        raise ConfigError(
            f"{where}.model_info.tier",
            info["tier"],
            "LiteLLM reserves model_info.tier (free/paid) and silently drops other values; use model_info.wilton_tier.",
        )
    for name in info:
        if isinstance(name, str) and name.startswith("wilton_") and name not in MODEL_INFO_KEYS:
            raise ConfigError(f"{where}.model_info.{_key_text(name)}", HIDDEN, f"Unknown Wilton key; valid: {', '.join(MODEL_INFO_KEYS)}.")
    if "wilton_tier" not in info:
        if "wilton_phi_score" in info:
            raise ConfigError(f"{where}.model_info.wilton_phi_score", info["wilton_phi_score"], "Set model_info.wilton_tier too.")
        return None
    tier = _choice(f"{where}.model_info.wilton_tier", info["wilton_tier"], tuple(sorted(TIERS)))
    phi_score = _number(f"{where}.model_info.wilton_phi_score", info.get("wilton_phi_score", 0.5), 0.0, 1.0)
    costs = [  # absent or null: no cost, as LiteLLM reads it
        0.0 if info.get(name) is None else _number(f"{where}.model_info.{name}", info[name], 0.0, math.inf)
        for name in ("input_cost_per_token", "output_cost_per_token")
    ]
    if not isinstance(group, str) or not group:
        raise ConfigError(f"{where}.model_name", group, "Every deployment needs a model_name.")
    deployment_id = info.get("id")
    return DeploymentSpec(
        model_group=group,
        deployment_id=str(deployment_id) if deployment_id is not None else None,
        tier=tier,
        phi_score=phi_score,
        input_cost_per_token=costs[0],
        output_cost_per_token=costs[1],
    )


def check_groups(model_list: object, settings: WiltonSettings) -> dict[str, list[DeploymentSpec]]:
    """Every Wilton group is all-tiered and has both sides when some target needs both."""
    specs = parse_deployments(model_list)
    groups: dict[str, list[DeploymentSpec]] = {}
    for spec in specs:
        groups.setdefault(spec.model_group, []).append(spec)
    for index, deployment in enumerate(model_list or []):  # type: ignore[arg-type]
        group = deployment.get("model_name")
        info = deployment.get("model_info") or {}
        if group in groups and "wilton_tier" not in info:
            raise ConfigError(
                f"model_list[{index}].model_info.wilton_tier",
                None,
                f"Group '{group}' is balanced by Wilton, so each of its deployments needs a wilton_tier "
                f"({', '.join(sorted(TIERS))}).",
            )
    problem = missing_side(groups, [settings.phi_target, *settings.teams.values()])
    if problem is not None:
        raise ConfigError("phi_target", settings.phi_target, problem)
    return groups


def missing_side(groups: Mapping[str, Sequence[DeploymentSpec]], targets: Iterable[float]) -> str | None:
    """Why ``targets`` cannot be held in ``groups`` (a group lacks a side some target needs), or None.

    A local target above 0 needs a local deployment in every group; one below 1 a frontier one.
    Checked at start-up and by the admin API before it changes a target."""
    targets = list(targets)
    needs_local = any(t > 0.0 for t in targets)
    needs_frontier = any(t < 1.0 for t in targets)
    for group, members in groups.items():
        if needs_local and not any(m.is_local for m in members):
            return (f"Model group '{group}' has no local (selfhost or edge) deployment to serve that share; "
                    "add one, or set phi_target to 0.")
        if needs_frontier and not any(not m.is_local for m in members):
            return f"Model group '{group}' has no frontier deployment, so it cannot be split; add one, or set phi_target to 1."
    return None
