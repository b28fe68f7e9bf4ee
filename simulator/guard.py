"""The gate every Optimove (and OptiPromo) call passes: counting, API key, rate limit, then faults.

The order matters and mirrors what a client can observe from the real service: a bad key is refused
before it costs any budget, every authenticated request spends budget (even one that then gets an
injected fault), and a request refused with 429 by the limiter spends none.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from flask import Response, request

from simulator.connection import reset_client_connection
from simulator.context import current_state
from simulator.contract import API_KEY_HEADER, BARE_STRING_ERROR_BODY, RATE_LIMIT_MESSAGE
from simulator.faults import FaultDecision, FaultKind
from simulator.responses import JSON_MIMETYPE, ApiError, error_response
from simulator.state import RESET_OUTCOME, SimulatorState

INJECTED_429_RETRY_AFTER_SECONDS = 1
GATEWAY_TIMEOUT = 504

OptimoveHandler = Callable[[SimulatorState, FaultDecision], Response]


def rate_limited_response(retry_after_seconds: int) -> Response:
    """Optimove's documented 429 body [C S12], plus a Retry-After header (contract #9)."""
    return error_response(429, RATE_LIMIT_MESSAGE, headers={"Retry-After": str(retry_after_seconds)})


def serve_optimove_call(endpoint: str, handler: OptimoveHandler) -> Response:
    """Run ``handler`` for an Optimove or OptiPromo endpoint behind auth, the rate limit and faults.

    Both APIs pass the same limiter, so they share one budget per key (contract #16).
    """
    state = current_state()
    state.traffic.count_request(endpoint)
    response = _gate(state, endpoint, handler)
    outcome = RESET_OUTCOME if isinstance(response, _UnsentResponse) else response.status_code
    state.traffic.count_response(endpoint, outcome)
    return response


class _UnsentResponse(Response):
    """Returned after the connection was reset: werkzeug's write of it fails quietly."""


def _gate(state: SimulatorState, endpoint: str, handler: OptimoveHandler) -> Response:
    key = request.headers.get(API_KEY_HEADER)
    if key is None or key not in state.config.api_keys:
        return error_response(401, f"missing or invalid {API_KEY_HEADER}")
    retry_after = state.limiter.try_acquire(key)
    if retry_after is not None:
        state.traffic.count_rate_limited()
        return rate_limited_response(retry_after)

    decision = state.faults.decide(endpoint)
    if decision.latency_seconds > 0:
        time.sleep(decision.latency_seconds)
    match decision.kind:
        case FaultKind.SERVER_ERROR:
            return error_response(decision.error_status, "injected server error")
        case FaultKind.TOO_MANY_REQUESTS:
            return rate_limited_response(INJECTED_429_RETRY_AFTER_SECONDS)
        case FaultKind.TIMEOUT:
            # Outlast the client's timeout; only a client that waits longer ever sees the 504.
            time.sleep(decision.timeout_seconds)
            return error_response(GATEWAY_TIMEOUT, "injected timeout")
        case FaultKind.RESET:
            return _reset()
        case FaultKind.BARE_STRING:
            return Response(BARE_STRING_ERROR_BODY, status=200, mimetype=JSON_MIMETYPE)
        case FaultKind.APPLIED_LOST:
            _run(state, decision, handler)
            return _reset()
        case _:
            return _run(state, decision, handler)


def _run(state: SimulatorState, decision: FaultDecision, handler: OptimoveHandler) -> Response:
    try:
        return handler(state, decision)
    except ApiError as error:
        return error_response(error.status, error.message)


def _reset() -> Response:
    reset_client_connection(request.environ)
    return _UnsentResponse(b"", status=200)
