"""Console users and the console's audit log in memory, as ``app.adapters.db.console``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from app.domain.console import AuditEntry, ConsoleUser, NewConsoleUser, Role
from tests.fakes.tables import Table, TableView, json_column, json_value


@dataclass(frozen=True, slots=True)
class ConsoleUserRow:
    """One row of the console_users table."""

    id: int
    name: str
    role: Role
    password_hash: str
    created_at: datetime
    failed_sign_ins: int = 0
    locked_until: datetime | None = None
    last_sign_in_at: datetime | None = None
    disabled_at: datetime | None = None

    def to_user(self) -> ConsoleUser:
        """The user as the services read them."""
        return ConsoleUser(
            self.id, self.name, self.role, self.password_hash, self.failed_sign_ins, self.locked_until,
            self.created_at, self.last_sign_in_at, self.disabled_at,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One row of the console_audit table (its detail stored as JSON text, as a JSON column keeps it)."""

    id: int
    at: datetime
    user: str
    action: str
    target: str
    outcome: str
    detail: str


def console_users_table() -> Table[int, ConsoleUserRow]:
    """An empty console_users table: names are unique."""
    return Table("console_users", unique=lambda row: [("name", row.name)])


def console_audit_table() -> Table[int, AuditRow]:
    """An empty console_audit table."""
    return Table("console_audit", unique=lambda row: [])


class FakeConsoleUsers:
    """Console users in memory (see ``app.services.unit_of_work.ConsoleUserRepository``)."""

    def __init__(self, rows: TableView[int, ConsoleUserRow]) -> None:
        self._rows = rows

    def add(self, user: NewConsoleUser) -> int | None:
        """Store a user; their id, or None when the name is taken."""
        row = ConsoleUserRow(
            self._rows.table.next_id(), user.name, user.role, user.password_hash, user.created_at
        )
        return row.id if self._rows.insert(row.id, row) else None

    def get(self, user_id: int) -> ConsoleUser | None:
        """One user by id."""
        row = self._rows.get(user_id)
        return row.to_user() if row is not None else None

    def find_by_name(self, name: str) -> ConsoleUser | None:
        """One user by name."""
        found = self._rows.where(lambda r: r.name == name)
        return found[0].to_user() if found else None

    def all(self) -> list[ConsoleUser]:
        """Every user, disabled ones included, by name."""
        return [row.to_user() for row in sorted(self._rows.rows(), key=lambda r: r.name)]

    def disable(self, name: str, *, now: datetime) -> bool:
        """Disable an enabled user; True if they were enabled."""
        enabled = self._rows.where(lambda r: r.name == name and r.disabled_at is None)
        for row in enabled:
            self._rows.update(row.id, replace(row, disabled_at=now))
        return bool(enabled)

    def record_failed_sign_in(
        self, user_id: int, *, max_failures: int, lock_for: timedelta, now: datetime
    ) -> bool:
        """Count a failed sign-in; the one that reaches `max_failures` locks the user. True if it did."""
        row = self._rows.get(user_id)
        if row is None:
            return False
        if row.failed_sign_ins + 1 >= max_failures:
            row = replace(row, failed_sign_ins=0, locked_until=now + lock_for)
        else:
            row = replace(row, failed_sign_ins=row.failed_sign_ins + 1)
        self._rows.update(user_id, row)
        return row.locked_until is not None and row.locked_until > now

    def record_sign_in(self, user_id: int, *, now: datetime) -> None:
        """A successful sign-in clears the failures."""
        row = self._rows.get(user_id)
        if row is not None:
            self._rows.update(
                user_id, replace(row, failed_sign_ins=0, locked_until=None, last_sign_in_at=now)
            )


class FakeConsoleAudit:
    """The console's audit log in memory (see ``app.services.unit_of_work.ConsoleAuditRepository``)."""

    def __init__(self, rows: TableView[int, AuditRow]) -> None:
        self._rows = rows

    def add(self, entry: AuditEntry) -> None:
        """Append one entry (text cut to the columns' lengths, as stored)."""
        detail: dict[str, Any] = dict(entry.detail)
        row = AuditRow(
            self._rows.table.next_id(), entry.at, entry.user[:64], entry.action[:64], entry.target[:255],
            entry.outcome, json_column(detail),
        )  # fmt: skip
        self._rows.insert(row.id, row)

    def recent(self, *, limit: int) -> list[AuditEntry]:
        """The latest entries, newest first."""
        newest = sorted(self._rows.rows(), key=lambda r: (r.at, r.id), reverse=True)[: max(limit, 0)]
        return [
            AuditEntry(r.at, r.user, r.action, r.target, r.outcome, dict(json_value(r.detail) or {}))
            for r in newest
        ]
