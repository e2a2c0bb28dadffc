"""JWTs for the admin API (pyjwt) and the failed-login limiter.

Tokens carry ``iss`` wilton, ``aud`` wilton-admin, ``sub``, ``iat``/``nbf``/``exp``, ``jti``,
``scope``, ``pwf`` (the user's password fingerprint) and a ``kid`` header; they are signed with the
current key only and verified with the key their ``kid`` names, which must be the current key or the
previous one within its grace. A token is worth what its user is worth *now*: its ``sub`` must be a
configured user, its ``pwf`` that user's current fingerprint (a new password revokes every older
token), and it grants only the scopes both the token and the user's current entry have.
"""

from __future__ import annotations

import hmac
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

import jwt

from wilton_plugin.admin.config import AdminConfig

ISSUER, AUDIENCE = "wilton", "wilton-admin"
LEEWAY_S = 5.0  # clock skew tolerated between replicas


class InvalidToken(Exception):
    """The token is not acceptable; ``str`` says why (for the log, not for the client)."""


@dataclass(frozen=True)
class Principal:
    """Who is calling and what they may do."""

    who: str
    scopes: frozenset[str]


def issue_token(config: AdminConfig, subject: str, scopes: frozenset[str], now: float | None = None) -> str:
    """A signed token for ``subject`` with the current key."""
    key = config.current
    if key is None or key.sign is None:
        raise InvalidToken("no signing key configured")
    user = config.users.get(subject)
    if user is None:
        raise InvalidToken("not a configured user")
    iat = int(time.time() if now is None else now)
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": subject,
        "iat": iat,
        "nbf": iat,
        "exp": iat + config.expires_seconds,
        "jti": uuid.uuid4().hex,
        "scope": " ".join(sorted(scopes)),
        "pwf": user.fingerprint,
    }
    return jwt.encode(claims, key.sign, algorithm=key.algorithm, headers={"kid": key.kid})


def verify_token(config: AdminConfig, token: str, now: float | None = None) -> Principal:
    """The token's principal; InvalidToken for any defect (alg, kid, signature, claims, expiry)."""
    now = time.time() if now is None else now
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        raise InvalidToken(f"malformed: {exc}") from None
    key = config.keys().get(str(header.get("kid")))
    if key is None:
        raise InvalidToken("unknown kid")
    if header.get("alg") != key.algorithm:
        raise InvalidToken(f"algorithm {header.get('alg')!r} is not the key's {key.algorithm}")
    if key.valid_until is not None and now > key.valid_until:
        raise InvalidToken("signed with a retired key")
    try:
        claims = jwt.decode(
            token,
            key.verify,
            algorithms=[key.algorithm],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=LEEWAY_S,
            options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "pwf"], "verify_iat": False},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(type(exc).__name__) from None
    if not isinstance(claims.get("iat"), int | float) or claims["iat"] > now + LEEWAY_S:
        raise InvalidToken("iat in the future")
    if claims["exp"] + LEEWAY_S < now or claims["nbf"] - LEEWAY_S > now:  # decode checked wall time; honour ``now``
        raise InvalidToken("expired or not yet valid")
    user = config.users.get(claims["sub"]) if isinstance(claims["sub"], str) else None
    if user is None:  # removed since (or never configured): the signing key outlives users
        raise InvalidToken("subject is not a configured user")
    fingerprint = claims["pwf"]
    if not isinstance(fingerprint, str) or not hmac.compare_digest(fingerprint.encode(), user.fingerprint.encode()):
        raise InvalidToken("the user's password changed since the token was issued")
    scope = claims.get("scope")
    scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    return Principal(user.name, scopes & user.scopes)  # a demoted user keeps only what they have now


class LoginLimiter:
    """At most ``limit`` failed logins per (username, client IP) in ``period`` seconds."""

    def __init__(self, limit: int = 5, period: float = 60.0, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self.limit, self.period, self.clock, self.max_keys = limit, period, clock, max_keys
        self.failures: OrderedDict[tuple[str, str], deque[float]] = OrderedDict()

    def retry_after(self, username: str, ip: str) -> int:
        """Seconds to wait before trying again, 0 when allowed."""
        recent = self._recent((username, ip))
        if len(recent) < self.limit:
            return 0
        return max(1, int(recent[0] + self.period - self.clock()) + 1)

    def reserve(self, username: str, ip: str) -> int:
        """Before checking a password: seconds to wait (nothing reserved), or 0 with the attempt counted
        as failed until ``succeeded``, so concurrent attempts never check more than ``limit`` passwords."""
        wait = self.retry_after(username, ip)
        if not wait:
            self.failed(username, ip)
        return wait

    def failed(self, username: str, ip: str) -> None:
        """Count one failed login."""
        key = (username, ip)
        recent = self._recent(key)
        recent.append(self.clock())
        self.failures[key] = recent
        self.failures.move_to_end(key)
        while len(self.failures) > self.max_keys:
            self.failures.popitem(last=False)

    def succeeded(self, username: str, ip: str) -> None:
        """Forget the failures of this (username, IP), the reserved attempt included."""
        self.failures.pop((username, ip), None)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        recent = self.failures.get(key, deque())
        cutoff = self.clock() - self.period
        while recent and recent[0] <= cutoff:
            recent.popleft()
        if not recent:
            self.failures.pop(key, None)
        return recent
