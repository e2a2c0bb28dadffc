"""The bounded, in-memory log of recent routing decisions and their outcomes (per worker).

Read by ``GET /wilton/decisions`` (the insight sidecar analyses it). Each entry is a small frozen
record; the log is a ``deque(maxlen=decision_log_size)``, so memory stays flat however long the
proxy runs. It never holds the prompt text unless ``decision_log_prompts: true``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

#: at most this many characters of prompt text are kept, when prompts are logged at all
MAX_PROMPT_CHARS = 2000


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """One routed request: the decision and what came of it (never the prompt unless enabled)."""

    time: float  # unix seconds, when the outcome arrived
    model_group: str
    tier: str
    deployment: str | None
    reason: str | None  # None when the decision was not seen by this worker
    difficulty: float | None  # the scorer's value in [0, 1]
    latency_s: float | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    team_id: str | None
    status: str  # success | failure
    prompt: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict (without ``prompt`` when it was not recorded)."""
        data = asdict(self)
        if data["prompt"] is None:
            del data["prompt"]
        return data


class DecisionLog:
    """A bounded log of :class:`DecisionRecord`, oldest first."""

    def __init__(self, size: int, prompts: bool = False) -> None:
        self.size = int(size)
        self.prompts = prompts
        self.records: deque[DecisionRecord] = deque(maxlen=self.size)

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: DecisionRecord) -> None:
        """Append (the oldest entry drops out when full; nothing is kept when size is 0)."""
        if self.size:
            self.records.append(record)

    def latest(self, limit: int) -> list[DecisionRecord]:
        """The newest ``limit`` records, oldest first."""
        if limit <= 0:
            return []
        records = self.records
        n = len(records)
        return [records[i] for i in range(max(0, n - limit), n)]

    def prompt_of(self, messages: Sequence[Mapping[str, Any]] | None) -> str | None:
        """The prompt text to keep for a request: None unless prompts are logged."""
        if not self.prompts or not messages:
            return None
        parts = [m.get("content") for m in messages if isinstance(m, Mapping)]
        text = "\n".join(p for p in parts if isinstance(p, str))
        return text[:MAX_PROMPT_CHARS]
