"""API keys for the claims API: generated once, shown once, stored as a hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from collections import OrderedDict
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


class KeyCache:
    """Keys this process recently proved valid, trusted for `ttl_seconds` without a database read.

    Only successes are kept (a stream of wrong keys cannot push real ones out), keyed by a hash of
    the whole presented key; a revoked or re-scoped key is refused or re-read within `ttl_seconds`.
    Thread-safe: the web's threads share one.
    """

    def __init__(
        self, ttl_seconds: float, *, max_keys: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, tuple[float, ApiClient]] = OrderedDict()

    def get(self, fingerprint: str) -> ApiClient | None:
        """The client proven for this key less than `ttl_seconds` ago, or None."""
        with self._lock:
            entry = self._entries.get(fingerprint)
            if entry is None:
                return None
            if self._clock() - entry[0] >= self._ttl:
                del self._entries[fingerprint]
                return None
            return entry[1]

    def put(self, fingerprint: str, client: ApiClient) -> None:
        """Remember a key just proven valid (the oldest entry goes when the cache is full)."""
        with self._lock:
            self._entries[fingerprint] = (self._clock(), client)
            self._entries.move_to_end(fingerprint)
            while len(self._entries) > self._max_keys:
                self._entries.popitem(last=False)


def authenticate(
    uow_factory: UnitOfWorkFactory, presented: str, *, cache: KeyCache | None = None
) -> ApiClient | None:
    """The active client owning `presented`, or None (unknown, malformed, wrong secret or revoked)."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not _KEY_ID.fullmatch(key_id) or not secret:
        return None  # a key id that cannot exist is never looked up (a NUL would fail the query)
    fingerprint = _hash(presented)
    if cache is not None and (known := cache.get(fingerprint)) is not None:
        return known
    with uow_factory() as uow:
        client = uow.clients.find_by_key_id(key_id)
    if client is None or client.revoked:
        # Still hash, so an unknown key id takes as long as a wrong secret.
        hmac.compare_digest(_hash(secret), _hash(""))
        return None
    if not hmac.compare_digest(_hash(secret), client.key_hash):
        return None
    if cache is not None:
        cache.put(fingerprint, client)
    return client


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
