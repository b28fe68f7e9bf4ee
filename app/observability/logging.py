"""Structured JSON logs carrying the correlation id, with secrets scrubbed before formatting.

One JSON object per line (timestamp, level, logger, message, correlation_id and every ``extra=``
field) so a log pipeline can follow one claim from its HTTP request through the validate,
activate and status tasks by its correlation id. python-json-logger rather than structlog: every
call site in promobridge already uses the standard library's ``logging`` with ``extra=``, and a
formatter plus a filter is all that needs to change.

The filter sits on the handler, not on the root logger: a logger's filters only see records logged
to that logger itself, while a handler's filters see every record that propagates to it.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

from app.observability.context import (
    CORRELATION_ID_FIELD,
    bind_context,
    bind_correlation_id,
    clear_context,
    current_context,
    current_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
    reset_context,
)
from app.observability.redaction import redact_text, redact_value

__all__ = [
    "ContextFilter",
    "RedactingJsonFormatter",
    "RedactingTextFormatter",
    "add_filter_to_handlers",
    "bind_context",
    "bind_correlation_id",
    "clear_context",
    "configure_logging",
    "current_correlation_id",
    "is_valid_correlation_id",
    "new_correlation_id",
    "reset_context",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
JSON_FIELDS = ["levelname", "name", "message", CORRELATION_ID_FIELD]
JSON_RENAMES = {"levelname": "level", "name": "logger"}
_INSTALLED_MARK = "_promobridge_handler"
# Attributes every LogRecord has; anything else on a record came from `extra=` or a filter.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class ContextFilter(logging.Filter):
    """Adds the bound context (correlation id, task name…) to each record and scrubs its secrets.

    It never drops a record. It mutates the record in place, so every handler after it, whatever
    its format, sees the scrubbed version.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Enrich and redact `record`; always True."""
        for name, value in current_context().items():
            if getattr(record, name, None) is None:
                setattr(record, name, value)
        _redact_message(record)
        for name in [n for n in vars(record) if n not in _STANDARD_ATTRS]:
            setattr(record, name, redact_value(name, getattr(record, name)))
        return True


def _redact_message(record: logging.LogRecord) -> None:
    if isinstance(record.msg, dict):
        record.msg = redact_value("", record.msg)
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken %-format is logging's problem to report, not ours
        return
    redacted = redact_text(message)
    if redacted != message:
        record.msg, record.args = redacted, None


class RedactingJsonFormatter(JsonFormatter):
    """python-json-logger's formatter with the timestamp first and tracebacks scrubbed."""

    def __init__(self) -> None:
        super().__init__(JSON_FIELDS, rename_fields=JSON_RENAMES, timestamp=True)

    def formatException(self, ei: Any) -> str:
        """Tracebacks quote URLs and headers too; scrub them like messages."""
        return redact_text(str(super().formatException(ei)))

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        """Put the timestamp first: the one field every reader scans for."""
        return {"timestamp": log_data.pop("timestamp", None), **log_data}


class RedactingTextFormatter(logging.Formatter):
    """Plain text for a developer's terminal, with the correlation id and scrubbed tracebacks."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT, defaults={CORRELATION_ID_FIELD: "-"})

    def formatException(self, ei: Any) -> str:
        """Tracebacks quote URLs and headers too; scrub them like messages."""
        return redact_text(super().formatException(ei))


def configure_logging(level: str | int = "INFO", json: bool = True, *, stream: IO[str] | None = None) -> None:
    """Install one JSON (or text) handler on the root logger, replacing a previous one.

    Called once by each process entry point (gunicorn, the Celery worker's ``setup_logging``
    signal, the relay, the CLI). It removes the handler it installed before and plain stderr/stdout
    handlers such as ``logging.basicConfig``'s, so records are not printed twice; handlers others
    attached on purpose (files, test capture) are kept.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _INSTALLED_MARK, False) or _is_console_handler(handler):
            root.removeHandler(handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(RedactingJsonFormatter() if json else RedactingTextFormatter())
    handler.addFilter(ContextFilter())
    setattr(handler, _INSTALLED_MARK, True)
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)


def _is_console_handler(handler: logging.Handler) -> bool:
    return type(handler) is logging.StreamHandler and handler.stream in (sys.stderr, sys.stdout)


def add_filter_to_handlers(logger_name: str, *, json: bool | None = None) -> None:
    """Scrub (and optionally reformat) the records of a logger that has its own handlers.

    For loggers that do not propagate to the root, such as gunicorn's access log, which prints
    request paths and therefore the listener token.
    """
    for handler in logging.getLogger(logger_name).handlers:
        if not any(isinstance(f, ContextFilter) for f in handler.filters):
            handler.addFilter(ContextFilter())
        if json is not None:
            handler.setFormatter(RedactingJsonFormatter() if json else RedactingTextFormatter())
