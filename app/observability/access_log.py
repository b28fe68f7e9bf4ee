"""gunicorn's logger, writing the access line of promobridge's own format for less CPU.

gunicorn formats an access line from its "atoms": a dict of some twenty values plus every request
header, response header and environ variable, built for every request whatever the format uses,
then logged through ``Logger.info`` (which looks up its caller's frame). For ``ACCESS_LOG_FORMAT``,
the format ``gunicorn_conf`` configures, this logger builds the same line from the seven values it
shows and hands the record straight to the access log's handlers (the same filters scrub it, the
same formatter writes it). Any other format (an operator's ``--access-logformat``) goes through
gunicorn's own code. Used through ``logger_class`` in ``app.observability.gunicorn_conf``.
"""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

ACCESS_LOG_FORMAT = '%(h)s "%(r)s" %(s)s %(B)s bytes %(M)sms request_id=%({x-request-id}o)s "%(a)s"'
_REQUEST_ID = "x-request-id"


def _quoted(value: str) -> str:
    return value.replace('"', '\\"')  # as gunicorn's SafeAtoms does


def access_line(resp: Any, environ: dict[str, Any], request_time: timedelta) -> str:
    """The line gunicorn writes with ACCESS_LOG_FORMAT for this request."""
    status = resp.status
    if isinstance(status, str):
        status = status.split(None, 1)[0]
    request_id = "-"
    for name, value in resp.headers:
        if name.lower() == _REQUEST_ID:
            request_id = _quoted(value)
            break
    request_line = f"{environ['REQUEST_METHOD']} {environ['RAW_URI']} {environ['SERVER_PROTOCOL']}"
    milliseconds = request_time.seconds * 1000 + int(request_time.microseconds / 1000)
    return (
        f'{_quoted(environ.get("REMOTE_ADDR", "-"))} "{_quoted(request_line)}" {status} '
        f"{getattr(resp, 'sent', None)} bytes {milliseconds}ms request_id={request_id} "
        f'"{_quoted(environ.get("HTTP_USER_AGENT", "-"))}"'
    )


class AccessLogger(Logger):  # type: ignore[misc]
    """gunicorn's Logger, with a cheaper access line for ACCESS_LOG_FORMAT (see the module docstring)."""

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        """Log one request, as gunicorn would."""
        if self.cfg.access_log_format != ACCESS_LOG_FORMAT:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled or not self.access_log.isEnabledFor(logging.INFO):
            return
        try:
            line = access_line(resp, environ, request_time)
            record = self.access_log.makeRecord(
                self.access_log.name, logging.INFO, __file__, 0, line, None, None
            )
            self.access_log.handle(record)
        except Exception:
            self.error(traceback.format_exc())
