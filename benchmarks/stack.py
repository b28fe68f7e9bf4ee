"""Test and benchmark scaffolding: throwaway PostgreSQL databases, plus the process tools of app.processes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text

from app.processes import PROMOBRIDGE, ProcessGroup, TimedOut, free_port, http_ready, wait_for

__all__ = [
    "POSTGRES_ADMIN_URL",
    "PROMOBRIDGE",
    "ProcessGroup",
    "free_port",
    "http_ready",
    "throwaway_postgres_database",
    "wait_until",
]

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_ADMIN_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.2, what: str = "condition"
) -> None:
    """Poll `condition` until it holds; fail the test or benchmark run (AssertionError) after `timeout` s."""
    try:
        wait_for(condition, timeout=timeout, interval=interval, what=what)
    except TimedOut as exc:
        raise AssertionError(str(exc)) from None


@contextmanager
def throwaway_postgres_database(
    prefix: str = "promobridge_test", admin_url: str | None = None
) -> Iterator[str]:
    """Create an empty database, yield its URL, drop it afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_url = admin_url or POSTGRES_ADMIN_URL
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
