"""API keys for the claims API: generated once, shown once, stored as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.clock import utcnow
from app.domain.clients import DEFAULT_SCOPES, SCOPE_ADMIN, SCOPES, ApiClient, NewClient
from app.services.unit_of_work import UnitOfWorkFactory

KEY_PREFIX = "pb"
KEY_ID_BYTES = 6
_KEY_ID = re.compile(r"[0-9a-f]{1,16}")  # token_hex output; api_clients.key_id is String(16)
SECRET_BYTES = 32


class UnknownScope(ValueError):
    """Raised when a key is asked for a scope promobridge does not have."""


class ClientExists(ValueError):
    """Raised when a client name is already taken."""


def may(client: ApiClient, scope: str) -> bool:
    """Whether the client's key carries `scope` (admin carries every scope)."""
    return scope in client.scopes or SCOPE_ADMIN in client.scopes


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A new client's key: printed once, never stored in clear."""

    client_id: int
    name: str
    key: str


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_client(
    uow_factory: UnitOfWorkFactory,
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
    with uow_factory() as uow:
        client_id = uow.clients.add(
            NewClient(name, key_id, _hash(secret), rate_limit_per_minute, scopes, created_at=clock())
        )
        if client_id is None:
            raise ClientExists(f"a client named {name!r} already exists")
        uow.commit()
    return IssuedKey(client_id, name, f"{KEY_PREFIX}_{key_id}_{secret}")


def authenticate(uow_factory: UnitOfWorkFactory, presented: str) -> ApiClient | None:
    """The active client owning `presented`, or None (unknown, malformed, wrong secret or revoked)."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
        return None  # a key id that cannot exist is never looked up (a NUL would fail the query)
    with uow_factory() as uow:
        client = uow.clients.find_by_key_id(key_id)
    if client is None or client.revoked:
        # Still hash, so an unknown key id takes as long as a wrong secret.
        hmac.compare_digest(_hash(secret), _hash(""))
        return None
    return client if hmac.compare_digest(_hash(secret), client.key_hash) else None


def list_clients(uow_factory: UnitOfWorkFactory) -> list[ApiClient]:
    """Every client, revoked ones included (never their keys)."""
    with uow_factory() as uow:
        return uow.clients.all()


def revoke_client(
    uow_factory: UnitOfWorkFactory, name: str, *, clock: Callable[[], datetime] = utcnow
) -> bool:
    """Revoke a client's key at once; True if it was active."""
    with uow_factory() as uow:
        revoked = uow.clients.revoke(name, now=clock())
        uow.commit()
    return revoked
