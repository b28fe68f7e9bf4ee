"""API clients of the claims API: keys are stored hashed and found by their public key id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import api_clients
from app.domain.clients import ApiClient, NewClient


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


class SqlClients:
    """The client repository on one connection (see ``app.services.unit_of_work.ClientRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, client: NewClient) -> int | None:
        """Store a client; its id, or None when the name (or the key id) is taken."""
        statement = (
            insert_ignoring_conflicts(self._conn, api_clients, ["name"])
            .values(
                name=client.name,
                key_id=client.key_id,
                key_hash=client.key_hash,
                rate_limit_per_minute=client.rate_limit_per_minute,
                scopes=",".join(sorted(client.scopes)),
                created_at=client.created_at,
            )
            .returning(api_clients.c.id)
        )
        return self._conn.execute(statement).scalar_one_or_none()

    def find_by_key_id(self, key_id: str) -> ApiClient | None:
        """The client a presented key claims to be."""
        row = self._conn.execute(select(api_clients).where(api_clients.c.key_id == key_id)).mappings().first()
        return None if row is None else _client(row)

    def all(self) -> list[ApiClient]:
        """Every client, revoked ones included."""
        rows = self._conn.execute(select(api_clients).order_by(api_clients.c.id)).mappings()
        return [_client(row) for row in rows]

    def revoke(self, name: str, *, now: datetime) -> bool:
        """Revoke a client's key; True if it was active."""
        result = self._conn.execute(
            update(api_clients)
            .where(api_clients.c.name == name, api_clients.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return result.rowcount == 1
