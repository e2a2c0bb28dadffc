"""The balancer's state in this process: what a decision reads and writes, and the in-process store.

``LocalStore`` is exact within one worker (each worker balancing alone) and is also the local mirror a
``RedisStore`` routes on while Redis is away (``wilton_plugin.state``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wilton_plugin.core.balancer import settle_debt
from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.core.window import PhiWindow, WindowTotals
from wilton_plugin.settings import WiltonSettings
from wilton_plugin.state_runtime import AUDIT_KEEP, Edit


@dataclass(frozen=True)
class Snapshot:
    """What a decision reads: the debts it needs and the runtime settings."""

    debts: Mapping[str, float]
    runtime: RuntimeSettings
    shared: bool  # True when read from Redis


@dataclass(frozen=True)
class Record:
    """What a decision writes: debt changes and the work it put in the window."""

    now: float
    deltas: Mapping[str, float]
    local: float
    total: float



class LocalStore:
    """In-process state: exact within one worker, each worker balancing alone."""

    shared = False

    def __init__(self, settings: WiltonSettings, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.clock = clock
        self.debts: dict[str, float] = {}
        self.window = PhiWindow(settings.window.kind, settings.window.size)
        self._on_runtime: Callable[[RuntimeSettings], None] | None = None
        self.runtime = RuntimeSettings()
        self.audit: deque[Mapping[str, Any]] = deque(maxlen=AUDIT_KEEP)

    @property
    def runtime(self) -> RuntimeSettings:
        """The runtime settings (for a Redis store's mirror: the last ones read or written)."""
        return self._runtime

    @runtime.setter
    def runtime(self, value: RuntimeSettings) -> None:
        self._runtime = value
        if self._on_runtime is not None:
            self._on_runtime(value)

    def watch_runtime(self, callback: Callable[[RuntimeSettings], None]) -> None:
        """Call ``callback`` with the runtime settings whenever they are set (written, or read anew)."""
        self._on_runtime = callback

    async def snapshot(self, debt_keys: tuple[str, ...]) -> Snapshot:
        """Current debts and runtime settings."""
        return Snapshot({k: self.debts.get(k, 0.0) for k in debt_keys}, self.runtime, shared=False)

    async def record(self, record: Record) -> WindowTotals:
        """Apply one decision; returns the window totals after it."""
        return self.apply(record)

    def apply(self, record: Record) -> WindowTotals:
        """Synchronous core of ``record``, also used as the mirror of the Redis store."""
        for key, delta in record.deltas.items():
            self.debts[key] = settle_debt(self.debts.get(key, 0.0), delta, self.settings.balance.max_debt)
        if record.total > 0:
            self.window.add(record.now, record.local, record.total)
        return self.window.totals(record.now)

    async def totals(self) -> WindowTotals:
        """Window totals now."""
        return self.window.totals(self.clock())

    async def set_runtime(self, runtime: RuntimeSettings, audit: Sequence[Mapping[str, Any]] = ()) -> None:
        """Replace the runtime settings (admin API), with the audit entries of the change (oldest first)."""
        self.runtime = runtime
        self.audit.extendleft(audit)

    async def update_runtime(self, edit: Edit) -> tuple[RuntimeSettings, list[Mapping[str, Any]]]:
        """Apply ``edit`` to the runtime settings; the settings and audit entries written (none: unchanged)."""
        runtime, audit = edit(self.runtime)
        if runtime == self.runtime and not audit:
            return runtime, []
        await self.set_runtime(runtime, audit)
        return runtime, list(audit)

    async def read_runtime(self) -> RuntimeSettings:
        """The runtime settings as published."""
        return self.runtime

    async def changes(self) -> list[Mapping[str, Any]]:
        """The last audit entries, newest first."""
        return list(self.audit)

    def runtime_hint(self) -> RuntimeSettings:
        """The runtime settings last seen, without I/O."""
        return self.runtime

    async def close(self) -> None:
        """Nothing to release."""
