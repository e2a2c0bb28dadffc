"""``parse_settings``, ``parse_deployments`` and ``check_groups``: defaults, and one-line errors."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from wilton_plugin.errors import ConfigError
from wilton_plugin.settings import (
    BalanceSettings,
    ScorerSettings,
    SelectorSettings,
    WiltonSettings,
    WindowSettings,
    check_groups,
    parse_deployments,
    parse_settings,
)


def config_error(raw: object, environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_settings(raw, environ)
    return info.value


def assert_one_line(err: ConfigError, key: str, *fragments: str) -> None:
    text = str(err)
    assert "\n" not in text and "\r" not in text, text
    assert err.key == key
    assert f"'{key}'" in text, text
    assert repr(err.value) in text, text
    for fragment in fragments:
        assert fragment in text, text


# --- defaults ----------------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, {}])
def test_defaults(raw: object) -> None:
    s = parse_settings(raw)
    assert s == WiltonSettings()
    assert s.phi_target == 0.75
    assert s.frontier_target == pytest.approx(0.25)
    assert s.phi_unit == "requests"
    assert s.window == WindowSettings(kind="count", size=1000.0)
    assert s.balance == BalanceSettings(slack=2.0, max_debt=50.0)
    assert s.selector == SelectorSettings(phi_score=0.5, latency=0.3, cost=0.2, latency_ewma_alpha=0.2, sharpness=4.0)
    assert s.scorer == ScorerSettings(name="heuristic", artifact=None)
    assert s.spill_policy == "compensate"
    assert s.allow_tier_header is False
    assert s.team_targets is True
    assert dict(s.teams) == {}
    assert s.redis_prefix == "wilton:"
    assert s.redis_retry_seconds == 2.0
    assert s.runtime_refresh_seconds == 1.0


def test_values_are_read() -> None:
    s = parse_settings(
        {
            "phi_target": "0.6",
            "phi_unit": "tokens",
            "window": {"kind": "time", "size": 60},
            "balance": {"slack": 2, "max_debt": 10},
            "selector": {"phi_score": 1, "latency": 0, "cost": 0, "sharpness": 8},
            "scorer": {"name": "constant"},
            "spill_policy": "forgive",
            "allow_tier_header": "yes",
            "team_targets": False,
            "teams": {"research": 0.9, 42: "0.5"},
            "redis_prefix": "w2:",
        }
    )
    assert s.phi_target == 0.6
    assert s.phi_unit == "tokens"
    assert s.window == WindowSettings(kind="time", size=60.0)
    assert s.balance == BalanceSettings(slack=2.0, max_debt=10.0)
    assert (s.selector.phi_score, s.selector.latency, s.selector.cost, s.selector.sharpness) == (1.0, 0.0, 0.0, 8.0)
    assert s.scorer.name == "constant"
    assert s.spill_policy == "forgive"
    assert s.allow_tier_header is True
    assert s.team_targets is False
    assert dict(s.teams) == {"research": 0.9, "42": 0.5}
    assert s.redis_prefix == "w2:"


def test_window_time_default_size() -> None:
    assert parse_settings({"window": {"kind": "time"}}).window == WindowSettings(kind="time", size=3600.0)


# --- bad values ----------------------------------------------------------------------------------

BAD = [
    # (raw block, key named, fragment of what is valid)
    ({"phi_target": 1.5}, "phi_target", "[0, 1]"),
    ({"phi_target": -0.1}, "phi_target", "[0, 1]"),
    ({"phi_target": "nan"}, "phi_target", "[0, 1]"),
    ({"phi_target": float("nan")}, "phi_target", "[0, 1]"),
    ({"phi_target": float("inf")}, "phi_target", "[0, 1]"),
    ({"phi_target": "abc"}, "phi_target", "Not a number"),
    ({"phi_target": True}, "phi_target", "Not a number"),
    ({"phi_target": None}, "phi_target", "Not a number"),
    ({"phi_target": [0.5]}, "phi_target", "Not a number"),
    ({"phi_target": 10**400}, "phi_target", "[0, 1]"),  # a YAML integer too big for a float
    ({"phi_unit": "bytes"}, "phi_unit", "requests, tokens"),
    ({"window": {"kind": "sliding"}}, "window.kind", "count, time"),
    ({"window": {"size": 0}}, "window.size", "[10, 1e+06]"),
    ({"window": {"kind": "count", "size": 2.5}}, "window.size", "[10, 1e+06]"),
    ({"window": {"kind": "count", "size": 25.5}}, "window.size", "whole number"),
    ({"window": {"kind": "time", "size": 0}}, "window.size", "[1, 604800]"),
    ({"window": "big"}, "window", "mapping"),
    ({"phi_targt": 0.6}, "phi_targt", "valid keys: phi_target"),
    ({"window": {"sise": 100}}, "window.sise", "valid keys: kind, size"),
    ({"balance": {"slak": 1}}, "balance.slak", "valid keys: slack, max_debt"),
    ({"balance": {"slack": 0.4}}, "balance.slack", "[0.5, 1000]"),
    ({"balance": {"slack": 5, "max_debt": 2}}, "balance.max_debt", "at least balance.slack (5)"),
    ({"selector": {"latency": -0.1}}, "selector.latency", "[0, 100]"),
    ({"selector": {"phi_score": -1}}, "selector.phi_score", "[0, 100]"),
    ({"selector": {"cost": "cheap"}}, "selector.cost", "Not a number"),
    ({"selector": {"latency_ewma_alpha": 0}}, "selector.latency_ewma_alpha", "(0, 1]"),
    ({"scorer": {"name": "bert"}}, "scorer.name", "constant, heuristic"),
    ({"scorer": {"artifact": 3}}, "scorer.artifact", "file path"),
    ({"spill_policy": "drop"}, "spill_policy", "compensate, forgive"),
    ({"teams": {"research": 2}}, "teams.research", "[0, 1]"),
    ({"teams": ["research"]}, "teams", "mapping"),
    ({"allow_tier_header": "maybe"}, "allow_tier_header", "true or false"),
    ({"redis_prefix": "has space"}, "redis_prefix", "without spaces"),
    ({"redis_retry_seconds": 0}, "redis_retry_seconds", "(0, 3600]"),
]


@pytest.mark.parametrize(("raw", "key", "valid"), BAD, ids=[f"{k}={r!r}"[:60] for r, k, _ in BAD])
def test_bad_value_is_one_line_naming_key_value_and_valid(raw: dict[str, Any], key: str, valid: str) -> None:
    err = config_error(raw)
    assert_one_line(err, key, valid)


@pytest.mark.parametrize(("raw", "key"), [
    ({"redis_password": "hunter2-secret"}, "redis_password"),
    ({"window": {"password": "hunter2-secret"}}, "window.password"),
])
def test_an_unknown_key_is_named_but_its_value_never_shown(raw: dict[str, Any], key: str) -> None:
    err = config_error(raw)
    assert_one_line(err, key, "Unknown key")
    assert "hunter2" not in str(err)


@pytest.mark.parametrize(("raw", "key"), [
    ({"teams": {"a\nb": 2}}, "teams.'a\\nb'"),
    ({"x\ny": 1}, "'x\\ny'"),
    ({"scorer": {"na\rme": "learned"}}, "scorer.'na\\rme'"),
])
def test_a_key_with_a_line_break_keeps_the_error_on_one_line(raw: dict[str, Any], key: str) -> None:
    assert_one_line(config_error(raw), key)


def test_block_that_is_not_a_mapping() -> None:
    err = config_error(["phi_target", 0.5])
    assert_one_line(err, "wilton_settings", "mapping")


def test_error_message_exact_text() -> None:
    err = config_error({"phi_target": 1.5})
    assert str(err) == "Wilton config 'phi_target' has value 1.5. Expected a finite number in [0, 1]."


@hsettings(max_examples=200, deadline=None, database=None)
@given(st.floats(allow_nan=True, allow_infinity=True))
def test_phi_target_accepts_exactly_finite_unit_interval(value: float) -> None:
    if math.isfinite(value) and 0.0 <= value <= 1.0:
        assert parse_settings({"phi_target": value}).phi_target == value
    else:
        assert_one_line(config_error({"phi_target": value}), "phi_target", "[0, 1]")


# --- environment ---------------------------------------------------------------------------------


def test_env_overrides_yaml() -> None:
    s = parse_settings({"phi_target": 0.75}, {"WILTON_PHI_TARGET": "0.6"})
    assert s.phi_target == 0.6
    assert parse_settings(None, {"WILTON_PHI_TARGET": "0.6"}).phi_target == 0.6
    assert parse_settings({"phi_target": 0.75}, {}).phi_target == 0.75


def test_env_nested_overrides_keep_siblings() -> None:
    s = parse_settings(
        {"window": {"kind": "time", "size": 60}, "balance": {"slack": 2, "max_debt": 9}},
        {"WILTON_WINDOW_SIZE": "120", "WILTON_BALANCE_SLACK": "3", "WILTON_SCORER": "constant",
         "WILTON_ALLOW_TIER_HEADER": "true", "WILTON_SPILL_POLICY": "forgive"},
    )
    assert s.window == WindowSettings(kind="time", size=120.0)
    assert s.balance == BalanceSettings(slack=3.0, max_debt=9.0)
    assert s.scorer.name == "constant"
    assert s.allow_tier_header is True
    assert s.spill_policy == "forgive"


@pytest.mark.parametrize(("raw", "env", "key"), [
    ({"window": 5}, {"WILTON_WINDOW_KIND": "time"}, "window"),
    ({"window": ["oops"]}, {"WILTON_WINDOW_SIZE": "100"}, "window"),
    ({"scorer": "learned"}, {"WILTON_SCORER": "heuristic"}, "scorer"),
    ({"balance": 3}, {"WILTON_BALANCE_SLACK": "3"}, "balance"),
])
def test_a_malformed_block_is_refused_whatever_the_env_overrides(raw: dict[str, Any], env: dict[str, str], key: str) -> None:
    for environ in ({}, env):
        err = config_error(raw, environ)
        assert_one_line(err, key, "mapping")
        assert err.value == raw[key]


@pytest.mark.parametrize(("raw", "env"), [
    ({"scorer": {"name": "heuristic", "artifact": "/etc/wilton/scorer.json"}}, {}),
    ({"scorer": {"artifact": "/etc/wilton/scorer.json"}}, {}),  # the default scorer is heuristic
    ({"scorer": {"name": "learned", "artifact": "/etc/wilton/scorer.json"}}, {"WILTON_SCORER": "constant"}),
    ({"scorer": {"name": "constant"}}, {"WILTON_SCORER_ARTIFACT": "/etc/wilton/scorer.json"}),
])
def test_an_artifact_for_a_scorer_that_reads_none_is_refused(raw: dict[str, Any], env: dict[str, str]) -> None:
    err = config_error(raw, env)
    assert_one_line(err, "scorer.artifact", "Only the learned scorer reads an artifact", "set scorer.name to learned")
    assert err.value == "/etc/wilton/scorer.json"


def test_an_empty_artifact_is_none() -> None:
    raw = {"scorer": {"name": "learned", "artifact": "/etc/wilton/scorer.json"}}
    assert parse_settings(raw, {"WILTON_SCORER": "heuristic", "WILTON_SCORER_ARTIFACT": ""}).scorer == ScorerSettings()
    assert parse_settings({"scorer": {"name": "learned", "artifact": ""}}).scorer == ScorerSettings("learned", None)


def test_unrelated_env_is_ignored() -> None:
    assert parse_settings(None, {"WILTON_PHI_TARGT": "abc", "PATH": "/bin"}) == WiltonSettings()


@pytest.mark.parametrize(
    ("env", "key", "value"),
    [
        ({"WILTON_PHI_TARGET": "abc"}, "phi_target", "abc"),
        ({"WILTON_PHI_TARGET": "1.2"}, "phi_target", "1.2"),
        ({"WILTON_PHI_UNIT": "bytes"}, "phi_unit", "bytes"),
        ({"WILTON_WINDOW_KIND": "sliding"}, "window.kind", "sliding"),
        ({"WILTON_WINDOW_SIZE": "2.5"}, "window.size", "2.5"),
        ({"WILTON_ALLOW_TIER_HEADER": "perhaps"}, "allow_tier_header", "perhaps"),
    ],
)
def test_bad_env_value_names_the_key(env: dict[str, str], key: str, value: str) -> None:
    err = config_error({"phi_target": 0.75}, env)
    assert_one_line(err, key)
    assert err.value == value


# --- model_list ----------------------------------------------------------------------------------


def dep(group: str, wilton_tier: str | None = None, /, **info: Any) -> dict[str, Any]:
    model_info = dict(info)
    if wilton_tier is not None:
        model_info["wilton_tier"] = wilton_tier
    return {"model_name": group, "litellm_params": {"model": "x", "api_key": "sk-secret"}, "model_info": model_info}


def test_parse_deployments_reads_tiers_and_ignores_untiered() -> None:
    specs = parse_deployments(
        [
            dep("chat", "selfhost", id="a", wilton_phi_score=0.4),
            dep("chat", "frontier", id="b", input_cost_per_token=1e-6, output_cost_per_token=2e-6),
            dep("other"),
            {"model_name": "bare"},
        ]
    )
    assert [(s.model_group, s.deployment_id, s.tier, s.is_local) for s in specs] == [
        ("chat", "a", "selfhost", True),
        ("chat", "b", "frontier", False),
    ]
    assert specs[0].phi_score == 0.4
    assert specs[1].phi_score == 0.5  # default
    assert (specs[1].input_cost_per_token, specs[1].output_cost_per_token) == (1e-6, 2e-6)
    assert parse_deployments(None) == []


@pytest.mark.parametrize(
    ("model_list", "key", "fragment"),
    [
        ([dep("chat", "selfhost"), dep("chat", "fronteir")], "model_list[1].model_info.wilton_tier", "edge, frontier, selfhost"),
        ([{"model_name": "chat", "model_info": {"tier": "selfhost"}}], "model_list[0].model_info.tier", "wilton_tier"),
        ([dep("chat", "frontier", wilton_phi_score=1.2)], "model_list[0].model_info.wilton_phi_score", "[0, 1]"),
        ([dep("chat", wilton_phi_score=0.3)], "model_list[0].model_info.wilton_phi_score", "wilton_tier"),
        ([dep("chat", "edge", input_cost_per_token=-1)], "model_list[0].model_info.input_cost_per_token", "[0, inf)"),
        ([dep("chat", "edge", input_cost_per_token=False)], "model_list[0].model_info.input_cost_per_token", "Not a number"),
        ([dep("chat", "edge", output_cost_per_token="")], "model_list[0].model_info.output_cost_per_token", "Not a number"),
        ([dep("chat", "edge", wilton_phi_scor=0.9)], "model_list[0].model_info.wilton_phi_scor",
         "valid: wilton_tier, wilton_phi_score"),
        ([dep("chat", wilton_teir="edge"), dep("chat", wilton_teir="frontier")], "model_list[0].model_info.wilton_teir",
         "Unknown Wilton key"),
        ([{"model_info": {"wilton_tier": "edge"}}], "model_list[0].model_name", "model_name"),
        ([{"model_name": "chat", "model_info": ["edge"]}], "model_list[0].model_info", "mapping"),
        (["chat"], "model_list[0]", "mapping"),
        ({"chat": {}}, "model_list", "list"),
    ],
)
def test_bad_deployment(model_list: Any, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_groups(model_list, WiltonSettings())
    assert_one_line(info.value, key, fragment)


def test_unknown_wilton_key_never_prints_its_value_and_costs_default_to_zero() -> None:
    with pytest.raises(ConfigError) as info:
        parse_deployments([dep("chat", "frontier", wilton_api_key="sk-live-0123456789")])
    assert "sk-live-0123456789" not in str(info.value) and "wilton_api_key" in str(info.value)
    [spec] = parse_deployments([dep("chat", "edge", input_cost_per_token=None, output_cost_per_token=0, other_key=1)])
    assert (spec.input_cost_per_token, spec.output_cost_per_token) == (0.0, 0.0)


def test_litellm_tier_free_paid_is_left_alone() -> None:
    specs = parse_deployments([dep("chat", "edge", tier="free"), dep("chat", "frontier", tier="paid")])
    assert [s.tier for s in specs] == ["edge", "frontier"]
    odd = parse_deployments([dep("chat", "edge", tier=["paid"]), dep("chat", "frontier", tier={"x": 1})])
    assert [s.tier for s in odd] == ["edge", "frontier"]  # LiteLLM's field, LiteLLM's business: no TypeError


def test_group_with_only_local_needs_phi_target_one() -> None:
    only_local = [dep("chat", "selfhost", id="a"), dep("chat", "edge", id="b")]
    with pytest.raises(ConfigError) as info:
        check_groups(only_local, parse_settings({"phi_target": 0.75}))
    assert_one_line(info.value, "phi_target", "'chat'", "no frontier deployment", "set phi_target to 1")
    groups = check_groups(only_local, parse_settings({"phi_target": 1.0}))
    assert [s.deployment_id for s in groups["chat"]] == ["a", "b"]


def test_group_with_only_frontier_needs_phi_target_zero() -> None:
    only_frontier = [dep("chat", "frontier", id="f")]
    with pytest.raises(ConfigError) as info:
        check_groups(only_frontier, parse_settings({"phi_target": 0.5}))
    assert_one_line(info.value, "phi_target", "no local (selfhost or edge) deployment", "set phi_target to 0")
    assert list(check_groups(only_frontier, parse_settings({"phi_target": 0.0}))) == ["chat"]


def test_a_side_the_target_needs_must_exist() -> None:
    """phi_target 1 needs a local deployment; phi_target 0 needs a frontier one."""
    with pytest.raises(ConfigError) as info:
        check_groups([dep("chat", "frontier", id="f")], parse_settings({"phi_target": 1.0}))
    assert_one_line(info.value, "phi_target", "no local (selfhost or edge) deployment")
    with pytest.raises(ConfigError) as info:
        check_groups([dep("chat", "edge", id="e")], parse_settings({"phi_target": 0.0}))
    assert_one_line(info.value, "phi_target", "no frontier deployment")


def test_team_target_inside_needs_both_sides() -> None:
    only_local = [dep("chat", "selfhost")]
    with pytest.raises(ConfigError):
        check_groups(only_local, parse_settings({"phi_target": 1.0, "teams": {"research": 0.5}}))


def test_group_mixing_tiered_and_untiered_errors() -> None:
    mixed = [dep("chat", "selfhost"), dep("chat", "frontier"), dep("chat")]
    with pytest.raises(ConfigError) as info:
        check_groups(mixed, WiltonSettings())
    assert_one_line(info.value, "model_list[2].model_info.wilton_tier", "Group 'chat'", "edge, frontier, selfhost")


def test_groups_without_wilton_tier_are_ignored() -> None:
    model_list = [
        dep("plain"),
        dep("plain"),
        {"model_name": "embed", "litellm_params": {"model": "e"}},
        dep("chat", "selfhost", id="s"),
        dep("chat", "frontier", id="f"),
    ]
    groups = check_groups(model_list, parse_settings({"phi_target": 0.75}))
    assert set(groups) == {"chat"}
    assert [s.tier for s in groups["chat"]] == ["selfhost", "frontier"]
    assert check_groups([dep("plain")], WiltonSettings()) == {}
    assert check_groups(None, WiltonSettings()) == {}
