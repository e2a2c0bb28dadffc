"""Per-deployment running statistics fed by the callbacks: latency and tokens, as EWMAs."""

from __future__ import annotations

import math


class Ewma:
    """Exponentially weighted moving averages keyed by name; ``alpha`` weighs the newest sample."""

    def __init__(self, alpha: float, max_keys: int = 10_000) -> None:
        if not 0.0 < alpha <= 1.0:
            raise ValueError(f"alpha {alpha!r}: expected a number in (0, 1]")
        self.alpha = alpha
        self._values: dict[str, float] = {}
        self._max_keys = max_keys

    def update(self, key: str, sample: float) -> float:
        """Fold one sample in and return the new average; non-finite or negative samples are ignored."""
        if not math.isfinite(sample) or sample < 0:
            return self._values.get(key, math.nan)
        old = self._values.get(key)
        value = sample if old is None else old + self.alpha * (sample - old)
        if old is None and len(self._values) >= self._max_keys:
            self._values.pop(next(iter(self._values)))
        self._values[key] = value
        return value

    def get(self, key: str) -> float | None:
        """The current average, or None before the first sample."""
        return self._values.get(key)

    def snapshot(self) -> dict[str, float]:
        """A copy of every average."""
        return dict(self._values)
