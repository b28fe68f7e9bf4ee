"""`promobridge db`: schema migrations."""

from __future__ import annotations

import click

from app.cli._shared import database_engine


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations, PostgreSQL or SQLite)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    from app.adapters.db.schema import current_revision, upgrade_database

    engine = database_engine()
    upgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert the database to REVISION ("base" drops every table)."""
    from app.adapters.db.schema import current_revision, downgrade_database

    engine = database_engine()
    downgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("current")
def current() -> None:
    """Print the revision the database is at."""
    from app.adapters.db.schema import current_revision

    click.echo(current_revision(database_engine()) or "not migrated")
