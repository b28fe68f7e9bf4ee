"""Headers every answer carries: API and webhook responses are never cached nor content-sniffed."""

from __future__ import annotations

from flask import Flask, Response

__all__ = ["SECURITY_HEADERS", "install_security_headers"]

# no-store: claims, campaign reports and gateway decisions are per-caller and change by the second;
# nosniff: a browser must never render an error body that echoes input as anything but its type.
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def install_security_headers(app: Flask) -> None:
    """Add the security headers to every response, errors and 5xx included, unless a view set them."""

    @app.after_request
    def _add_security_headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response
