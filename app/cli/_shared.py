"""What several commands need, imported only when a command runs (so `--help` stays light)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy import Engine


def database_engine() -> Engine:
    """An engine on the configured database."""
    from app.adapters.db.schema import build_engine
    from app.config import load_settings

    return build_engine(load_settings().resolved_database_url)
