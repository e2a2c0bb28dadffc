"""Task files and run summaries for ``wiltonctl hpc schedule-task`` (pure: no HTTP, no LiteLLM).

A task file is a JSON object ``{"tasks": [...]}`` or a bare list of tasks; see ``examples/README.md``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from wilton_plugin.errors import WiltonError

TIERS = ("selfhost", "edge", "frontier", "local")
LOCAL_TIERS = ("selfhost", "edge")
TASK_KEYS = {"id", "messages", "prompt", "model", "max_tokens", "tier", "team_key"}
ROLES = {"system", "user", "assistant", "tool", "developer"}


class TaskFileError(WiltonError):
    """The task file is unreadable or invalid; ``str(err)`` is one line naming the task and field."""


@dataclass(frozen=True)
class Task:
    """One request to send."""

    id: str
    messages: list[dict[str, Any]]
    model: str = "chat"
    max_tokens: int = 64
    tier: str | None = None
    team_key: str | None = None


@dataclass
class Result:
    """What one task's request gave back."""

    task_id: str
    ok: bool
    status: int | None = None
    tier: str | None = None
    deployment: str | None = None
    model: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    error: str | None = None


def load_tasks(path: str) -> list[Task]:
    """Read and validate a task file; raises TaskFileError with one line."""
    try:
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except OSError as exc:
        raise TaskFileError(f"{path}: cannot read the task file ({exc.strerror})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise TaskFileError(f"{path}: not valid JSON ({exc})") from exc
    return parse_tasks(raw, path)


def parse_tasks(raw: Any, source: str = "tasks") -> list[Task]:
    """Validate decoded JSON as a task list."""
    if isinstance(raw, dict):
        if set(raw) - {"tasks"} or "tasks" not in raw:
            raise TaskFileError(f'{source}: expected {{"tasks": [...]}} or a list of tasks, got keys {sorted(raw)}')
        raw = raw["tasks"]
    if not isinstance(raw, list):
        raise TaskFileError(f"{source}: expected a list of tasks, got {type(raw).__name__}")
    if not raw:
        raise TaskFileError(f"{source}: the task list is empty")
    tasks, seen = [], {}
    for index, item in enumerate(raw):
        task = _task(item, index, source)
        if task.id in seen:
            raise TaskFileError(f"{source}: task {index} (id {task.id!r}): 'id' duplicates task {seen[task.id]}")
        seen[task.id] = index
        tasks.append(task)
    return tasks


def _task(item: Any, index: int, source: str) -> Task:
    where = f"{source}: task {index}"
    if not isinstance(item, dict):
        raise TaskFileError(f"{where}: expected an object, got {type(item).__name__}")
    task_id = item.get("id")
    if isinstance(task_id, bool) or not isinstance(task_id, (str, int)) or str(task_id) == "":
        raise TaskFileError(f"{where}: 'id' has value {task_id!r}; expected a non-empty string or integer")
    where = f"{where} (id {str(task_id)!r})"

    def bad(key: str, expected: str) -> TaskFileError:
        return TaskFileError(f"{where}: {key!r} has value {item.get(key)!r}; expected {expected}")

    unknown = sorted(set(item) - TASK_KEYS)
    if unknown:
        raise TaskFileError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(TASK_KEYS))}")
    if ("messages" in item) == ("prompt" in item):
        raise TaskFileError(f"{where}: needs exactly one of 'messages' (OpenAI format) or 'prompt' (string)")
    if "prompt" in item:
        if not isinstance(item["prompt"], str) or not item["prompt"].strip():
            raise bad("prompt", "a non-empty string")
        messages = [{"role": "user", "content": item["prompt"]}]
    else:
        messages = item["messages"]
        if not isinstance(messages, list) or not messages or not all(_message_ok(m) for m in messages):
            raise bad("messages", 'a non-empty list of {"role": system|user|assistant|tool|developer, "content": string}')
    model = item.get("model", "chat")
    if not isinstance(model, str) or not model:
        raise bad("model", "a non-empty model group name")
    max_tokens = item.get("max_tokens", 64)
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise bad("max_tokens", "a positive integer")
    tier = item.get("tier")
    if tier is not None and tier not in TIERS:
        raise bad("tier", "one of " + ", ".join(TIERS))
    team_key = item.get("team_key")
    if team_key is not None and (not isinstance(team_key, str) or not team_key):
        raise TaskFileError(f"{where}: 'team_key' must be a non-empty string")  # never echo a key
    return Task(str(task_id), messages, model, max_tokens, tier, team_key)


def _message_ok(message: Any) -> bool:
    return (isinstance(message, dict) and message.get("role") in ROLES
            and isinstance(message.get("content"), (str, list)))


# --- summary -----------------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def is_simulated(*names: str | None) -> bool:
    """A deployment is simulated when its id or model says so."""
    return any(name and "simulated" in name.lower() for name in names)


