"""Units of work on a test's engine: read in one, or write in one that commits when the block ends."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWork, SqlAlchemyUnitOfWorkFactory

__all__ = ["SqlAlchemyUnitOfWorkFactory", "reading", "writing"]


@contextmanager
def reading(engine: Engine) -> Iterator[SqlAlchemyUnitOfWork]:
    """A unit of work to read in (rolled back at the end)."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        yield uow


@contextmanager
def writing(engine: Engine) -> Iterator[SqlAlchemyUnitOfWork]:
    """A unit of work whose changes are committed when the block ends without an error."""
    with SqlAlchemyUnitOfWork(engine) as uow:
        yield uow
        uow.commit()
