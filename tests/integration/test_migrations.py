"""Migrations: the chain goes up and down on both databases, and ends where the table definitions are."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.adapters.db.dialect import build_engine
from app.adapters.db.schema import current_revision, downgrade_database, upgrade_database
from app.adapters.db.tables import metadata
from tests.support.databases import throwaway_postgres_database


def _round_trip(url: str) -> None:
    engine = build_engine(url)
    try:
        upgrade_database(engine)
        head = current_revision(engine)
        downgrade_database(engine, "base")
        assert current_revision(engine) is None
        upgrade_database(engine)
        assert current_revision(engine) == head
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "render_as_batch": conn.dialect.name == "sqlite"}
            )
            differences = compare_metadata(context, metadata)
        assert differences == [], differences
    finally:
        engine.dispose()


def test_migrations_go_down_and_up_again_on_postgresql_and_match_the_tables() -> None:
    with throwaway_postgres_database("promobridge_migrations") as url:
        _round_trip(url)


def test_migrations_go_down_and_up_again_on_sqlite_and_match_the_tables(tmp_path: Path) -> None:
    _round_trip(f"sqlite:///{tmp_path / 'migrations.sqlite'}")
