"""Where the balancer's state lives: in this process, or in Redis shared by every worker and replica.

``LocalStore`` (``state_local``) keeps debts and the φ window in memory. ``RedisStore`` keeps them in Redis, reached
through the LiteLLM router's own Redis client (``router.cache.redis_cache``, a single Redis or a
Redis Cluster), so that every worker and replica holds one global share. Each decision costs one
pipelined read and one atomic Lua write. When Redis fails, the store carries on with its local
mirror (seeded with the last global values it saw), queues what it records, and replays the queue
when Redis answers again: one replay at a time, each record applied at most once (a write that
timed out after Redis ran it is recognised by its id and skipped). The queue holds ``MAX_PENDING``
records; past that the oldest are dropped, each one counted (``wilton_state_dropped_records_total``)
and the first of an outage logged.

Every key lives under one Redis Cluster hash tag derived from ``redis_prefix`` (``wilton:`` gives
``{wilton}:debts``, ``{wilton}:window``, ...), so the Lua scripts (a decision; an admin change with its audit entry), which
touch several keys, work on a cluster too. Admin changes are compare-and-set writes (``state_runtime``).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.core.window import WindowTotals
from wilton_plugin.settings import WiltonSettings
from wilton_plugin.state_local import LocalStore, Record, Snapshot
from wilton_plugin.state_runtime import (AUDIT_KEEP, CAS_ATTEMPTS, PUBLISH_LUA, Edit, WriteConflict, parse_runtime,
                                         publish_runtime)

log = logging.getLogger("wilton")

REDIS_TIMEOUT_S = 0.25
MAX_PENDING = 10_000  # records kept for replay while Redis is away
APPLIED_TTL_S = 86_400  # a writer's set of unacknowledged record ids outlives the writer by this much
MAX_ACKS = 64  # acknowledged record ids carried by one write

# KEYS: debts hash, window list, window sums hash, this writer's set of unacknowledged record ids.
# ARGV: max_debt, kind, size, now, local, total, max_entries, record id ('' = none), ttl, n_acks,
#       n_acks acknowledged ids, then (debt key, delta) pairs. A record id already in the set was
#       applied by an earlier attempt whose reply was lost: its changes are skipped.
# Returns the window's local and total work, its entry count and its oldest entry's time ('' when empty).
_RECORD_LUA = """
local max_debt = tonumber(ARGV[1])
local id, n_acks = ARGV[8], tonumber(ARGV[10])
if n_acks > 0 then redis.call('SREM', KEYS[4], unpack(ARGV, 11, 10 + n_acks)) end
local fresh = true
if id ~= '' then fresh = redis.call('SADD', KEYS[4], id) == 1 end
if id ~= '' or n_acks > 0 then redis.call('EXPIRE', KEYS[4], ARGV[9]) end
if fresh then
  for i = 11 + n_acks, #ARGV, 2 do
    local v = tonumber(redis.call('HGET', KEYS[1], ARGV[i]) or '0') + tonumber(ARGV[i + 1])
    if v > max_debt then v = max_debt elseif v < -max_debt then v = -max_debt end
    redis.call('HSET', KEYS[1], ARGV[i], string.format('%.17g', v))
  end
  if tonumber(ARGV[6]) > 0 then
    redis.call('RPUSH', KEYS[2], ARGV[4] .. ',' .. ARGV[5] .. ',' .. ARGV[6])
    redis.call('HINCRBYFLOAT', KEYS[3], 'local', ARGV[5])
    redis.call('HINCRBYFLOAT', KEYS[3], 'total', ARGV[6])
  end
