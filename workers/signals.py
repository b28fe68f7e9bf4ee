"""Celery signal receivers: logging, the correlation id across tasks, and metrics bookkeeping.

Connected when this module is imported (``workers/celery_app.py`` imports it), in every process
that loads the Celery app: the worker parent, its prefork children and the relay.

- ``setup_logging``: having a receiver stops Celery from replacing the root logger's handlers; we
  install the JSON handler instead.
- ``before_task_publish`` (via ``connect_task_publish_correlation``): every published task carries
  the current correlation id as the ``promobridge_correlation_id`` message header, so one claim's
  request id follows it through validate → activate → status. (Not ``correlation_id``: Celery
  sets ``task.request.correlation_id`` to the task id itself.)
- ``task_prerun`` / ``task_postrun``: bind that id plus the task's name and id for the task's log
  lines, then restore what was bound before (a task run eagerly inside a request must not take
  the request's id away).
- ``worker_process_shutdown``: a prefork child exits; prometheus-client forgets its live gauges.
- ``worker_init`` / ``beat_init``: a worker or beat started with missing or weak secrets exits
  (code 2, the reason on stderr) before it consumes or schedules anything; then, with
  ``WORKER_METRICS_PORT`` set, the pool's parent serves the host's metrics.
- ``worker_init`` / ``worker_process_init``: the start-up heap is frozen and young collections are
  rarer (``app.gc_tuning``): decoding a page of 10,000 customers costs a third less.
"""

from __future__ import annotations

import logging
import os
from contextvars import Token
from typing import Any

from celery import signals

from app.config import process_settings
from app.gc_tuning import settle_heap_for_bulk_work
from app.observability.context import LogContext, reset_context
from app.observability.logging import configure_logging
from app.observability.metrics import mark_process_dead, start_worker_metrics_server
from app.observability.task_context import bind_task_context, connect_task_publish_correlation
from app.security import exit_unless_secrets_are_safe

log = logging.getLogger(__name__)

# Tokens of the contexts bound by task_prerun, by task id, until the matching task_postrun.
_task_tokens: dict[str, Token[LogContext]] = {}


@signals.setup_logging.connect
def configure_worker_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """JSON logs at the worker's ``--loglevel`` (else ``LOG_LEVEL``), instead of Celery's format."""
    settings = process_settings()
    configure_logging(loglevel or settings.log_level, settings.log_json)


@signals.task_prerun.connect
def bind_task_log_context(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    """Re-bind the correlation id the message carried, with the task's name and id."""
    if task is None or task_id is None:
        return
    _task_tokens[task_id] = bind_task_context(str(task.name), task_id, task.request)


@signals.task_postrun.connect
def unbind_task_log_context(task_id: str | None = None, **_: Any) -> None:
    """Restore the log context bound before the task ran."""
    token = _task_tokens.pop(task_id, None) if task_id is not None else None
    if token is not None:
        reset_context(token)


@signals.worker_process_shutdown.connect
def forget_exited_process(pid: int | None = None, **_: Any) -> None:
    """Drop an exiting prefork child's live gauges (multiprocess metrics)."""
    mark_process_dead(pid or os.getpid())


@signals.worker_init.connect
def refuse_unsafe_worker(**_: Any) -> None:
    """Exit before consuming anything when the secrets are unsafe.

    A SystemExit, unlike an exception, is not swallowed by Celery's signal dispatch.
    """
    exit_unless_secrets_are_safe(process_settings(), "worker")


@signals.worker_init.connect
@signals.worker_process_init.connect
def settle_worker_heap(**_: Any) -> None:
    """A worker (or a prefork child) set up: what it holds now lives as long as it does; young
    objects are collected less often (see ``app.gc_tuning``)."""
    settle_heap_for_bulk_work(process_settings().worker_gc_gen0_threshold)


@signals.beat_init.connect
def refuse_unsafe_beat(**_: Any) -> None:
    """Exit before scheduling anything when the secrets are unsafe."""
    exit_unless_secrets_are_safe(process_settings(), "beat")


@signals.worker_init.connect
def serve_worker_metrics(**_: Any) -> None:
    """Start the optional metrics server for hosts whose metrics no web process serves."""
    port = process_settings().worker_metrics_port
    try:
        start_worker_metrics_server(port)
    except OSError:
        log.exception("metrics server could not start", extra={"port": port})


connect_task_publish_correlation()
