"""The simulated operator platform over HTTP: ``POST /_operator/grants`` and its ``/_sim/operator`` controls.

The grant endpoint is what ``REWARD_ACTIVATOR_URL`` points at in tests, the demo and benchmarks
(``SimulatorServer.operator_grants_url``). The ledger and the faults live in
``simulator.operator_grants``; this module only reads requests and writes answers.
"""

from __future__ import annotations

import time

from flask import Blueprint, Response, request

from simulator import contract
from simulator.connection import reset_client_connection
from simulator.context import current_state
from simulator.operator_grants import (
    MILLISECONDS_PER_SECOND,
    Answer,
    GrantFault,
    OperatorPlan,
    OperatorPlatform,
)
from simulator.responses import ApiError, json_response, read_json_object

operator_api = Blueprint("operator_api", __name__, url_prefix=contract.OPERATOR_PREFIX)
operator_control = Blueprint("operator_control", __name__, url_prefix=f"{contract.CONTROL_PREFIX}/operator")

IDEMPOTENCY_KEY_HEADER = "Idempotency-Key"
MAX_KEY_CHARS = 255
REDIRECT_TARGET = f"{contract.OPERATOR_PREFIX}/elsewhere"
_BODYLESS_STATUSES = frozenset({204, 304})


@operator_api.post("/grants")
def post_grant() -> Response:
    """Grant a reward once per Idempotency-Key; see ``simulator.operator_grants`` for every answer."""
    platform = current_state().operator
    key = request.headers.get(IDEMPOTENCY_KEY_HEADER, "").strip()
    body = request.get_json(silent=True)
    if not key or len(key) > MAX_KEY_CHARS or not isinstance(body, dict):
        platform.count_bad_request()
        raise ApiError(400, "a JSON object body and an Idempotency-Key header (1-255 chars) are required")
    plan = platform.plan
    if plan.force_status is not None:
        platform.note_attempt(key, body)
        _sleep_ms(plan.latency_ms)
        return _send(platform, key, _forced(plan, plan.force_status))
    early = platform.admit(key, body)
    _sleep_ms(plan.latency_ms)
    if early is not None:
        return _send(platform, key, early)
    try:
        customer = body.get("customer_id")
        return _process(platform, plan, key, customer if isinstance(customer, str) else None)
    finally:
        platform.release(key)


def _process(platform: OperatorPlatform, plan: OperatorPlan, key: str, customer: str | None) -> Response:
    match platform.draw(customer):
        case GrantFault.SERVER_ERROR:
            status = platform.server_error_status()
            return _send(platform, key, _with_retry_after(Answer(status, {"error": "injected"}), plan))
        case GrantFault.REFUSE:
            return _send(platform, key, platform.refuse(key))
        case GrantFault.APPLIED_LOST:
            platform.grant(key)
            platform.count_answer(key, "reset")
            reset_client_connection(request.environ)
            return Response(b"", status=200)  # werkzeug's write to the reset socket fails quietly
        case GrantFault.SLOW:
            _sleep_ms(plan.slow_ms)
            return _send(platform, key, platform.grant(key))
        case _:
            return _send(platform, key, platform.grant(key))


@operator_control.get("/faults")
def get_operator_faults() -> Response:
    """The operator plan in force."""
    return json_response(current_state().operator.plan.to_json())


@operator_control.post("/faults")
def replace_operator_faults() -> Response:
    """Replace the operator plan (omitted settings take their defaults: no faults, default latency)."""
    platform = current_state().operator
    try:
        plan = OperatorPlan.from_json(read_json_object(), latency_ms=platform.default_latency_ms)
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    platform.replace(plan)
    return json_response(plan.to_json())


@operator_control.delete("/faults")
def clear_operator_faults() -> Response:
    """Back to the default plan."""
    platform = current_state().operator
    platform.replace(OperatorPlan(latency_ms=platform.default_latency_ms))
    return json_response(platform.plan.to_json())


@operator_control.get("/grants")
def get_operator_grants() -> Response:
    """Per Idempotency-Key: attempts, grants (never more than 1) and answers; plus totals."""
    return json_response(current_state().operator.snapshot())


def _forced(plan: OperatorPlan, status: int) -> Answer:
    headers = {"Location": REDIRECT_TARGET} if 300 <= status < 400 else {}
    return _with_retry_after(Answer(status, {"error": f"forced status {status}"}, headers), plan)


def _with_retry_after(answer: Answer, plan: OperatorPlan) -> Answer:
    if plan.retry_after_seconds is None:
        return answer
    headers = {**answer.headers, "Retry-After": str(plan.retry_after_seconds)}
    return Answer(answer.status, answer.body, headers)


def _send(platform: OperatorPlatform, key: str, answer: Answer) -> Response:
    platform.count_answer(key, answer.status)
    if answer.status in _BODYLESS_STATUSES:
        return Response(b"", status=answer.status, headers=answer.headers)
    return json_response(answer.body, status=answer.status, headers=answer.headers)


def _sleep_ms(milliseconds: float) -> None:
    if milliseconds > 0:
        time.sleep(milliseconds / MILLISECONDS_PER_SECOND)
