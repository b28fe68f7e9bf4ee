"""gunicorn's configuration and hooks.

``gunicorn -c python:app.observability.gunicorn_conf 'app.web:create_app()'``

The one place that says how the web is served (``promobridge web``, the Procfile and compose all
run through it): ``WEB_CONCURRENCY`` worker processes of ``WEB_THREADS`` threads each, with the
worker class of ``app.web.gunicorn_worker``, which reads every request in its event loop so that
long polls wait in threads while slow clients hold none.

- ``on_starting`` installs the JSON log handler in the master, which the workers inherit at fork
  (``promobridge web`` execs gunicorn, so logging configured by the CLI does not survive).
- It also scrubs gunicorn's own loggers, which do not propagate to the root: the access log
  prints every request path, and the webhook paths contain the listener token (found even when
  the path is percent-encoded or has doubled slashes: see ``redaction``).
- It makes gunicorn answer the requests it refuses itself (request line or headers over the
  limits below: 414, 431; unparseable: 400) with the app's JSON error shape instead of HTML.
- ``child_exit`` tells prometheus-client a worker is gone (multiprocess mode).
- The access log line carries the response's ``X-Request-ID`` and the duration: it is written
  after the request's own context is gone, so that is how it joins the request's other lines.
  ``app.observability.access_log`` writes it (the same line as gunicorn's, for less CPU).

gunicorn reads only the names it knows from this module; everything else here is ignored.
"""

from __future__ import annotations

import sys
from typing import Any

from app.config import load_settings
from app.observability.access_log import ACCESS_LOG_FORMAT
from app.observability.logging import add_filter_to_handlers, configure_logging
from app.observability.metrics import mark_process_dead
from app.web.server_errors import install_json_error_pages

_GUNICORN_LOGGERS = ("gunicorn.error", "gunicorn.access")
_settings = load_settings()
worker_class = "app.web.gunicorn_worker.BufferingThreadWorker"
workers = _settings.web_concurrency
threads = _settings.web_threads
access_log_format = ACCESS_LOG_FORMAT
logger_class = "app.observability.access_log.AccessLogger"  # writes that format for less CPU
# gunicorn's own request limits, at its defaults: stated here because the answers to requests over
# them (414 URI Too Long, 431 Request Header Fields Too Large) are the JSON ones installed below.
limit_request_line = 4094
limit_request_field_size = 8190
limit_request_fields = 100


def _logging_options() -> tuple[str, bool]:
    settings = load_settings()
    # getattr: LOG_LEVEL / LOG_JSON may not be Settings fields yet; these are their defaults.
    return str(getattr(settings, "log_level", "INFO")), bool(getattr(settings, "log_json", True))


def on_starting(server: Any) -> None:
    """Configure logging once in the master, before any worker is forked."""
    level, json = _logging_options()
    configure_logging(level, json)
    for name in _GUNICORN_LOGGERS:
        add_filter_to_handlers(name, json=json)
    install_json_error_pages()  # in the master, so every worker forked from it inherits it


def post_fork(server: Any, worker: Any) -> None:
    """gunicorn may have rebuilt its log handlers (SIGHUP); scrub them again (idempotent). Set the
    worker's GIL switch interval (WEB_GIL_SWITCH_INTERVAL_MS)."""
    for name in _GUNICORN_LOGGERS:
        add_filter_to_handlers(name)
    sys.setswitchinterval(_settings.web_gil_switch_interval_ms / 1000)


def child_exit(server: Any, worker: Any) -> None:
    """A worker exited: drop its live gauge files so they stop counting."""
    mark_process_dead(worker.pid)
