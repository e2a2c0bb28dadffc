"""Where the balancer's state lives: in this process, or in Redis shared by every worker and replica.

``LocalStore`` keeps debts and the φ window in memory. ``RedisStore`` keeps them in Redis, reached
through the LiteLLM router's own Redis client (``router.cache.redis_cache``), so that every worker
and replica holds one global share. Each decision costs one pipelined read and one atomic Lua
write. When Redis fails, the store carries on with its local mirror (seeded with the last global
values it saw), queues what it records, and replays the queue when Redis answers again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wilton_plugin.core.balancer import settle_debt
from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.core.window import PhiWindow, WindowTotals
from wilton_plugin.settings import WiltonSettings

log = logging.getLogger("wilton")

REDIS_TIMEOUT_S = 0.25
MAX_PENDING = 10_000  # records kept for replay while Redis is away

# KEYS: debts hash, window list, window sums hash.
# ARGV: max_debt, kind, size, now, local, total, max_entries, then (debt key, delta) pairs.
_RECORD_LUA = """
local max_debt = tonumber(ARGV[1])
for i = 8, #ARGV, 2 do
  local v = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') + tonumber(ARGV[i + 1])
  if v > max_debt then v = max_debt elseif v < -max_debt then v = -max_debt end
  redis.call('HSET', KEYS[1], ARGV[i], string.format('%.17g', v))
end
local kind, size, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local total = tonumber(ARGV[6])
if total > 0 then
  redis.call('RPUSH', KEYS[2], ARGV[4] .. ',' .. ARGV[5] .. ',' .. ARGV[6])
  redis.call('HINCRBYFLOAT', KEYS[3], 'local', ARGV[5])
  redis.call('HINCRBYFLOAT', KEYS[3], 'total', ARGV[6])
end
local max_entries = tonumber(ARGV[7])
while true do
  local n = redis.call('LLEN', KEYS[2])
  if n == 0 then break end
  local drop = n > max_entries or (kind == 'count' and n > size)
  if not drop and kind == 'time' then
    local head = redis.call('LINDEX', KEYS[2], 0)
    drop = tonumber(string.match(head, '^([^,]+)')) < now - size
  end
  if not drop then break end
  local e = redis.call('LPOP', KEYS[2])
  local ts, l, t = string.match(e, '^([^,]+),([^,]+),([^,]+)$')
  redis.call('HINCRBYFLOAT', KEYS[3], 'local', -tonumber(l))
  redis.call('HINCRBYFLOAT', KEYS[3], 'total', -tonumber(t))
