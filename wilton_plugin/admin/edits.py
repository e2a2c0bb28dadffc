"""The admin API's changes as pure edits of the runtime settings.

Each takes the published settings and returns the new ones with a (what, old, new) triple per change,
so that a compare-and-set write can apply it again to settings another writer published meanwhile.
Old and new targets are effective ones: what routing holds before and after the change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from wilton_plugin.core.engine import RuntimeSettings

Change = tuple[str, Any, Any]  # (what, old, new), one audit entry


def set_target(runtime: RuntimeSettings, target: float | None, config_value: float) -> tuple[RuntimeSettings, list[Change]]:
    """The global target; ``None`` goes back to the config's ``phi_target``."""
    previous = runtime.phi_target if runtime.phi_target is not None else config_value
    current = target if target is not None else config_value
    return replace(runtime, phi_target=target), [("phi_target", previous, current)]


def set_team_target(runtime: RuntimeSettings, team: str, target: float | None,
                    static: float | None) -> tuple[RuntimeSettings, list[Change]]:
    """A team's target; ``None`` removes the override. Effective: the override, else ``static`` (its ``teams`` entry)."""
    teams = dict(runtime.team_targets)
    previous = teams.pop(team, static)
    if target is not None:
        teams[team] = target
    current = target if target is not None else static
    return replace(runtime, team_targets=teams), [(f"team_target[{team}]", previous, current)]


def set_weights(runtime: RuntimeSettings, weights: Mapping[str, float] | None,
                bias: float | None) -> tuple[RuntimeSettings, list[Change]]:
    """Merge weight overrides and set the tier bias; only what differs is a change (no change: no write)."""
    new, changes = runtime, []
    if weights:
        merged = {**runtime.weights, **weights}
        if merged != dict(runtime.weights):
            new = replace(new, weights=merged)
            changes.append(("weights", dict(runtime.weights), merged))
    if bias is not None and bias != runtime.phi_bias:
        new = replace(new, phi_bias=bias)
        changes.append(("phi_bias", runtime.phi_bias, bias))
    return new, changes
