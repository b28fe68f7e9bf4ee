"""JSON errors for every failure: clients always get a body they can read, never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_response(status: int, error: str, message: str, **extra: Any) -> tuple[Response, int]:
    """The one shape of every error body (`extra` adds fields such as validation details)."""
    return jsonify({"error": error, "message": message, **extra}), status


def register_error_handlers(app: Flask) -> None:
    """Map HTTP and infrastructure exceptions to JSON."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        name = (exc.name or "error").lower().replace(" ", "_")
        return error_response(exc.code or 500, name, exc.description or "")

    @app.errorhandler(OperationalError)
    def _database_down(exc: OperationalError) -> tuple[Response, int]:
        log.error("database unavailable", extra={"error": str(exc.orig)})
        return error_response(503, "service_unavailable", "the database is unavailable, retry later")