@dataclass
class Row:
    """One tier and deployment of the summary table."""

    tier: str
    deployment: str
    simulated: bool = False
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        p50, p95 = percentile(self.latencies, 0.5), percentile(self.latencies, 0.95)
        return {"tier": self.tier, "deployment": self.deployment, "simulated": self.simulated,
                "requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "tokens": self.prompt_tokens + self.completion_tokens,
                "latency_ms": {"p50": _ms(p50), "p95": _ms(p95)}, "cost_usd": round(self.cost_usd, 8)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def summarise(results: Iterable[Result], *, phi_target: float, target_source: str, elapsed_s: float,
              concurrency: int) -> dict[str, Any]:
    """The run's summary as one JSON-serialisable object."""
    results = list(results)
    rows: dict[tuple[str, str], Row] = {}
    for r in results:
        if not r.ok:
            continue
        tier, deployment = r.tier or "unmanaged", r.deployment or "unknown"
        row = rows.setdefault((tier, deployment), Row(tier, deployment))
        row.simulated = row.simulated or is_simulated(r.deployment, r.model)
        row.requests += 1
        row.prompt_tokens += r.prompt_tokens
        row.completion_tokens += r.completion_tokens
        row.cost_usd += r.cost_usd
        row.latencies.append(r.latency_s)
    ok = [r for r in results if r.ok]
    local = sum(1 for r in ok if r.tier in LOCAL_TIERS)
    observed = local / len(ok) if ok else None
    failures = [{"id": r.task_id, "status": r.status, "error": r.error} for r in results if not r.ok]
    tier_order = {t: i for i, t in enumerate(TIERS)}
    return {
        "tasks": len(results),
        "succeeded": len(ok),
        "failed": len(failures),
        "elapsed_s": round(elapsed_s, 3),
        "concurrency": concurrency,
        "phi": {"observed": None if observed is None else round(observed, 4), "target": phi_target,
                "target_source": target_source, "unit": "requests", "local": local, "total": len(ok),
                "deviation_pp": None if observed is None else round((observed - phi_target) * 100, 2)},
        "rows": [row.as_dict() for _, row in sorted(rows.items(), key=lambda kv: (tier_order.get(kv[0][0], 9), kv[0][1]))],
        "tokens": sum(r.prompt_tokens + r.completion_tokens for r in ok),
        "cost_usd": round(sum(r.cost_usd for r in ok), 8),
        "latency_ms": {"p50": _ms(percentile([r.latency_s for r in ok], 0.5)),
                       "p95": _ms(percentile([r.latency_s for r in ok], 0.95))},
        "failures": failures,
    }


def render(summary: dict[str, Any]) -> str:
    """The summary as a text table for people."""
    header = ("tier", "deployment", "requests", "tokens", "p50 ms", "p95 ms", "cost USD")
    lines = [header]
    for row in summary["rows"]:
        name = row["deployment"] + (" (simulated)" if row["simulated"] else "")
        lines.append((row["tier"], name, str(row["requests"]), str(row["tokens"]), _num(row["latency_ms"]["p50"]),
                      _num(row["latency_ms"]["p95"]), f"{row['cost_usd']:.6f}"))
    lines.append(("total", "", str(summary["succeeded"]), str(summary["tokens"]), _num(summary["latency_ms"]["p50"]),
                  _num(summary["latency_ms"]["p95"]), f"{summary['cost_usd']:.6f}"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = ["  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))).rstrip()
           for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    phi = summary["phi"]
    if phi["observed"] is None:
        out.append(f"phi: no successful request; target {phi['target']:.2f} ({phi['target_source']})")
    else:
        out.append(f"phi observed {phi['observed']:.3f} ({phi['local']}/{phi['total']} local) vs target "
                   f"{phi['target']:.3f} ({phi['target_source']}): {phi['deviation_pp']:+.1f} pp")
    if any(row["simulated"] for row in summary["rows"]):
        out.append("note: deployments marked (simulated) are simulated upstreams, not real models")
    out.append(f"{summary['tasks']} tasks, {summary['succeeded']} succeeded, {summary['failed']} failed "
               f"in {summary['elapsed_s']:.1f}s (concurrency {summary['concurrency']})")
    for failure in summary["failures"][:10]:
        out.append(f"failed: task {failure['id']!r}: {failure['status'] or 'no response'}: {failure['error']}")
    if len(summary["failures"]) > 10:
        out.append(f"... and {len(summary['failures']) - 10} more failures (see --json)")
    return "\n".join(out)


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def progress_bar(done: int, total: int, failed: int, width: int = 30) -> str:
    """One progress line, e.g. ``[#####.....] 120/300 (2 failed)``."""
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}" + (f" ({failed} failed)" if failed else "")
