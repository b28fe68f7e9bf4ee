"""gunicorn's own error answers, as JSON: the requests it refuses before the app ever sees them.

gunicorn parses the request line and the headers itself, and answers a request line longer than
``limit_request_line`` (414), a header field over ``limit_request_field_size`` or more fields than
``limit_request_fields`` (431), and other unparseable requests (400, 501) with a small HTML page
written by ``gunicorn.util.write_error``. Clients of this service expect JSON everywhere, so the
gunicorn hooks replace that one function, in the master before workers fork, with one that writes
the app's error shape and security headers. gunicorn looks the function up on its module at each
call, which is what makes the replacement take effect; the end-to-end test checks it still does.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from app.web.security_headers import SECURITY_HEADERS

__all__ = ["install_json_error_pages", "json_error_response"]


def json_error_response(status: int, reason: str, message: str) -> bytes:
    """A complete HTTP/1.1 error response (closing the connection) with a JSON body."""
    error = reason.lower().replace(" ", "_") or "error"
    body = json.dumps({"error": error, "message": message or reason}).encode()
    headers = {
        "Connection": "close",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        **SECURITY_HEADERS,
    }
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def install_json_error_pages() -> None:
    """Make gunicorn write JSON instead of HTML when it refuses a request (idempotent)."""
    from gunicorn import util

    if getattr(util.write_error, "_promobridge_json", False):
        return
    write_nonblock: Any = util.write_nonblock

    def write_json_error(sock: socket.socket, status_int: int, reason: str, mesg: str) -> None:
        write_nonblock(sock, json_error_response(status_int, reason, mesg))

    write_json_error._promobridge_json = True  # type: ignore[attr-defined]
    util.write_error = write_json_error
