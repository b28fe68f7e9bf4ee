"""The correlation id and other log context of the work in progress, in a ``contextvars`` variable.

A context variable rather than a thread-local: it follows the request or task through threads
that copy the context and is isolated per thread otherwise, so a gunicorn worker, a Celery pool
child and a threaded dev server all see only their own request's or task's id. Binding returns a
token; resetting with it restores whatever was bound before, so a task run eagerly inside a web
request gives the request its id back afterwards.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from contextvars import ContextVar, Token
from types import MappingProxyType

__all__ = [
    "CORRELATION_ID_FIELD",
    "LogContext",
    "bind_context",
    "bind_correlation_id",
    "clear_context",
    "current_context",
    "current_correlation_id",
    "is_valid_correlation_id",
    "new_correlation_id",
    "reset_context",
]

CORRELATION_ID_FIELD = "correlation_id"
# What we accept from outside (X-Request-ID, task headers): short and log/header safe, so a caller
# cannot inject newlines into log lines or oversized values into the claims.correlation_id column.
_VALID_CORRELATION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")

LogContext = Mapping[str, str]
_EMPTY: LogContext = MappingProxyType({})
_context: ContextVar[LogContext] = ContextVar("promobridge_log_context", default=_EMPTY)


def new_correlation_id() -> str:
    """A fresh random id (32 hex characters) for work that arrived without one."""
    return uuid.uuid4().hex


def is_valid_correlation_id(value: object) -> bool:
    """Whether an id received from outside may be used as is (1-64 of ``[A-Za-z0-9._-]``)."""
    return isinstance(value, str) and _VALID_CORRELATION_ID.fullmatch(value) is not None


def current_context() -> LogContext:
    """Every field bound for the work in progress (read-only)."""
    return _context.get()


def current_correlation_id() -> str | None:
    """The correlation id of the request or task in progress, if one is bound."""
    return _context.get().get(CORRELATION_ID_FIELD)


def bind_context(**fields: str) -> Token[LogContext]:
    """Add fields to the log context; keep the token to restore the previous context."""
    return _context.set(MappingProxyType({**_context.get(), **fields}))


def bind_correlation_id(value: str) -> Token[LogContext]:
    """Make `value` the correlation id of the work in progress; returns the token to undo it."""
    return bind_context(**{CORRELATION_ID_FIELD: value})


def reset_context(token: Token[LogContext]) -> None:
    """Restore the context a bind replaced; clears it when the token belongs to another context."""
    try:
        _context.reset(token)
    except (ValueError, RuntimeError):
        # The token was made in another Context (or already used): the safe state is an empty one.
        clear_context()


def clear_context() -> None:
    """Forget every bound field."""
    _context.set(_EMPTY)
