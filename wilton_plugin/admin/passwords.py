"""Password hashes for the admin API: ``scrypt$n$r$p$salt_b64$hash_b64`` (hashlib.scrypt).

``python -m wilton_plugin.admin.passwords hash`` reads a password from stdin (or prompts for it
on a terminal) and prints its hash, to paste into ``WILTON_ADMIN_USERS`` or the users file.
"""

from __future__ import annotations

import base64
import getpass
import hashlib
import hmac
import os
import sys

DEFAULT_N, DEFAULT_R, DEFAULT_P = 2**14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
SEED_PASSWORD = "wilton"  # the seed's well-known default: refused unless WILTON_DEV_MODE=1


class BadHash(ValueError):
    """A stored hash is not in the ``scrypt$n$r$p$salt$hash`` format or has unsafe parameters."""


def _maxmem(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2) + (1 << 20)


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                  salt: bytes | None = None) -> str:
    """A salted scrypt hash of ``password``: a fresh random salt unless ``salt`` is given."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=HASH_BYTES, maxmem=_maxmem(n, r, p))
    b64 = base64.b64encode
    return f"scrypt${n}${r}${p}${b64(salt).decode()}${b64(digest).decode()}"


def parse_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    """(n, r, p, salt, digest) of a stored hash; BadHash if malformed or outside safe bounds."""
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise BadHash("expected scrypt$n$r$p$salt_b64$hash_b64")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except ValueError as exc:
        raise BadHash("n, r, p must be integers and salt/hash base64") from exc
    if not (2**10 <= n <= 2**20 and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16):
        raise BadHash("n must be a power of two in [2^10, 2^20], r in [1, 32], p in [1, 16]")
    if len(salt) < 8 or len(digest) < 16:
        raise BadHash("salt must be at least 8 bytes and hash at least 16 bytes")
    return n, r, p, salt, digest


def verify_password(password: str, encoded: str) -> bool:
    """True when ``password`` matches the stored hash (constant-time comparison)."""
    n, r, p, salt, digest = parse_hash(encoded)
    candidate = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=len(digest), maxmem=_maxmem(n, r, p))
    return hmac.compare_digest(candidate, digest)


def main(argv: list[str] | None = None) -> int:
    """``hash``: read a password (stdin, or a prompt on a terminal) and print its scrypt hash."""
    args = sys.argv[1:] if argv is None else argv
    if args != ["hash"]:
        print("usage: python -m wilton_plugin.admin.passwords hash  (password on stdin or prompted)", file=sys.stderr)
        return 2
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            print("passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        print("empty password", file=sys.stderr)
        return 1
    if password == SEED_PASSWORD:
        print(f"warning: '{SEED_PASSWORD}' is refused by the proxy unless WILTON_DEV_MODE=1", file=sys.stderr)
    print(hash_password(password))
    return 0


if __name__ == "__main__":
    sys.exit(main())
