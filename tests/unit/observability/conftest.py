"""Fixtures that leave the process's logging and log context as they found them."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from app.observability.context import clear_context
from app.observability.logging import configure_logging


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the root logger's handlers and level back (pytest's capture handlers included)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    clear_context()


@pytest.fixture
def json_log(restore_logging: None) -> io.StringIO:
    """Root logging configured as in production (JSON, INFO), written to a buffer."""
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    return stream


@pytest.fixture(autouse=True)
def empty_log_context() -> Iterator[None]:
    """Each test starts and ends with nothing bound (the context outlives a test otherwise)."""
    clear_context()
    yield
    clear_context()
