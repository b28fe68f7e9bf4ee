"""Shared fixtures: real PostgreSQL, SQLite, real Redis and the Optimove simulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from app.processes import stop_like_ctrl_c_on_sigterm
from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer
from tests.support.databases import (
    REDIS_TEST_URL,
    migrated_engine,
    throwaway_postgres_database,
    truncate_all,
)


def pytest_sessionstart(session: pytest.Session) -> None:
    """A run stopped with SIGTERM (a CI timeout, `kill`) tears its fixtures down like Ctrl-C does.

    Without this the interpreter dies at once and the end-to-end stacks' processes live on as
    orphans on the shared broker, where they consume the next run's messages against their own
    database.
    """
    stop_like_ctrl_c_on_sigterm()


@pytest.fixture(autouse=True)
def _fresh_process_settings() -> Iterator[None]:
    """Each test reads the environment it set up: an in-process CLI run caches the settings and the
    process container (and so a database) for the process, which the next test must not inherit."""
    yield
    from app.bootstrap import close_process_container
    from app.config import forget_process_settings

    close_process_container()
    forget_process_settings()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A migrated throwaway PostgreSQL database for the whole session."""
    with throwaway_postgres_database() as url:
        migrated_engine(url).dispose()
        yield url


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    """An engine on the session's PostgreSQL database, emptied before each test."""
    engine = migrated_engine(postgres_url)
    truncate_all(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database in a temporary file."""
    engine = migrated_engine(f"sqlite:///{tmp_path / 'promobridge.sqlite'}")
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def any_engine(request: pytest.FixtureRequest) -> Engine:
    """Runs the test on both supported databases."""
    name = "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    engine: Engine = request.getfixturevalue(name)
    return engine


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The real Redis (database 9, flushed before each test)."""
    client = redis.Redis.from_url(REDIS_TEST_URL)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    """The Optimove simulator on a free port, rate limit off unless a test turns it on."""
    with SimulatorServer(SimulatorConfig(rate_limit_enabled=False)) as server:
        yield server
