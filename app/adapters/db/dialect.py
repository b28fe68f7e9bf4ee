"""The few statements that differ between PostgreSQL and SQLite."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Select, Table, select
from sqlalchemy.dialects import postgresql, sqlite


def is_postgres(conn: Connection) -> bool:
    """Whether this connection talks to PostgreSQL."""
    return conn.dialect.name == "postgresql"


def insert_ignoring_conflicts(conn: Connection, table: Table, index_elements: list[str]) -> Any:
    """An INSERT that silently skips rows violating the unique key `index_elements`."""
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing(index_elements=index_elements)


def lock_rows_skip_locked(conn: Connection, query: Select[Any]) -> Select[Any]:
    """FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite serialises writers, so no lock clause there."""
    return query.with_for_update(skip_locked=True) if is_postgres(conn) else query


def insert_ignoring_any_conflict(conn: Connection, table: Table) -> Any:
    """An INSERT that silently skips a row violating any unique constraint of `table`."""
    dialect_insert = postgresql.insert if is_postgres(conn) else sqlite.insert
    return dialect_insert(table).on_conflict_do_nothing()


def locked_batch_ids(conn: Connection, query: Select[Any], name: str) -> Select[Any]:
    """`SELECT id FROM <locked batch>` for an ``UPDATE … WHERE id IN (…)``, evaluated exactly once.

    A plain ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` may be rescanned by the planner and
    then return more than n rows; a MATERIALIZED CTE is computed once.
    """
    batch = lock_rows_skip_locked(conn, query).cte(name).prefix_with("MATERIALIZED", dialect="postgresql")
    return select(batch.c.id)
