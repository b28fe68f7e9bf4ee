"""Every service test gets an empty in-memory database, a clock that stands still and a recording doorbell."""

from __future__ import annotations

import pytest

from app.services.validation import ValidationDoorbell
from tests.fakes.clock import FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    """Units of work on a fresh in-memory database."""
    return FakeUnitOfWorkFactory()


@pytest.fixture
def db(uow: FakeUnitOfWorkFactory) -> FakeDatabase:
    """The database behind `uow`, to read rows the port does not show."""
    return uow.db


@pytest.fixture
def clock() -> FixedClock:
    """Now is T0 until a test moves it."""
    return FixedClock()


@pytest.fixture
def dispatcher() -> RecordingDispatcher:
    """The workers' doorbell, recording every ring."""
    return RecordingDispatcher()


@pytest.fixture
def coordination() -> MemoryCoordination:
    """Locks and doorbells in memory, with the Redis ones' semantics."""
    return MemoryCoordination()


@pytest.fixture
def doorbell(coordination: MemoryCoordination, dispatcher: RecordingDispatcher) -> ValidationDoorbell:
    """The validators' doorbell: publishes on `dispatcher`, deduplicated through `coordination`."""
    return ValidationDoorbell(coordination, dispatcher)
