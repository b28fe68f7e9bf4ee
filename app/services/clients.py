"""API keys for the claims API: generated once, shown once, stored as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from app.adapters.db import clients
from app.clock import utcnow
from app.domain.clients import DEFAULT_SCOPES, SCOPE_ADMIN, SCOPES

KEY_PREFIX = "pb"


class UnknownScope(ValueError):
    """Raised when a key is asked for a scope promobridge does not have."""


def may(client: clients.ApiClient, scope: str) -> bool:
    """Whether the client's key carries `scope` (admin carries every scope)."""
    return scope in client.scopes or SCOPE_ADMIN in client.scopes


KEY_ID_BYTES = 6
_KEY_ID = re.compile(r"[0-9a-f]{1,16}")  # token_hex output; api_clients.key_id is String(16)
SECRET_BYTES = 32


class ClientExists(ValueError):
    """Raised when a client name is already taken."""


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new client's key: printed once, never stored in clear."""

    client_id: int
    name: str
    key: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(
    engine: Engine,
    name: str,
    *,
    rate_limit_per_minute: int,
    scopes: frozenset[str] = DEFAULT_SCOPES,
    clock: Callable[[], datetime] = utcnow,
) -> IssuedKey:
    """Create a client and its key; raises ClientExists (name taken) or UnknownScope."""
    unknown = sorted(scopes - SCOPES)
    if unknown or not scopes:
        raise UnknownScope(f"scopes must be some of {', '.join(sorted(SCOPES))}; got {', '.join(unknown)}")
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    try:
        with engine.begin() as conn:
            client_id = clients.create_client(
                conn,
                name=name,
                key_id=key_id,
                key_hash=_hash(secret),
                rate_limit_per_minute=rate_limit_per_minute,
                scopes=scopes,
                now=clock(),
            )
    except IntegrityError as exc:
        raise ClientExists(f"a client named {name!r} already exists") from exc
    return IssuedKey(client_id, name, f"{KEY_PREFIX}_{key_id}_{secret}")


def authenticate(engine: Engine, presented: str) -> clients.ApiClient | None:
    """The active client owning `presented`, or None (unknown, malformed, wrong secret or revoked)."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
        return None  # a key id that cannot exist is never looked up (a NUL would fail the query)
    with engine.connect() as conn:
        client = clients.find_by_key_id(conn, key_id)
    if client is None or client.revoked:
        # Still hash, so an unknown key id takes as long as a wrong secret.
        hmac.compare_digest(_hash(secret), _hash(""))
        return None
    return client if hmac.compare_digest(_hash(secret), client.key_hash) else None
