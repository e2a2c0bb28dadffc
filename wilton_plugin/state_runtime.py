"""The admin API's runtime settings in Redis: their JSON form and their compare-and-set write.

The runtime key holds the settings as JSON with a ``revision`` that every write renews. A change
reads the value, edits it and publishes the result with ``PUBLISH_LUA``, which writes the new
settings and their audit entries only if the key still holds the value that was read. A change made
meanwhile by another worker or replica is therefore never overwritten: the caller reads again and
re-applies its edit (``RedisStore.update_runtime``). A write that the client sent twice (redis-py
re-sends a command whose connection failed) finds its own revision and is applied once.

Failures are told apart by when they happen. Until the write is handed to the client (the read, the
edit) nothing was sent: the error is raised as it is, and nothing changed. Once it is handed over,
a broken connection or a missing answer raises ``WriteOutcomeUnknown``: the command may have reached
Redis, run, and lost only its reply — even a refused reconnect can follow such a send, since redis-py
re-sends after a connection error. An error reply from Redis (``ResponseError``) means the script ran
no write.
"""

from __future__ import annotations

import asyncio
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wilton_plugin.core.engine import RuntimeSettings
from wilton_plugin.errors import StateError

AUDIT_KEEP = 20  # audit entries kept (the admin API's ``last_changes``)
CAS_ATTEMPTS = 5  # reads and writes of one change before it gives up on a runtime that keeps changing

# An edit of the runtime settings: the new settings and their audit entries (oldest first). Pure: a
# conflict runs it again on the settings another writer published.
Edit = Callable[[RuntimeSettings], tuple[RuntimeSettings, Sequence[Mapping[str, Any]]]]

# KEYS: runtime, audit list. ARGV: the runtime value read ('' = none), the new runtime (unique: it
# carries a fresh revision), entries kept, then audit entries (oldest first).
# Returns 1 when written, 2 when this very value was written already (the command was re-sent), 0 when
# the runtime changed since it was read (nothing written). The audit push comes before the runtime is
# set: if it fails (e.g. the key holds another type) nothing is written.
PUBLISH_LUA = """
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[2] then return 2 end
if current ~= ARGV[1] then return 0 end
if #ARGV > 3 then
  redis.call('LPUSH', KEYS[2], unpack(ARGV, 4))
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


# Failures of a write already handed to the client (OSError holds TimeoutError, raised by wait_for).
_SENT_FAILURES = (RedisConnectionError, RedisTimeoutError, OSError)


class WriteOutcomeUnknown(StateError):
    """A shared write was sent but not answered: Redis may or may not have applied it."""


class WriteConflict(StateError):
    """The shared runtime settings kept changing under a change: nothing was written."""


async def publish_runtime(script: Any, keys: Sequence[str], expected: bytes | str | None, runtime: RuntimeSettings,
                          audit: Sequence[Mapping[str, Any]], timeout: float) -> bool:
    """Write ``runtime`` and its audit entries if the runtime key still holds ``expected`` (the raw value
    read, None when absent); False, with nothing written, when another writer changed it first."""
    args = [expected or "", dump_runtime(runtime, uuid.uuid4().hex), AUDIT_KEEP,
            *(json.dumps(entry, sort_keys=True) for entry in audit)]
    try:
        written = await asyncio.wait_for(script(keys=list(keys), args=args), timeout)
    except TimeoutError as exc:
        raise WriteOutcomeUnknown(f"Redis did not answer within {timeout}s") from exc
    except _SENT_FAILURES as exc:
        raise WriteOutcomeUnknown(f"the connection to Redis failed once the write was sent ({type(exc).__name__})") from exc
    return int(written) != 0


def dump_runtime(runtime: RuntimeSettings, revision: str | None = None) -> str:
    """Runtime settings as JSON for Redis, with the revision of the write that publishes them."""
    data: dict[str, Any] = {
        "phi_target": runtime.phi_target,
        "phi_bias": runtime.phi_bias,
        "team_targets": dict(runtime.team_targets),
        "weights": dict(runtime.weights),
    }
    if revision is not None:
        data["revision"] = revision
    return json.dumps(data, sort_keys=True)


def parse_runtime(raw: str | bytes) -> RuntimeSettings:
    """Runtime settings from their JSON form (written by ``dump_runtime``); ValueError if malformed."""
    data = json.loads(raw)  # JSONDecodeError and UnicodeDecodeError are ValueErrors
    if not isinstance(data, dict):
        raise ValueError(f"expected a JSON object, got {type(data).__name__}")
    maps = {name: data.get(name) or {} for name in ("team_targets", "weights")}
    for name, value in maps.items():
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected a JSON object, got {type(value).__name__}")
    target = data.get("phi_target")
    return RuntimeSettings(
        phi_target=None if target is None else _finite("phi_target", target),
        phi_bias=_finite("phi_bias", data.get("phi_bias", 0.0)),
        team_targets={str(k): _finite(f"team_targets.{k}", v) for k, v in maps["team_targets"].items()},
        weights={str(k): _finite(f"weights.{k}", v) for k, v in maps["weights"].items()},
    )


def _finite(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)
