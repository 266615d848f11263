"""Service API keys: ``onb_<prefix>_<secret>``, looked up by prefix and checked against a SHA-256 hash.

The secret is 32 random bytes, so a fast hash is enough (as for GitHub tokens): nobody can brute-force it, and a
slow hash would cost every API request.
"""

import hashlib
import hmac
import secrets

PREFIX_LENGTH = 8


SERVICE, LEARNER = "onb", "onl"  # service API keys and learners' personal tokens


def key_generate(kind: str = SERVICE) -> tuple[str, str, str]:
    """A new key: ``(key, prefix, hash)``. Give the key to the caller once; store the prefix and hash."""
    prefix = secrets.token_hex(PREFIX_LENGTH // 2)
    key = f"{kind}_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, key_hash(key)


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_prefix(key: str, kind: str = SERVICE) -> str | None:
    parts = key.split("_", 2)  # the secret itself may contain "_"
    if len(parts) != 3 or parts[0] != kind or len(parts[1]) != PREFIX_LENGTH:
        return None
    return parts[1]


def key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(key_hash(key), stored_hash)
