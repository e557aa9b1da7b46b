"""API keys for our own HTTP API: made once, stored only as salted hashes, checked in constant time.

A key reads ``cdk_<id>_<secret>``: ``id`` (8 hex characters) names the entry it belongs to, so a
request costs one hash, whatever the number of keys; ``secret`` is 32 random bytes (URL-safe
base64). ``CROSSDOCK_API_KEYS`` holds a JSON list of entries — name, scopes, id and
``sha256:<salt>:<digest>`` — never a key. Because keys are long random values (not passwords), one
salted SHA-256 is enough: there is nothing to guess that a slow hash would protect.

Scopes: ``ops:read`` (health details, metrics, run listings, the API documents) and, per capability,
``<capability>:read`` and ``<capability>:write``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

PREFIX = "cdk"
OPS_READ = "ops:read"
NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
SCOPE_PATTERN = r"^[a-z0-9][a-z0-9-]*:(read|write)$"
_KEY = re.compile(rf"^{PREFIX}_(?P<id>[0-9a-f]{{8}})_(?P<secret>[A-Za-z0-9_-]{{43}})$")
_HASH = re.compile(r"^sha256:(?P<salt>[0-9a-f]{32}):(?P<digest>[0-9a-f]{64})$")

Scope = Annotated[str, StringConstraints(pattern=SCOPE_PATTERN)]


class ApiKeyEntry(BaseModel):
    """One configured key as ``CROSSDOCK_API_KEYS`` holds it: who, what it may do, and its hash."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
    scopes: tuple[Scope, ...] = Field(min_length=1)
    id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8}$")]
    hash: Annotated[str, StringConstraints(pattern=_HASH.pattern)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who made a request: the name and scopes of the key it carried."""

    name: str
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return scope in self.scopes


def known_scopes() -> tuple[str, ...]:
    """Every scope a key may hold: ``ops:read`` and each listed capability's read and write scopes."""
    from crossdock.capabilities import CAPABILITIES

    return (OPS_READ, *(f"{c.name}:{access}" for c in CAPABILITIES for access in ("read", "write")))


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()


def create_key(name: str, scopes: tuple[str, ...]) -> tuple[str, ApiKeyEntry]:
    """A new key and the entry that lets it in; the key exists only in the returned value."""
    key_id = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    entry = ApiKeyEntry(name=name, scopes=scopes, id=key_id, hash=f"sha256:{salt}:{_digest(salt, secret)}")
    return f"{PREFIX}_{key_id}_{secret}", entry


# Compared against when a key names no configured entry, so both answers take the same time.
_DECOY_SALT = secrets.token_hex(16)
_DECOY_DIGEST = _digest(_DECOY_SALT, secrets.token_urlsafe(32))


class KeyRing:
    """The configured entries, by id; :meth:`identify` turns a presented key into a principal."""

    def __init__(self, entries: tuple[ApiKeyEntry, ...] | list[ApiKeyEntry] = ()) -> None:
        self._by_id = {entry.id: entry for entry in entries}

    @property
    def enabled(self) -> bool:
        """Keys are configured: protected routes need one."""
        return bool(self._by_id)

    def identify(self, presented: str) -> Principal | None:
        """The principal of ``presented``, or ``None`` when it is not a valid configured key."""
        match = _KEY.match(presented)
        entry = self._by_id.get(match["id"]) if match else None
        stored = _HASH.match(entry.hash) if entry is not None else None
        salt, expected = (stored["salt"], stored["digest"]) if stored else (_DECOY_SALT, _DECOY_DIGEST)
        secret = match["secret"] if match else presented
        equal = hmac.compare_digest(_digest(salt, secret), expected)
        if entry is None or not equal:
            return None
        return Principal(entry.name, frozenset(entry.scopes))
