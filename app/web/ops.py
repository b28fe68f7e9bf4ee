"""Operations endpoints (``/healthz``, ``/readyz``, ``/metrics``) and request correlation ids.

Kept apart from the product blueprints: probes and scrapes need no API key, must answer while the
product endpoints are failing, and read only what the app factory put in ``app.config``
(``PROMOBRIDGE_SETTINGS`` and ``PROMOBRIDGE_ENGINE``). ``/metrics`` carries no secrets, but like
the probes it is meant for the internal network, not the internet.
"""

from __future__ import annotations

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from prometheus_client.exposition import choose_encoder

from app.config import Settings
from app.observability.context import (
    bind_correlation_id,
    current_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
    reset_context,
)
from app.observability.db_metrics import DatabaseCollector
from app.observability.health import check_broker, check_database, readiness
from app.observability.metrics import scrape_registry
from app.web.openapi import Text, documented
from app.web.responses import Liveness, ReadinessView

__all__ = ["REQUEST_ID_HEADER", "install_request_correlation", "ops"]

REQUEST_ID_HEADER = "X-Request-ID"
_TOKEN_KEY = "_promobridge_correlation_token"
_NO_STORE = {"Cache-Control": "no-store"}

ops = Blueprint("ops", __name__)


@ops.get("/healthz")
@documented(answers={200: (Liveness, "alive")})
def healthz() -> tuple[Response, int, dict[str, str]]:
    """Liveness: the process answers. Touches nothing, so an outage elsewhere never restarts it."""
    return jsonify(Liveness().body()), 200, _NO_STORE


@ops.get("/readyz")
@documented(answers={200: (ReadinessView, "ready"), 503: (ReadinessView, "not ready; see failing")})
def readyz() -> tuple[Response, int, dict[str, str]]:
    """Readiness: 200 when the database and the broker answer, else 503 naming what failed."""
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    engine = current_app.config["PROMOBRIDGE_ENGINE"]
    report = readiness(
        {
            "database": lambda: check_database(engine),
            "broker": lambda: check_broker(settings.resolved_broker_url, settings.broker_folder),
        }
    )
    return jsonify(ReadinessView.from_readiness(report).body()), 200 if report.ready else 503, _NO_STORE


@ops.get("/metrics")
@documented(
    answers={
        200: Text(
            "Prometheus text format 0.0.4, or OpenMetrics when the scraper's Accept asks for it",
            ("text/plain", "application/openmetrics-text"),
        )
    }
)
def metrics() -> Response:
    """Prometheus text format: counters of every process sharing the multiprocess dir, DB gauges.

    The format is negotiated from ``Accept`` as prometheus-client's own servers do (text 0.0.4 by
    default, OpenMetrics when the scraper asks for it).
    """
    engine = current_app.config.get("PROMOBRIDGE_ENGINE")
    registry = scrape_registry([DatabaseCollector(engine)] if engine is not None else [])
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry), headers={"Content-Type": content_type, **_NO_STORE})


def install_request_correlation(app: Flask) -> None:
    """Bind each request's correlation id for its log lines and echo it as ``X-Request-ID``.

    The caller's ``X-Request-ID`` is reused when it is 1-64 characters of ``[A-Za-z0-9._-]`` (so it
    can join the caller's own logs); anything else is replaced by a fresh id rather than trusted.
    Call it before registering blueprints whose ``before_request`` hooks may answer early.
    """

    @app.before_request
    def _bind_request_id() -> None:
        incoming = request.headers.get(REQUEST_ID_HEADER)
        value = incoming if incoming is not None and is_valid_correlation_id(incoming) else None
        setattr(g, _TOKEN_KEY, bind_correlation_id(value or new_correlation_id()))

    @app.after_request
    def _echo_request_id(response: Response) -> Response:
        correlation_id = current_correlation_id()
        if correlation_id is not None:
            response.headers[REQUEST_ID_HEADER] = correlation_id
        return response

    @app.teardown_request
    def _unbind_request_id(_exc: BaseException | None) -> None:
        token = g.pop(_TOKEN_KEY, None)
        if token is not None:
            reset_context(token)
