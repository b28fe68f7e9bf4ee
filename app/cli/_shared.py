"""What several commands need, imported only when a command runs (so `--help` stays light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.bootstrap import Container
    from app.config import Settings
    from app.security import Process


def database_engine() -> Engine:
    """The engine of this command's container (disposed when the command ends)."""
    return container().engine


def container() -> Container:
    """This command's container: settings read once, services wired once, closed when the command ends.

    The settings are read before SQLAlchemy and Alembic are imported, so a bad DATABASE_URL ends
    the command with its one-line error before Alembic logs anything.
    """
    import click

    from app.config import process_settings

    process_settings()
    from app.bootstrap import close_process_container, process_container

    built = process_container()
    context = click.get_current_context(silent=True)
    if context is not None:
        context.find_root().call_on_close(close_process_container)
    return built


def settings_checked_for(process: Process, *, flower_address: str | None = None) -> Settings:
    """The settings, once the secrets check lets `process` start (else the command stops, exit 2)."""
    from app.config import process_settings
    from app.security import require_safe_secrets

    settings = process_settings()
    require_safe_secrets(settings, process, flower_address=flower_address)
    return settings
