"""The admin API's configuration, read once from the environment at start-up.

Signing keys (HS256 secret, or RS256/ES256 PEM files) with an optional previous key accepted until
a deadline, admin users with scrypt hashes, token lifetime, and the development flag. Anything
wrong raises ``ConfigError`` naming the variable; secret values are printed as ``<redacted>``.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from wilton_plugin.admin.passwords import SEED_PASSWORD, BadHash, hash_password, parse_hash, verify_password
from wilton_plugin.errors import ConfigError

log = logging.getLogger("wilton")

READ, WRITE = "wilton:read", "wilton:write"
ALL_SCOPES = frozenset({READ, WRITE})
REDACTED = "<redacted>"
MIN_SECRET_BYTES = 32
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
_SCOPE_WORDS = {"read": {READ}, "write": {READ, WRITE}, "rw": {READ, WRITE}, READ: {READ}, WRITE: {READ, WRITE}}


@dataclass(frozen=True)
class SigningKey:
    """One JWT key: ``sign`` is None for a verify-only (previous) key."""

    kid: str
    algorithm: str  # HS256 | RS256 | ES256
    verify: Any
    sign: Any = None
    valid_until: float | None = None  # unix time; None = no deadline (the current key)


@dataclass(frozen=True)
class User:
    """An admin user: name, scrypt hash, scopes."""

    name: str
    password_hash: str
    scopes: frozenset[str] = ALL_SCOPES

    @property
    def fingerprint(self) -> str:
        """A short digest of the stored hash, carried in tokens so that a new password revokes them.

        The hash's salt is secret, so the digest tells a token holder nothing about the password."""
        return hashlib.sha256(b"wilton-password-fingerprint\0" + self.password_hash.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class AdminConfig:
    """Everything the admin routes need besides the service."""

    users: Mapping[str, User] = field(default_factory=dict)
    current: SigningKey | None = None
    previous: SigningKey | None = None
    expires_seconds: int = 300
    dev_mode: bool = False

    def keys(self) -> dict[str, SigningKey]:
        """Verification keys by kid."""
        return {k.kid: k for k in (self.current, self.previous) if k is not None}


def load_admin_config(environ: Mapping[str, str]) -> AdminConfig:
    """Parse and check the admin settings; ConfigError (one line) on anything invalid."""
    dev = _dev_mode(environ)
    users = _users(environ)
    ui_name = _ui_user_name(environ) if users is None else None
    users = users or {}
    current = _current_key(environ)
    previous = _previous_key(environ, current)
    if current is None and (users or ui_name or dev):
        if not dev:
            raise ConfigError(
                "WILTON_JWT_SECRET", "<unset>",
                "Admin users are configured but no signing key: set WILTON_JWT_SECRET (>= 32 bytes), "
                "WILTON_JWT_SECRET_FILE or WILTON_JWT_PRIVATE_KEY_FILE (a random per-process key would "
                "break tokens across workers), or WILTON_DEV_MODE=1.",
            )
        secret = secrets.token_bytes(32)
        current = SigningKey(_kid("hs256", secret), "HS256", secret, secret)
        log.warning("wilton: WILTON_DEV_MODE=1 and no JWT key: random per-process secret, tokens work only on the worker that issued them")
    if current is None and previous is not None:
        raise ConfigError("WILTON_JWT_PREVIOUS_SECRET", REDACTED, "A previous key needs a current one (WILTON_JWT_SECRET or WILTON_JWT_PRIVATE_KEY_FILE).")
    if ui_name is not None and current is not None:
        users = {ui_name: _ui_user(ui_name, environ["UI_PASSWORD"], current)}
    for user in users.values():
        if verify_password(SEED_PASSWORD, user.password_hash) and not dev:
            raise ConfigError(
                "WILTON_ADMIN_USERS", f"{user.name}:{REDACTED}",
                f"User '{user.name}' has the well-known password '{SEED_PASSWORD}'; choose another or set WILTON_DEV_MODE=1.",
            )
    expires = _int(environ, "WILTON_JWT_EXPIRES_SECONDS", 300, 10, 86400)
    return AdminConfig(users=users, current=current, previous=previous, expires_seconds=expires, dev_mode=dev)


def _dev_mode(environ: Mapping[str, str]) -> bool:
    value = environ.get("WILTON_DEV_MODE", "")
    if value not in ("", "0", "1"):
        raise ConfigError("WILTON_DEV_MODE", value, "Valid values: 1 (development) or 0/unset.")
    return value == "1"


def _int(environ: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = lo - 1
    if not lo <= value <= hi:
        raise ConfigError(name, raw, f"An integer number of seconds in [{lo}, {hi}].")
    return value


def _read_secret(environ: Mapping[str, str], name: str) -> bytes | None:
    value, path = environ.get(name), environ.get(f"{name}_FILE")
    if value and path:
        raise ConfigError(name, REDACTED, f"Set {name} or {name}_FILE, not both.")
    if path:
        try:
            value = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{name}_FILE", path, f"A readable file holding the secret ({exc.strerror}).") from None
    if not value:
        return None
    secret = value.encode()
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(name, REDACTED, f"An HS256 secret of at least {MIN_SECRET_BYTES} bytes (got {len(secret)}).")
    return secret


def _kid(prefix: str, material: bytes) -> str:
    return f"{prefix}-{hashlib.sha256(b'wilton-kid:' + material).hexdigest()[:16]}"


def _pem(name: str, path: str, private: bool) -> Any:
    from cryptography.hazmat.primitives import serialization

    try:
        data = Path(path).read_bytes()
        if private:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_pem_public_key(data)
    except OSError as exc:
        raise ConfigError(name, path, f"A readable PEM file ({exc.strerror}).") from None
    except (ValueError, TypeError):
        kind = "an unencrypted PEM private key" if private else "a PEM public key"
        raise ConfigError(name, path, f"Not {kind} (RSA for RS256, EC P-256 for ES256).") from None


def _asymmetric(name: str, public: Any) -> tuple[str, bytes]:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public, rsa.RSAPublicKey):
        alg = "RS256"
    elif isinstance(public, ec.EllipticCurvePublicKey) and public.curve.name == "secp256r1":
        alg = "ES256"
    else:
        raise ConfigError(name, type(public).__name__, "An RSA key (RS256) or an EC P-256 key (ES256).")
    return alg, _spki(public)


def _spki(public: Any) -> bytes:
    """A public key's SubjectPublicKeyInfo in DER: equal bytes, same key."""
    from cryptography.hazmat.primitives import serialization

    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _current_key(environ: Mapping[str, str]) -> SigningKey | None:
    secret = _read_secret(environ, "WILTON_JWT_SECRET")
    private_path = environ.get("WILTON_JWT_PRIVATE_KEY_FILE")
    if secret and private_path:
        raise ConfigError("WILTON_JWT_PRIVATE_KEY_FILE", private_path, "Set an HS256 secret or a private key file, not both.")
    kid = environ.get("WILTON_JWT_KID") or None
    if secret:
        return SigningKey(kid or _kid("hs256", secret), "HS256", secret, secret)
    if private_path:
        private = _pem("WILTON_JWT_PRIVATE_KEY_FILE", private_path, private=True)
        public_path = environ.get("WILTON_JWT_PUBLIC_KEY_FILE")
        public = private.public_key()
        alg, der = _asymmetric("WILTON_JWT_PRIVATE_KEY_FILE", public)
        if public_path:  # optional, and then it must be the private key's own: tokens are signed with one, checked with the other
            given = _pem("WILTON_JWT_PUBLIC_KEY_FILE", public_path, private=False)
            if _spki(given) != der:
                raise ConfigError("WILTON_JWT_PUBLIC_KEY_FILE", public_path,
                                  "Not the public key of WILTON_JWT_PRIVATE_KEY_FILE; give that key's public half, "
                                  "or leave it unset (it is derived from the private key).")
            public = given
        return SigningKey(kid or _kid(alg.lower(), der), alg, public, private)
    return None


def _previous_key(environ: Mapping[str, str], current: SigningKey | None) -> SigningKey | None:
    secret = _read_secret(environ, "WILTON_JWT_PREVIOUS_SECRET")
    public_path = environ.get("WILTON_JWT_PREVIOUS_PUBLIC_KEY_FILE")
    if secret and public_path:
        raise ConfigError("WILTON_JWT_PREVIOUS_PUBLIC_KEY_FILE", public_path, "Set a previous secret or a previous public key, not both.")
    if not secret and not public_path:
        return None
    until = _deadline(environ.get("WILTON_JWT_PREVIOUS_VALID_UNTIL"))
    kid = environ.get("WILTON_JWT_PREVIOUS_KID") or None
    if secret:
        key = SigningKey(kid or _kid("hs256", secret), "HS256", secret, None, until)
    else:
        public = _pem("WILTON_JWT_PREVIOUS_PUBLIC_KEY_FILE", str(public_path), private=False)
        alg, der = _asymmetric("WILTON_JWT_PREVIOUS_PUBLIC_KEY_FILE", public)
        key = SigningKey(kid or _kid(alg.lower(), der), alg, public, None, until)
    if current is not None and key.kid == current.kid:
        raise ConfigError("WILTON_JWT_PREVIOUS_KID", key.kid, "The previous key needs a kid different from the current key's.")
    return key


def _deadline(raw: str | None) -> float:
    if not raw:
        raise ConfigError("WILTON_JWT_PREVIOUS_VALID_UNTIL", "<unset>", "A previous key needs a deadline: unix time or ISO 8601.")
    try:
        value = float(raw)
    except ValueError:
        try:
            moment = datetime.fromisoformat(raw)
        except ValueError:
            raise ConfigError("WILTON_JWT_PREVIOUS_VALID_UNTIL", raw, "Unix time or ISO 8601, e.g. 2025-01-31T12:00:00Z.") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        value = moment.timestamp()
    if not math.isfinite(value):
        raise ConfigError("WILTON_JWT_PREVIOUS_VALID_UNTIL", raw, "A finite unix time or ISO 8601.")
    return value


def _users(environ: Mapping[str, str]) -> dict[str, User] | None:
    """The users of WILTON_ADMIN_USERS or its file; None when neither is set."""
    inline, path = environ.get("WILTON_ADMIN_USERS"), environ.get("WILTON_ADMIN_USERS_FILE")
    if inline and path:
        raise ConfigError("WILTON_ADMIN_USERS_FILE", path, "Set WILTON_ADMIN_USERS or WILTON_ADMIN_USERS_FILE, not both.")
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError("WILTON_ADMIN_USERS_FILE", path, f"A readable file, one name:hash[:scopes] per line ({exc.strerror}).") from None
        return _parse_users("WILTON_ADMIN_USERS_FILE", [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")])
    if inline:
        return _parse_users("WILTON_ADMIN_USERS", [e.strip() for e in inline.split(",") if e.strip()])
    return None


def _ui_user_name(environ: Mapping[str, str]) -> str | None:
    """The fallback user's name when ``UI_PASSWORD`` is set (LiteLLM's UI convention), checked."""
    password = environ.get("UI_PASSWORD")
    if not password:
        return None
    name = environ.get("UI_USERNAME") or "admin"
    if not _NAME.match(name):
        raise ConfigError("UI_USERNAME", name, "A user name of 1-64 of A-Z a-z 0-9 _ . @ -.")
    if password == SEED_PASSWORD and environ.get("WILTON_DEV_MODE") != "1":
        raise ConfigError("UI_PASSWORD", REDACTED, f"The well-known password '{SEED_PASSWORD}' is refused; choose another or set WILTON_DEV_MODE=1.")
    return name


def _ui_user(name: str, password: str, key: SigningKey) -> User:
    """The fallback user, its plain-text password hashed here and never logged. The salt is derived
    from the signing key, so every worker and replica with that key makes the same hash (and token
    fingerprint), while the fingerprint stays secret-salted."""
    salt = hmac.new(_key_material(key), b"wilton-ui-password-salt\0" + name.encode(), hashlib.sha256).digest()[:16]
    return User(name, hash_password(password, n=2**12, salt=salt))


def _key_material(key: SigningKey) -> bytes:
    """The secret bytes of a signing key: the HS256 secret, or the private key in DER."""
    if isinstance(key.sign, bytes):
        return key.sign
    from cryptography.hazmat.primitives import serialization

    return key.sign.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _parse_users(source: str, entries: list[str]) -> dict[str, User]:
    users: dict[str, User] = {}
    for number, entry in enumerate(entries, 1):
        name, colon, rest = entry.partition(":")
        encoded, _, scope_text = rest.partition(":")
        # the name only when it is one: an entry without ':' may be a bare hash or password
        shown = f"{name}:{REDACTED}" if colon and _NAME.match(name) else f"entry #{number}: {REDACTED}"
        if not colon or not _NAME.match(name):
            raise ConfigError(source, shown, "Entries are name:hash[:scopes]; names are 1-64 of A-Z a-z 0-9 _ . @ -.")
        try:
            parse_hash(encoded)
        except BadHash as exc:
            raise ConfigError(source, shown, f"The hash must come from `python -m wilton_plugin.admin.passwords hash`: {exc}.") from None
        scopes: set[str] = set()
        for word in re.split(r"[+ ]", scope_text) if scope_text else ["write"]:
            if word not in _SCOPE_WORDS:
                raise ConfigError(source, f"{name}:...:{scope_text}", "Scopes: read, write (read+write), wilton:read, wilton:write, joined by '+'.")
            scopes |= _SCOPE_WORDS[word]
        if name in users:
            raise ConfigError(source, shown, f"User '{name}' appears twice.")
        users[name] = User(name, encoded, frozenset(scopes))
    return users
