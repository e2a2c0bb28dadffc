"""Runtime configuration of a fake upstream: latency, error injection and reply size."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FakeConfig:
    """Tunable behaviour of a fake upstream; every field can be changed at runtime."""

    latency_ms: float = 0.0  # sleep before each chat response starts
    latency_jitter_ms: float = 0.0  # extra latency drawn uniformly from [0, jitter]
    error_rate: float = 0.0  # probability that a chat request fails
    error_status: int = 500  # HTTP status of injected failures
    fail_next: int = 0  # the next N chat requests fail (decremented per failure)
    chunk_delay_ms: float = 0.0  # sleep between streamed chunks
    reply_words: int = 16  # reply length when max_tokens / num_predict is not given
    seed: int = 0  # seed of the error-injection and jitter random generators
    reply_text: str = ""  # when set, every chat reply's content is exactly this text (streamed word by word)

    def updated(self, changes: dict[str, Any]) -> FakeConfig:
        """Return a copy with `changes` applied; raise ValueError on an unknown key or bad value."""
        if not isinstance(changes, dict):
            raise ValueError("config must be a JSON object")
        for key, value in changes.items():
            _check(key, value)
        coerced = {key: _RULES[key][0](value) for key, value in changes.items()}
        return dataclasses.replace(self, **coerced)

    def as_dict(self) -> dict[str, Any]:
        """Return the config as a plain JSON-serialisable dict."""
        return dataclasses.asdict(self)


# field -> (type, minimum, maximum); None means unbounded.
_RULES: dict[str, tuple[type, float | None, float | None]] = {
    "latency_ms": (float, 0, 600_000),
    "latency_jitter_ms": (float, 0, 600_000),
    "error_rate": (float, 0, 1),
    "error_status": (int, 400, 599),
    "fail_next": (int, 0, None),
    "chunk_delay_ms": (float, 0, 60_000),
    "reply_words": (int, 1, 100_000),
    "seed": (int, None, None),
    "reply_text": (str, 0, 100_000),  # bounds: length in characters
}


def _check(key: str, value: Any) -> None:
    """Raise ValueError unless `value` is acceptable for config field `key`."""
    if key not in _RULES:
        raise ValueError(f"unknown config key {key!r}; allowed keys: {sorted(_RULES)}")
    kind, low, high = _RULES[key]
    if kind is str:
        if not isinstance(value, str) or len(value) > (high or 0):
            raise ValueError(f"{key} must be a string of at most {high} characters, got {type(value).__name__}")
        return
    allowed = (int,) if kind is int else (int, float)
    if isinstance(value, bool) or not isinstance(value, allowed):
        expected = "an integer" if kind is int else "a number"
        raise ValueError(f"{key} must be {expected}, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{key} must be finite, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{key} must be in [{low}, {high}], got {value!r}")
