"""Alembic environment: runs migrations on the connection handed over by `app.adapters.db.schema`."""

from __future__ import annotations

from alembic import context

from app.adapters.db.tables import metadata

config = context.config


def run_migrations_online() -> None:
    """Migrate using the connection placed in the Alembic config attributes."""
    connection = config.attributes["connection"]
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
