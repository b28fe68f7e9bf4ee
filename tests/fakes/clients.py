"""API clients in memory, as ``app.adapters.db.clients``: a taken name answers None, keys stored hashed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from app.domain.clients import ApiClient, NewClient
from tests.fakes.tables import Table, TableView


class UniqueViolation(RuntimeError):
    """Raised where SQL raises an IntegrityError: an insert hit a unique key it does not ignore."""


@dataclass(frozen=True, slots=True)
class ClientRow:
    """One row of the api_clients table."""

    id: int
    name: str
    key_id: str
    key_hash: str
    rate_limit_per_minute: int
    scopes: str  # comma-separated, as stored
    created_at: datetime
    revoked_at: datetime | None = None

    def to_client(self) -> ApiClient:
        """The client as the services read it."""
        scopes = frozenset(filter(None, (part.strip() for part in self.scopes.split(","))))
        return ApiClient(
            self.id,
            self.name,
            self.key_id,
            self.key_hash,
            self.rate_limit_per_minute,
            self.revoked_at is not None,
            scopes,
        )


def clients_table() -> Table[int, ClientRow]:
    """An empty api_clients table: names and key ids are unique."""
    return Table("api_clients", unique=lambda row: [("name", row.name), ("key_id", row.key_id)])


class FakeClients:
    """The client repository in memory (see ``app.services.unit_of_work.ClientRepository``)."""

    def __init__(self, rows: TableView[int, ClientRow]) -> None:
        self._rows = rows

    def add(self, client: NewClient) -> int | None:
        """Store a client; its id, or None when the name is taken.

        Only a taken name is ignored (ON CONFLICT (name) DO NOTHING): a taken key id raises, as in SQL.
        """
        row = ClientRow(
            id=self._rows.table.next_id(),
            name=client.name,
            key_id=client.key_id,
            key_hash=client.key_hash,
            rate_limit_per_minute=client.rate_limit_per_minute,
            scopes=",".join(sorted(client.scopes)),
            created_at=client.created_at,
        )
        if self._rows.insert(row.id, row):
            return row.id
        if self._rows.where(lambda r: r.name == client.name):
            return None
        raise UniqueViolation(f"api_clients: key id {client.key_id!r} is taken")

    def find_by_key_id(self, key_id: str) -> ApiClient | None:
        """The client a presented key claims to be."""
        found = self._rows.where(lambda r: r.key_id == key_id)
        return found[0].to_client() if found else None

    def all(self) -> list[ApiClient]:
        """Every client, revoked ones included."""
        return [row.to_client() for row in sorted(self._rows.rows(), key=lambda r: r.id)]

    def revoke(self, name: str, *, now: datetime) -> bool:
        """Revoke a client's key; True if it was active."""
        active = self._rows.where(lambda r: r.name == name and r.revoked_at is None)
        for row in active:
            self._rows.update(row.id, replace(row, revoked_at=now))
        return bool(active)