end
local kind, size, now = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
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
local head = redis.call('LINDEX', KEYS[2], 0)
local oldest = head and string.match(head, '^([^,]+)') or ''
return {sums[1] or '0', sums[2] or '0', redis.call('LLEN', KEYS[2]), oldest}
"""


def tagged_prefix(prefix: str) -> str:
    """``prefix`` holding a Redis Cluster hash tag: ``wilton:`` → ``{wilton}:``; one with a tag already is kept."""
    start = prefix.find("{")
    if start >= 0 and prefix.find("}", start + 1) > start + 1:
        return prefix
    body = prefix.rstrip(":") or prefix
    return f"{{{body}}}{prefix[len(body):]}"


class RedisStore:
    """Redis-backed state shared by every worker and replica, with a local fallback.

    ``metrics`` (optional) counts every failed Redis operation under ``wilton_plugin_errors_total{stage="state"}``.
    """

    shared = True

    def __init__(self, settings: WiltonSettings, client: Any, clock: Callable[[], float] = time.time,
                 metrics: Any | None = None) -> None:
        self.settings = settings
        self.client = client
        self.clock = clock
        self.metrics = metrics
        self.mirror = LocalStore(settings, clock)
        p = tagged_prefix(settings.redis_prefix)
        self.writer = uuid.uuid4().hex  # names this store's set of unacknowledged record ids
        self.keys = (f"{p}debts", f"{p}window", f"{p}window_sums", f"{p}applied:{self.writer}")
        self.runtime_key = f"{p}runtime"
        self.audit_key = f"{p}audit"
        self._script = client.register_script(_RECORD_LUA)
        self._publish = client.register_script(PUBLISH_LUA)
        self._ids = itertools.count(1)
        self._acks: list[str] = []  # ids whose write was answered: dropped from the set by a later write
        self._down_until = 0.0
        self._pending: deque[tuple[str, Record]] = deque()  # bounded by _trim_pending, which counts drops
        self._dropping = False  # records were dropped during this outage (logged once)
        self._reconnecting = asyncio.Lock()
        self._runtime_read_at = -1e18
        self._bad_runtime: bytes | str | None = None
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
            except Exception as exc:  # any Redis/network failure: degrade, never fail the request
                self._mark_down("read", exc)
            else:
                self.mirror.debts.update(debts)
                if refresh:
                    self._runtime_read_at = self.clock()
                    self.mirror.runtime = self._parse_runtime(replies[1])
                return Snapshot(debts, self.mirror.runtime, shared=True)
        return await self.mirror.snapshot(debt_keys)

    async def record(self, record: Record) -> WindowTotals:
        """Write one decision atomically; queue it for replay while Redis is away."""
        rid = str(next(self._ids))
        usable = await self._usable()
        local_totals = self.mirror.apply(record)  # after a reconnect's seeding, which must not hold this record
        if usable:
            try:
                return await self._write(record, rid)
            except Exception as exc:
                self._mark_down("write", exc)
        self._pending.append((rid, record))
        self._trim_pending()
        return local_totals

    async def totals(self) -> WindowTotals:
        """Global window totals (evicting expired entries), or the mirror's while Redis is away."""
        if await self._usable():
            try:
                return await self._write(Record(self.clock(), {}, 0.0, 0.0), "")
            except Exception as exc:
                self._mark_down("read", exc)
        return await self.mirror.totals()

    async def set_runtime(self, runtime: RuntimeSettings, audit: Sequence[Mapping[str, Any]] = ()) -> None:
        """Publish runtime settings and their audit entries, whatever was published before (see ``update_runtime``)."""
        await self.update_runtime(lambda _: (runtime, list(audit)))

    async def update_runtime(self, edit: Edit) -> tuple[RuntimeSettings, list[Mapping[str, Any]]]:
        """Apply ``edit`` to the published runtime settings and publish the result with its audit entries in
        one compare-and-set write (read back by every worker and replica within the refresh period). When
        another writer published first, read again and re-apply; WriteConflict after ``CAS_ATTEMPTS``
        reads, WriteOutcomeUnknown when the write got no answer. Returns the settings and entries written."""
        for _ in range(CAS_ATTEMPTS):
            raw = await asyncio.wait_for(self.client.get(self.runtime_key), REDIS_TIMEOUT_S)
            base = self.mirror.runtime = self._parse_runtime(raw)
            runtime, audit = edit(base)
            if runtime == base and not audit:
                return runtime, []
            keys = (self.runtime_key, self.audit_key)
            if await publish_runtime(self._publish, keys, raw, runtime, audit, REDIS_TIMEOUT_S):
                self.mirror.runtime = runtime
                self._runtime_read_at = self.clock()
                return runtime, list(audit)
        raise WriteConflict(f"another writer changed the runtime settings during each of {CAS_ATTEMPTS} attempts")

    async def read_runtime(self) -> RuntimeSettings:
        """The runtime settings as published, read from Redis now (raises when Redis fails)."""
        raw = await asyncio.wait_for(self.client.get(self.runtime_key), REDIS_TIMEOUT_S)
        self.mirror.runtime = self._parse_runtime(raw)
        self._runtime_read_at = self.clock()
        return self.mirror.runtime

    async def changes(self) -> list[Mapping[str, Any]]:
        """The last audit entries, newest first, read from Redis (raises when Redis fails)."""
        raw = await asyncio.wait_for(self.client.lrange(self.audit_key, 0, AUDIT_KEEP - 1), REDIS_TIMEOUT_S)
        return [json.loads(item) for item in raw]

    def runtime_hint(self) -> RuntimeSettings:
        """The runtime settings last seen, without I/O."""
        return self.mirror.runtime

    def watch_runtime(self, callback: Callable[[RuntimeSettings], None]) -> None:
        """Call ``callback`` with the runtime settings whenever they are written or read from Redis."""
        self.mirror.watch_runtime(callback)

    async def close(self) -> None:
        """The client belongs to LiteLLM's router cache: leave it open."""

    async def _write(self, record: Record, rid: str) -> WindowTotals:
        acks, self._acks = self._acks[:MAX_ACKS], self._acks[MAX_ACKS:]
        window = self.settings.window
        args: list[Any] = [self.settings.balance.max_debt, window.kind, window.size, repr(record.now), repr(record.local),
                           repr(record.total), 200_000, rid, APPLIED_TTL_S, len(acks), *acks]
        for key, delta in record.deltas.items():
            args.extend([key, repr(delta)])
        try:
            local, total, count, oldest = await asyncio.wait_for(self._script(keys=list(self.keys), args=args), REDIS_TIMEOUT_S)
        except BaseException:
            self._acks.extend(acks)  # removing an id twice is harmless: send them again
            raise
        if rid:
            self._acks.append(rid)
        return WindowTotals(total=max(0.0, float(total)), local=max(0.0, float(local)), count=int(count),
                            oldest=float(oldest) if oldest else None)

    async def _usable(self) -> bool:
        if self.available:
            return True
        if self.clock() < self._down_until or self._reconnecting.locked():
            return False  # another request is reconnecting: this one routes on the mirror (and queues)
        async with self._reconnecting:
            try:
                await asyncio.wait_for(self.client.ping(), REDIS_TIMEOUT_S)
                if not await asyncio.wait_for(self.client.exists(self.keys[0]), REDIS_TIMEOUT_S):
                    # Redis came back empty (restarted): seed it with our view instead of replaying deltas.
                    # The seed holds the deltas queued so far, so they are dropped in the same step.
                    seed = {k: repr(v) for k, v in self.mirror.debts.items()}
                    self._pending = deque((rid, Record(r.now, {}, r.local, r.total)) for rid, r in self._pending)
                    if seed:
                        await asyncio.wait_for(self.client.hset(self.keys[0], mapping=seed), REDIS_TIMEOUT_S)
                while self._pending:
                    rid, record = self._pending.popleft()
                    try:
                        await self._write(record, rid)
                    except BaseException:
                        self._pending.appendleft((rid, record))  # first again, for the next attempt
                        self._trim_pending()  # requests queued meanwhile may have filled the queue
                        raise
            except Exception as exc:
                self._mark_down("reconnect", exc)
                return False
            self.available = True
            self._dropping = False
        log.warning("wilton: Redis is back; shared state resumed (replayed queued decisions)")
        return True

    def _trim_pending(self) -> None:
        """Drop the oldest queued records past ``MAX_PENDING``: each counted, the first of an outage logged."""
        dropped = 0
        while len(self._pending) > MAX_PENDING:
            self._pending.popleft()
            dropped += 1
        if not dropped:
            return
        if self.metrics is not None:
            self.metrics.state_dropped.inc(dropped)
        if not self._dropping:
            self._dropping = True
            log.error("wilton: Redis is still away and %d decisions are queued for replay; dropping the oldest "
                      "(their debts and window entries will never reach the shared state; counted in "
                      "wilton_state_dropped_records_total)", MAX_PENDING)

    def _mark_down(self, stage: str, exc: BaseException) -> None:
        self._count_error()
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

    def _parse_runtime(self, raw: bytes | str | None) -> RuntimeSettings:
        """The stored runtime settings; a malformed value keeps the last good ones (logged once per value)."""
        if not raw:
            self._bad_runtime = None
            return RuntimeSettings()
        try:
            runtime = parse_runtime(raw)
        except ValueError as exc:
            self._count_error()
            if raw != self._bad_runtime:
                self._bad_runtime = raw
                log.error("wilton: Redis key %s holds malformed runtime settings (%s); keeping the last good ones "
                          "until an admin change rewrites them", self.runtime_key, exc)
            return self.mirror.runtime
        self._bad_runtime = None
        return runtime

    def _count_error(self) -> None:
        if self.metrics is not None:
            self.metrics.errors.labels(stage="state").inc()
