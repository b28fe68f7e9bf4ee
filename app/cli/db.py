"""`promobridge db`: schema migrations."""

from __future__ import annotations

import click

from app.adapters.db.schema import build_engine, current_revision, downgrade_database, upgrade_database
from app.config import load_settings


@click.group("db")
def db_group() -> None:
    """Database schema (Alembic migrations, PostgreSQL or SQLite)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Migrate the database up to REVISION (default: the latest)."""
    engine = build_engine(load_settings().resolved_database_url)
    upgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Revert the database to REVISION ("base" drops every table)."""
    engine = build_engine(load_settings().resolved_database_url)
    downgrade_database(engine, revision)
    click.echo(f"database at revision {current_revision(engine)}")


@db_group.command("current")
def current() -> None:
    """Print the revision the database is at."""
    click.echo(current_revision(build_engine(load_settings().resolved_database_url)) or "not migrated")
