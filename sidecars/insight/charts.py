"""PNG charts of a report (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402 - after the backend is chosen
import matplotlib.pyplot as plt  # noqa: E402

TIER_COLOURS = {"selfhost": "#2b8a3e", "edge": "#74b816", "frontier": "#1c7ed6"}


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=100)
    plt.close(fig)
    return path


def phi_chart(collected: dict[str, Any], facts: dict[str, Any], path: Path) -> Path:
    """φ history with the target band."""
    fig, ax = plt.subplots(figsize=(9, 3.6))
    history = collected.get("phi_history") or []
    target, band = facts["phi"]["target"], facts["phi"]["band"]
    if history:
        times = [datetime.fromtimestamp(t, timezone.utc) for t, _ in history]
        ax.plot(times, [v for _, v in history], color="#1c7ed6", marker="." if len(history) < 60 else None,
                label="φ (local share)")
        locator = mdates.AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        if target is not None:
            ax.axhline(target, color="#2b8a3e", linestyle="--", linewidth=1, label=f"target {target:.2f}")
            ax.axhspan(target - band, target + band, color="#2b8a3e", alpha=0.12, label=f"band ±{band:.2f}")
        ax.legend(loc="lower right", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no φ history (Prometheus unavailable or no traffic)", ha="center", va="center",
                transform=ax.transAxes)
    ax.set_ylim(0, 1)
    ax.set_ylabel("φ")
    ax.set_title("φ history (UTC) with the target band")
    return _save(fig, path)


def tokens_chart(facts: dict[str, Any], path: Path) -> Path:
    """Input and output tokens per tier (stacked bars)."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    tiers = list(facts["tiers"])
    inputs = [facts["tiers"][t]["input_tokens"] for t in tiers]
    outputs = [facts["tiers"][t]["output_tokens"] for t in tiers]
    ax.bar(tiers, inputs, color=[TIER_COLOURS.get(t, "#868e96") for t in tiers], label="input")
    ax.bar(tiers, outputs, bottom=inputs, color=[TIER_COLOURS.get(t, "#868e96") for t in tiers], alpha=0.5,
           label="output")
    ax.set_ylabel("tokens")
    ax.set_title("Tokens per tier (input solid, output light)")
    return _save(fig, path)


def latency_chart(facts: dict[str, Any], path: Path) -> Path:
    """Latency p50 and p95 per deployment."""
    fig, ax = plt.subplots(figsize=(7, 3.6))
    names = sorted(facts["deployments"])
    p50 = [facts["deployments"][n]["latency_p50_s"] or 0.0 for n in names]
    p95 = [facts["deployments"][n]["latency_p95_s"] or 0.0 for n in names]
    positions = range(len(names))
    ax.bar([p - 0.2 for p in positions], p50, width=0.4, label="p50", color="#74c0fc")
    ax.bar([p + 0.2 for p in positions], p95, width=0.4, label="p95", color="#1c7ed6")
    ax.set_xticks(list(positions), names, rotation=15, fontsize=8)
    ax.set_ylabel("seconds")
    ax.set_title("Latency per deployment")
    if names:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no latency data", ha="center", va="center", transform=ax.transAxes)
    return _save(fig, path)
