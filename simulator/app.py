"""The simulator's Flask application factory."""

from __future__ import annotations

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from simulator.config import SimulatorConfig
from simulator.context import attach_state
from simulator.control_api import control_api
from simulator.operator_api import operator_api, operator_control
from simulator.optimove_api import optimove_api
from simulator.optipromo_api import optipromo_api
from simulator.promotion_control import promotion_control
from simulator.responses import ApiError, error_response
from simulator.state import SimulatorState


def create_simulator_app(config: SimulatorConfig) -> Flask:
    """A Flask app serving Optimove (``/current``), OptiPromo (``/optipromo``), control (``/_sim``)
    and a stand-in for the operator's reward platform (``/_operator``).

    Each app owns a fresh ``SimulatorState`` (reach it with ``simulator.context.state_of(app)``), so
    several simulators can run in one process without sharing anything.
    """
    app = Flask("simulator")
    attach_state(app, SimulatorState(config))
    app.register_blueprint(optimove_api)
    app.register_blueprint(optipromo_api)
    app.register_blueprint(control_api)
    app.register_blueprint(promotion_control)
    app.register_blueprint(operator_api)
    app.register_blueprint(operator_control)
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(HTTPException, _http_error)
    return app


def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.message)


def _http_error(error: HTTPException) -> Response:
    # Unknown paths and wrong methods answer JSON too, so clients never parse an HTML page.
    return error_response(error.code or 500, error.description or error.name)
