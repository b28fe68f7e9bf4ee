"""Carrying the correlation id across the broker: a task message header, re-bound in the worker.

Every publisher (the web app, the relay, a task queueing the next step) must add the header, so
the publish side is connected here, in ``app/``, where the web app can reach it without importing
``workers/``. The worker side (``task_prerun``/``task_postrun``) is in ``workers/signals.py``.
Celery copies a message's headers onto ``task.request``, which is how the worker reads it back.
The header is *not* called ``correlation_id``: Celery already uses that name for the AMQP
property (set to the task id), and properties overwrite headers on ``task.request``.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import Token
from typing import Any

from celery import signals

from app.observability.context import (
    CORRELATION_ID_FIELD,
    LogContext,
    bind_context,
    current_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
)

__all__ = [
    "CORRELATION_HEADER",
    "add_correlation_header",
    "bind_task_context",
    "connect_task_publish_correlation",
    "correlation_id_of",
]

CORRELATION_HEADER = "promobridge_correlation_id"
_PUBLISH_UID = "promobridge.observability.correlation_header"


def add_correlation_header(headers: MutableMapping[str, Any] | None) -> None:
    """Stamp an outgoing task message with the current correlation id (a new one if none is bound).

    A task published outside any request (by the relay's sweepers) gets a fresh id, so the chain
    of tasks it starts still shares one. An id the publisher set explicitly is kept.
    """
    if headers is None or is_valid_correlation_id(headers.get(CORRELATION_HEADER)):
        return
    headers[CORRELATION_HEADER] = current_correlation_id() or new_correlation_id()


def _on_before_task_publish(
    sender: object = None, headers: MutableMapping[str, Any] | None = None, **_: Any
) -> None:
    add_correlation_header(headers)


def connect_task_publish_correlation() -> None:
    """Stamp every task this process publishes from now on; calling it again changes nothing."""
    signals.before_task_publish.connect(_on_before_task_publish, weak=False, dispatch_uid=_PUBLISH_UID)


def correlation_id_of(request: Any) -> str:
    """The correlation id a task message carried, or a new one if it carried none (or a bad one)."""
    value = getattr(request, CORRELATION_HEADER, None)
    if value is None and hasattr(request, "get"):
        value = request.get(CORRELATION_HEADER)
    return value if isinstance(value, str) and is_valid_correlation_id(value) else new_correlation_id()


def bind_task_context(task_name: str, task_id: str, request: Any) -> Token[LogContext]:
    """Bind the message's correlation id plus the task's name and id for the task's log lines."""
    return bind_context(
        **{CORRELATION_ID_FIELD: correlation_id_of(request), "task_name": task_name, "task_id": task_id}
    )