end
if redis.call('LLEN', KEYS[2]) == 0 then redis.call('DEL', KEYS[3]) end
local sums = redis.call('HMGET', KEYS[3], 'local', 'total')
return {sums[1] or '0', sums[2] or '0', redis.call('LLEN', KEYS[2])}
"""


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
        self.runtime = RuntimeSettings()

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

    async def set_runtime(self, runtime: RuntimeSettings) -> None:
        """Replace the runtime settings (admin API)."""
        self.runtime = runtime

    def runtime_hint(self) -> RuntimeSettings:
        """The runtime settings last seen, without I/O."""
        return self.runtime

    async def close(self) -> None:
        """Nothing to release."""


class RedisStore:
    """Redis-backed state shared by every worker and replica, with a local fallback."""

    shared = True

    def __init__(self, settings: WiltonSettings, client: Any, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.mirror = LocalStore(settings, clock)
        p = settings.redis_prefix
        self.keys = (f"{p}debts", f"{p}window", f"{p}window_sums")
        self.runtime_key = f"{p}runtime"
        self._script = client.register_script(_RECORD_LUA)
        self._down_until = 0.0
        self._pending: deque[Record] = deque(maxlen=MAX_PENDING)
        self._runtime_read_at = -1e18
        self.available = True

    async def snapshot(self, debt_keys: tuple[str, ...]) -> Snapshot:
        """Debts from Redis (the mirror while Redis is away) and runtime settings (cached)."""
        if await self._usable():
            try:
                async with self.client.pipeline(transaction=False) as pipe:
                    pipe.hmget(self.keys[0], *debt_keys)
                    refresh = self.clock() - self._runtime_read_at >= self.settings.runtime_refresh_seconds
                    if refresh:
                        pipe.get(self.runtime_key)
                    replies = await asyncio.wait_for(pipe.execute(), REDIS_TIMEOUT_S)
                debts = {k: float(v) if v is not None else 0.0 for k, v in zip(debt_keys, replies[0])}
                self.mirror.debts.update(debts)
                if refresh:
                    self._runtime_read_at = self.clock()
                    self.mirror.runtime = parse_runtime(replies[1]) if replies[1] else RuntimeSettings()
                return Snapshot(debts, self.mirror.runtime, shared=True)
            except Exception as exc:  # any Redis/network failure: degrade, never fail the request
                self._mark_down("read", exc)
        return await self.mirror.snapshot(debt_keys)

    async def record(self, record: Record) -> WindowTotals:
        """Write one decision atomically; queue it for replay while Redis is away."""
        local_totals = self.mirror.apply(record)
        if await self._usable():
            try:
                return await self._write(record)
            except Exception as exc:
                self._mark_down("write", exc)
        self._pending.append(record)
        return local_totals

    async def totals(self) -> WindowTotals:
        """Global window totals (evicting expired entries), or the mirror's while Redis is away."""
        if await self._usable():
            try:
                return await self._write(Record(self.clock(), {}, 0.0, 0.0))
            except Exception as exc:
                self._mark_down("read", exc)
        return await self.mirror.totals()

    async def set_runtime(self, runtime: RuntimeSettings) -> None:
        """Publish runtime settings to every worker and replica (read back within the refresh period)."""
        await asyncio.wait_for(self.client.set(self.runtime_key, dump_runtime(runtime)), REDIS_TIMEOUT_S)
        self.mirror.runtime = runtime
        self._runtime_read_at = self.clock()

    def runtime_hint(self) -> RuntimeSettings:
        """The runtime settings last seen, without I/O."""
        return self.mirror.runtime

    async def close(self) -> None:
        """The client belongs to LiteLLM's router cache: leave it open."""

    async def _write(self, record: Record) -> WindowTotals:
        args: list[Any] = [
            self.settings.balance.max_debt,
            self.settings.window.kind,
            self.settings.window.size,
            repr(record.now),
            repr(record.local),
            repr(record.total),
            200_000,
        ]
        for key, delta in record.deltas.items():
            args.extend([key, repr(delta)])
        local, total, count = await asyncio.wait_for(self._script(keys=list(self.keys), args=args), REDIS_TIMEOUT_S)
        return WindowTotals(total=max(0.0, float(total)), local=max(0.0, float(local)), count=int(count))

    async def _usable(self) -> bool:
        if self.available:
            return True
        if self.clock() < self._down_until:
            return False
        try:
            await asyncio.wait_for(self.client.ping(), REDIS_TIMEOUT_S)
            if not await asyncio.wait_for(self.client.exists(self.keys[0]), REDIS_TIMEOUT_S):
                # Redis came back empty (restarted): seed it with our view instead of replaying deltas.
                if self.mirror.debts:
                    await asyncio.wait_for(
                        self.client.hset(self.keys[0], mapping={k: repr(v) for k, v in self.mirror.debts.items()}),
                        REDIS_TIMEOUT_S,
                    )
                self._pending = deque((Record(r.now, {}, r.local, r.total) for r in self._pending), maxlen=MAX_PENDING)
            while self._pending:
                await self._write(self._pending[0])
                self._pending.popleft()
        except Exception as exc:
            self._mark_down("reconnect", exc)
            return False
        self.available = True
        log.warning("wilton: Redis is back; shared state resumed (replayed queued decisions)")
        return True

    def _mark_down(self, stage: str, exc: BaseException) -> None:
        if self.available:
            log.warning(
                "wilton: Redis %s failed (%s: %s); routing on local state, retrying every %.1fs",
                stage,
                type(exc).__name__,
                exc,
                self.settings.redis_retry_seconds,
            )
        self.available = False
        self._down_until = self.clock() + self.settings.redis_retry_seconds


def dump_runtime(runtime: RuntimeSettings) -> str:
    """Runtime settings as JSON for Redis."""
    return json.dumps(
        {
            "phi_target": runtime.phi_target,
            "phi_bias": runtime.phi_bias,
            "team_targets": dict(runtime.team_targets),
            "weights": dict(runtime.weights),
        },
        sort_keys=True,
    )


def parse_runtime(raw: str | bytes) -> RuntimeSettings:
    """Runtime settings from their JSON form (written by ``dump_runtime``)."""
    data = json.loads(raw)
    return RuntimeSettings(
        phi_target=data.get("phi_target"),
        phi_bias=float(data.get("phi_bias", 0.0)),
        team_targets={str(k): float(v) for k, v in (data.get("team_targets") or {}).items()},
        weights={str(k): float(v) for k, v in (data.get("weights") or {}).items()},
    )
