"""What several commands need, imported only when a command runs (so `--help` stays light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.config import Settings
    from app.security import Process


def database_engine() -> Engine:
    """An engine on the configured database.

    The settings are read before SQLAlchemy and Alembic are imported, so a bad DATABASE_URL ends
    the command with its one-line error before Alembic logs anything.
    """
    from app.config import load_settings

    url = load_settings().resolved_database_url
    from app.adapters.db.schema import build_engine

    return build_engine(url)


def settings_checked_for(process: Process, *, flower_address: str | None = None) -> Settings:
    """The settings, once the secrets check lets `process` start (else the command stops, exit 2)."""
    from app.config import load_settings
    from app.security import require_safe_secrets

    settings = load_settings()
    require_safe_secrets(settings, process, flower_address=flower_address)
    return settings
