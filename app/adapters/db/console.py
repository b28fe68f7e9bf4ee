"""Console users and the audit log of their actions."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, case, insert, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import console_audit, console_users
from app.clock import as_utc
from app.domain.console import AuditEntry, ConsoleUser, NewConsoleUser, Role


def _user(row: Any) -> ConsoleUser:
    return ConsoleUser(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        failed_sign_ins=row["failed_sign_ins"],
        locked_until=as_utc(row["locked_until"]),
        created_at=as_utc(row["created_at"]) or row["created_at"],
        last_sign_in_at=as_utc(row["last_sign_in_at"]),
        disabled_at=as_utc(row["disabled_at"]),
    )


class SqlConsoleUsers:
    """The console-user repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, user: NewConsoleUser) -> int | None:
        """Store a user; their id, or None when the name is taken."""
        statement = insert_ignoring_conflicts(self._conn, console_users, ["name"]).values(
            name=user.name, role=user.role.value, password_hash=user.password_hash, created_at=user.created_at
        )
        result = self._conn.execute(statement.returning(console_users.c.id))
        row = result.first()
        return None if row is None else int(row[0])

    def get(self, user_id: int) -> ConsoleUser | None:
        """One user by id."""
        row = (
            self._conn.execute(select(console_users).where(console_users.c.id == user_id)).mappings().first()
        )
        return None if row is None else _user(row)

    def find_by_name(self, name: str) -> ConsoleUser | None:
        """One user by name."""
        query = select(console_users).where(console_users.c.name == name)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _user(row)

    def all(self) -> list[ConsoleUser]:
        """Every user, disabled ones included, by name."""
        rows = self._conn.execute(select(console_users).order_by(console_users.c.name)).mappings()
        return [_user(row) for row in rows]

    def disable(self, name: str, *, now: datetime) -> bool:
        """Disable an enabled user; True if they were enabled."""
        result = self._conn.execute(
            update(console_users)
            .where(console_users.c.name == name, console_users.c.disabled_at.is_(None))
            .values(disabled_at=now)
        )
        return result.rowcount == 1

    def record_failed_sign_in(
        self, user_id: int, *, max_failures: int, lock_for: timedelta, now: datetime
    ) -> bool:
        """Count a failed sign-in; the one that reaches `max_failures` locks the user. True if it did.

        One conditional UPDATE, so guesses sent in parallel are all counted.
        """
        reaches = console_users.c.failed_sign_ins + 1 >= max_failures
        result = self._conn.execute(
            update(console_users)
            .where(console_users.c.id == user_id)
            .values(
                failed_sign_ins=case((reaches, 0), else_=console_users.c.failed_sign_ins + 1),
                locked_until=case((reaches, now + lock_for), else_=console_users.c.locked_until),
            )
            .returning(console_users.c.locked_until)
        )
        locked_until = as_utc(result.scalar_one_or_none())
        return locked_until is not None and locked_until > now

    def record_sign_in(self, user_id: int, *, now: datetime) -> None:
        """A successful sign-in clears the failures."""
        self._conn.execute(
            update(console_users)
            .where(console_users.c.id == user_id)
            .values(failed_sign_ins=0, locked_until=None, last_sign_in_at=now)
        )


class SqlConsoleAudit:
    """The console's audit log on one connection: append-only."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, entry: AuditEntry) -> None:
        """Append one entry."""
        self._conn.execute(
            insert(console_audit).values(
                at=entry.at,
                user_name=entry.user[:64],
                action=entry.action[:64],
                target=entry.target[:255],
                outcome=entry.outcome,
                detail=entry.detail,
            )
        )

    def recent(self, *, limit: int) -> list[AuditEntry]:
        """The latest entries, newest first."""
        rows = self._conn.execute(
            select(console_audit).order_by(console_audit.c.at.desc(), console_audit.c.id.desc()).limit(limit)
        ).mappings()
        return [
            AuditEntry(
                at=as_utc(row["at"]) or row["at"],
                user=row["user_name"],
                action=row["action"],
                target=row["target"],
                outcome=row["outcome"],
                detail=dict(row["detail"] or {}),
            )
            for row in rows
        ]
