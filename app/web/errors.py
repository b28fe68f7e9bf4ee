"""JSON errors for every failure: clients always get a body they can read, never an HTML page."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from flask import Flask, Response, g, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from app.web.responses import ErrorBody, FieldError

log = logging.getLogger(__name__)

# Headers Werkzeug puts on its HTML error pages that describe that page, not the error.
_PAGE_HEADERS = frozenset({"content-type", "content-length"})
_REQUEST_ERROR_FIELDS = "_promobridge_error_fields"


def add_error_fields(**fields: Any) -> None:
    """Fields every error answer to the current request carries, whoever raises the error.

    The triggered gateway uses it so that a 405 from routing or a 500 from a bug still says
    ``"allowed": false``; later calls add to (or replace) what earlier ones set.
    """
    setattr(g, _REQUEST_ERROR_FIELDS, {**g.get(_REQUEST_ERROR_FIELDS, {}), **fields})


def error_response(
    status: int, error: str, message: str, *, details: Sequence[FieldError] | None = None
) -> tuple[Response, int]:
    """The one shape of every error body (ErrorBody), plus the request's own error fields."""
    body = ErrorBody(error=error, message=message, details=None if details is None else list(details))
    return jsonify({**g.get(_REQUEST_ERROR_FIELDS, {}), **body.body()}), status


def register_error_handlers(app: Flask) -> None:
    """Map HTTP and infrastructure exceptions to JSON."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        name = (exc.name or "error").lower().replace(" ", "_")
        response, status = error_response(exc.code or 500, name, exc.description or "")
        # Keep what the exception says about the request: Allow on a 405, WWW-Authenticate on a 401.
        for header, value in exc.get_headers():
            if header.lower() not in _PAGE_HEADERS:
                response.headers[header] = value
        return response, status

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        log.error("database unavailable", extra={"error": str(exc.orig)})
        return error_response(503, "service_unavailable", "the database is unavailable, retry later")
