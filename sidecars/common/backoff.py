"""The exponential backoff both sidecars' loops wait by after a failure (pure, no I/O)."""

from __future__ import annotations


class Backoff:
    """Exponential backoff: ``base, 2·base, 4·base, …`` capped at ``cap``; ``reset()`` on success."""

    def __init__(self, base: float, cap: float, factor: float = 2.0):
        self.base = base
        self.cap = max(cap, base)
        self.factor = factor
        self.failures = 0

    def next(self) -> float:
        """The delay before the next attempt (and one more failure counted)."""
        delay = min(self.cap, self.base * self.factor**self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """Back to ``base``: the next failure is a first one."""
        self.failures = 0
