"""JSON responses and the one exception type handlers raise to answer with an error."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from flask import Response, request

JSON_MIMETYPE = "application/json"


class ApiError(Exception):
    """A request the simulator refuses; becomes ``{"status", "error", "message"}`` with that status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """Encode with compact separators; Flask's jsonify is slower on 10,000-row pages."""
    body = json.dumps(payload, separators=(",", ":"))
    return Response(body, status=status, mimetype=JSON_MIMETYPE, headers=headers)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """An error body shaped like Optimove's documented 429 body [C S12]."""
    payload = {"status": status, "error": HTTPStatus(status).phrase, "message": message}
    return json_response(payload, status=status, headers=headers)


def empty_response(status: int = 200) -> Response:
    """Optimove's POST functions answer with no payload [C S5, S6]."""
    return Response(b"", status=status)


def read_json_object() -> dict[str, Any]:
    """The request body as a JSON object, or ``ApiError(400)``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def require_int(body: dict[str, Any], key: str) -> int:
    """``body[key]`` as an int (not a bool), or ``ApiError(400)``."""
    value = body.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ApiError(400, f"{key} must be an integer")
    return value


def optional_number(body: dict[str, Any], key: str, default: float) -> float:
    """``body[key]`` as a float when present, or ``ApiError(400)``."""
    value = body.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ApiError(400, f"{key} must be a number")
    return float(value)
