"""API clients of the claims API: keys are stored hashed and found by their public key id."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from app.adapters.db.tables import api_clients


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A backend allowed to submit claims."""

    id: int
    name: str
    key_id: str
    key_hash: str
    rate_limit_per_minute: int
    revoked: bool
    scopes: frozenset[str]


def create_client(
    conn: Connection,
    *,
    name: str,
    key_id: str,
    key_hash: str,
    rate_limit_per_minute: int,
    scopes: frozenset[str],
    now: datetime,
) -> int:
    """Store a new client; raises IntegrityError when the name is taken."""
    result = conn.execute(
        insert(api_clients)
        .values(
            name=name,
            key_id=key_id,
            key_hash=key_hash,
            rate_limit_per_minute=rate_limit_per_minute,
            scopes=",".join(sorted(scopes)),
            created_at=now,
        )
        .returning(api_clients.c.id)
    )
    return int(result.scalar_one())


def find_by_key_id(conn: Connection, key_id: str) -> ApiClient | None:
    """The client a presented key claims to be."""
    row = conn.execute(select(api_clients).where(api_clients.c.key_id == key_id)).mappings().first()
    return None if row is None else _client(row)


def list_clients(conn: Connection) -> list[ApiClient]:
    """Every client, revoked ones included."""
    rows = conn.execute(select(api_clients).order_by(api_clients.c.id)).mappings()
    return [_client(row) for row in rows]


def _client(row: Any) -> ApiClient:
    return ApiClient(
        row["id"],
        row["name"],
        row["key_id"],
        row["key_hash"],
        row["rate_limit_per_minute"],
        row["revoked_at"] is not None,
        frozenset(filter(None, (part.strip() for part in row["scopes"].split(",")))),
    )


def revoke_client(conn: Connection, name: str, *, now: datetime) -> bool:
    """Revoke a client's key; True if it was active."""
    result = conn.execute(
        update(api_clients)
        .where(api_clients.c.name == name, api_clients.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount == 1
