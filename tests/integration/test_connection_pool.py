"""Pooled PostgreSQL connections: pinged before use only after sitting idle, replaced when gone."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.adapters.db.dialect import build_engine


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def _terminate(admin: Engine, pid: int) -> None:
    with admin.connect() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()


def test_a_connection_that_sat_idle_is_pinged_and_replaced_when_its_server_process_is_gone(
    pg_engine: Engine,
) -> None:
    engine = build_engine(pg_engine.url.render_as_string(hide_password=False), ping_if_idle_seconds=0)
    try:
        first = _backend_pid(engine)
        _terminate(pg_engine, first)

        assert _backend_pid(engine) != first  # the ping found it dead: no statement failed
    finally:
        engine.dispose()


def test_a_connection_just_given_back_is_used_without_a_ping_and_a_dead_one_fails_once(
    pg_engine: Engine,
) -> None:
    engine = build_engine(pg_engine.url.render_as_string(hide_password=False), ping_if_idle_seconds=3600)
    try:
        first = _backend_pid(engine)
        _terminate(pg_engine, first)

        with pytest.raises(DBAPIError) as failed:
            _backend_pid(engine)  # no ping: the statement meets the dead connection
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first  # and the pool replaced it
    finally:
        engine.dispose()
