"""Real databases for tests: a throwaway PostgreSQL database per session, SQLite files per test."""

from __future__ import annotations

import os

from sqlalchemy import Engine, text

from app.adapters.db.dialect import build_engine
from app.adapters.db.schema import upgrade_database
from app.adapters.db.tables import metadata
from benchmarks.stack import throwaway_postgres_database

__all__ = [
    "POSTGRES_ADMIN_URL",
    "REDIS_TEST_SERVER",
    "REDIS_TEST_URL",
    "migrated_engine",
    "redis_test_url",
    "throwaway_postgres_database",
    "truncate_all",
]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
# One Redis server for the whole suite; each tier uses its own database number on it. Point
# TEST_REDIS_SERVER at another server to run two suites side by side without flushing each other.
REDIS_TEST_SERVER = os.environ.get("TEST_REDIS_SERVER", "redis://127.0.0.1:6379").rstrip("/")


def redis_test_url(database: int) -> str:
    """The URL of one database number on the test Redis server."""
    return f"{REDIS_TEST_SERVER}/{database}"


REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", redis_test_url(9))


def migrated_engine(url: str) -> Engine:
    """An engine on `url` with every migration applied."""
    engine = build_engine(url)
    upgrade_database(engine)
    return engine


def truncate_all(engine: Engine) -> None:
    """Empty every table (services commit their own transactions, so tests cannot roll back)."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(table.name for table in metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY"))
        else:
            for table in reversed(metadata.sorted_tables):
                conn.execute(table.delete())
