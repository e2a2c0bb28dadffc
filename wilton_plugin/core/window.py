"""The φ window: the local share of work over the last N decisions or the last T seconds."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class WindowTotals:
    """Work in the window: total, local and frontier, plus the number of decisions and when the oldest
    of them was recorded (how old the data behind φ is, at most; None while the window is empty)."""

    total: float = 0.0
    local: float = 0.0
    count: int = 0
    oldest: float | None = field(default=None, compare=False)

    @property
    def phi(self) -> float | None:
        """Observed local share, or None while the window is empty."""
        return self.local / self.total if self.total > 0 else None

    @property
    def frontier(self) -> float:
        """Work served by the frontier in the window."""
        return self.total - self.local


class PhiWindow:
    """A sliding window of (time, local work, total work) entries with running sums.

    ``kind`` is ``count`` (keep the last ``size`` entries) or ``time`` (keep entries younger than
    ``size`` seconds). The clock value is passed in by the caller.
    """

    MAX_ENTRIES = 200_000  # hard bound on memory for time windows under heavy traffic

    def __init__(self, kind: str, size: float) -> None:
        if kind not in ("count", "time"):
            raise ValueError(f"window kind {kind!r}: expected 'count' or 'time'")
        self.kind = kind
        self.size = size
        self._entries: deque[tuple[float, float, float]] = deque()
        self._total = 0.0
        self._local = 0.0

    def add(self, now: float, local: float, total: float) -> None:
        """Record one decision's work (``local`` is ``total`` when served locally, else 0)."""
        self._entries.append((now, local, total))
        self._total += total
        self._local += local
        self._evict(now)

    def totals(self, now: float) -> WindowTotals:
        """Totals over the window as of ``now``."""
        self._evict(now)
        if not self._entries:
            self._total = self._local = 0.0
        oldest = self._entries[0][0] if self._entries else None
        return WindowTotals(total=self._total, local=self._local, count=len(self._entries), oldest=oldest)

    def _evict(self, now: float) -> None:
        entries = self._entries
        if self.kind == "count":
            limit = int(self.size)
            while len(entries) > limit:
                self._drop(entries.popleft())
        else:
            horizon = now - self.size
            while entries and (entries[0][0] < horizon or len(entries) > self.MAX_ENTRIES):
                self._drop(entries.popleft())

    def _drop(self, entry: tuple[float, float, float]) -> None:
        _, local, total = entry
        self._total -= total
        self._local -= local
