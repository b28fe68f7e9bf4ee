"""`promobridge db`: schema migrations."""

from __future__ import annotations

import click

from app.cli._shared import database_engine  # the command's container's engine


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations, PostgreSQL or SQLite)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    engine = database_engine()
    from app.adapters.db.schema import current_revision, upgrade_database

    upgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert the database to REVISION ("base" drops every table)."""
    engine = database_engine()
    from app.adapters.db.schema import current_revision, downgrade_database

    downgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("current")
def current() -> None:
    """Print the revision the database is at."""
    engine = database_engine()
    from app.adapters.db.schema import current_revision

    click.echo(current_revision(engine) or "not migrated")
