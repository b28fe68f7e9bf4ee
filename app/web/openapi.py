"""The HTTP API as OpenAPI 3.1, built from the same pydantic schemas that validate the requests.

Served at /openapi.json, with a small self-contained docs page at /docs (no external scripts: the
service may run where browsers cannot reach a CDN).
"""

from __future__ import annotations

import html
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify
from pydantic import BaseModel

from app.adapters.optimove.contract import MAX_OPTIMOVE_ID
from app.config import Settings
from app.web.optimove_payloads import GatewayAnswer, GatewayCall, GatewayError, OptimoveEvent
from app.web.responses import ClaimView, ErrorBody
from app.web.schemas import IDEMPOTENCY_KEY_PATTERN, ClaimBody

openapi = Blueprint("openapi", __name__)
API_VERSION = "1.0.0"


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(ref_template="#/components/schemas/{model}")


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _errors(*codes: int, schema: str = "ErrorBody") -> dict[str, Any]:
    return {str(code): {"description": "error", "content": _json(schema)} for code in codes}


BEARER: list[dict[str, list[str]]] = [{"clientKey": []}]
DOCUMENTED_MODELS: tuple[type[BaseModel], ...] = (
    ClaimBody,
    ClaimView,
    ErrorBody,
    OptimoveEvent,
    GatewayCall,
    GatewayAnswer,
    GatewayError,
)
_OBJECT = {"application/json": {"schema": {"type": "object"}}}
_PROMETHEUS_TEXT = {
    "text/plain": {"schema": {"type": "string"}},
    "application/openmetrics-text": {"schema": {"type": "string"}},
}


def build_spec(*, max_wait_seconds: float) -> dict[str, Any]:
    """The OpenAPI document; `max_wait_seconds` is the long-poll bound (CLAIMS_MAX_WAIT_SECONDS)."""
    components: dict[str, Any] = {}
    for model in DOCUMENTED_MODELS:
        schema = _schema(model)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
    }
    token = {"name": "token", "in": "path", "required": True, "schema": {"type": "string"}}
    optimove_id = {"type": "integer", "minimum": 1, "maximum": MAX_OPTIMOVE_ID}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "promobridge",
            "version": API_VERSION,
            "description": "Operator-side integration for Optimove OptiPromo's Advanced Activation Flow.",
        },
        "components": {
            "schemas": components,
            "securitySchemes": {"clientKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": {
            "/v1/claims": {
                "post": {
                    "summary": "Submit a claim (the customer clicked Claim Reward)",
                    "security": BEARER,
                    "parameters": [idempotency],
                    "requestBody": {"required": True, "content": _json("ClaimBody")},
                    "responses": {
                        "202": {"description": "created", "content": _json("ClaimView")},
                        "200": {
                            "description": "an existing claim (replay or second claim)",
                            "content": _json("ClaimView"),
                        },
                        **_errors(400, 401, 404, 409, 413, 415, 422, 429),
                    },
                }
            },
            "/v1/claims/{claim_id}": {
                "get": {
                    "summary": "A claim's progress; ?wait= long-polls until it is final",
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "claim_id",
                            "in": "path",
                            "required": True,
                            "description": "Any other text is answered 404, as no claim can have it.",
                            "schema": {"type": "string", "format": "uuid"},
                        },
                        {
                            "name": "wait",
                            "in": "query",
                            "required": False,
                            "description": (
                                "Seconds to hold the answer until the claim is final (completed, "
                                "rejected or failed), at most CLAIMS_MAX_WAIT_SECONDS (30 by default). "
                                "Waiting polls are capped per web process, per client "
                                "(CLAIMS_MAX_LONG_POLLS_PER_CLIENT) and in all (CLAIMS_MAX_LONG_POLLS): "
                                "beyond either, 429 too_many_long_polls with Retry-After."
                            ),
                            "schema": {"type": "number", "minimum": 0, "maximum": max_wait_seconds},
                        },
                    ],
                    "responses": {
                        "200": {"description": "the claim", "content": _json("ClaimView")},
                        **_errors(400, 401, 404),
                        "429": {
                            "description": "rate limit, or too many long polls waiting (see wait)",
                            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
                            "content": _json("ErrorBody"),
                        },
                    },
                }
            },
            "/v1/campaigns/{campaign_id}": {
                "get": {
                    "summary": "A campaign's progress and counters",
                    "security": BEARER,
                    "parameters": [
                        {"name": "campaign_id", "in": "path", "required": True, "schema": optimove_id}
                    ],
                    "responses": {
                        "200": {"description": "the campaign report", "content": _OBJECT},
                        **_errors(401, 404, 429),
                    },
                }
            },
            "/webhooks/optimove/{token}": {
                "post": {
                    "summary": "Optimove's listener (EventTypeID 5 and 4)",
                    "parameters": [token],
                    "requestBody": {"required": True, "content": _json("OptimoveEvent")},
                    "responses": {
                        "200": {"description": "stored (or a duplicate)", "content": _OBJECT},
                        **_errors(400, 401, 413, 415, 422, 503),
                    },
                }
            },
            "/webhooks/optimove/triggered/{token}": {
                "post": {
                    "summary": "Optimove's triggered-campaign gateway (fails closed)",
                    "parameters": [token],
                    "requestBody": {"required": True, "content": _json("GatewayCall")},
                    "responses": {
                        "200": {"description": "the decision", "content": _json("GatewayAnswer")},
                        **_errors(400, 401, 413, 415, schema="GatewayError"),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {"200": {"description": "alive", "content": _OBJECT}},
                }
            },
            "/readyz": {
                "get": {
                    "summary": "Readiness: database and broker",
                    "responses": {
                        "200": {"description": "ready", "content": _OBJECT},
                        "503": {"description": "not ready, naming what failed", "content": _OBJECT},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "summary": "Prometheus metrics",
                    "responses": {"200": {"description": "text", "content": _PROMETHEUS_TEXT}},
                }
            },
        },
    }


def _configured_spec() -> dict[str, Any]:
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    return build_spec(max_wait_seconds=settings.claims_max_wait_seconds)


@openapi.get("/openapi.json")
def openapi_json() -> Response:
    """The OpenAPI document."""
    return jsonify(_configured_spec())


@openapi.get("/docs")
def docs() -> Response:
    """A readable page generated from the same document."""
    spec = _configured_spec()
    parts = [
        f"<h1>{html.escape(spec['info']['title'])} API {spec['info']['version']}</h1>",
        f"<p>{html.escape(spec['info']['description'])} Machine-readable: <a href='/openapi.json'>"
        "/openapi.json</a></p>",
    ]
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            codes = ", ".join(operation.get("responses", {}))
            parts.append(
                f"<h2><code>{method.upper()} {html.escape(path)}</code></h2>"
                f"<p>{html.escape(operation['summary'])}</p><p>Responses: {codes}</p>"
            )
    parts.append("<h2>Schemas</h2>")
    for name, schema in spec["components"]["schemas"].items():
        parts.append(f"<h3>{html.escape(name)}</h3><pre>{html.escape(json.dumps(schema, indent=2))}</pre>")
    page = (
        "<!doctype html><html><head><meta charset='utf-8'><title>promobridge API</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}pre{background:#f4f4f4;"
        "padding:1em;overflow:auto}</style></head><body>" + "".join(parts) + "</body></html>"
    )
    return Response(page, mimetype="text/html")
