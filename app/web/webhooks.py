"""Optimove's calls: the listener (store in the inbox, answer in milliseconds) and the triggered gateway."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import BadRequest, Unauthorized, UnsupportedMediaType

from app.adapters.optimove.contract import WEBHOOK_MEDIA_TYPE, InvalidCampaignEvent
from app.adapters.optimove.gateway_contract import parse_triggered_call
from app.config import Settings
from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED
from app.domain.inbox import Stored
from app.domain.optimove import InvalidTriggeredCall
from app.observability.metrics import (
    record_gateway_decision,
    record_webhook,
    record_webhook_conflict,
    record_webhook_rejected,
    webhook_rejection_reason,
)
from app.services.triggered import decide_triggered
from app.services.webhooks import DeadlineWindow, UnsupportedEventType, receive_optimove_event
from app.web.errors import add_error_fields, error_response
from app.web.json_body import InvalidJsonBody, decode_json_object, read_limited_body
from app.web.openapi import documented
from app.web.optimove_payloads import (
    AckStatus,
    GatewayAnswer,
    GatewayCall,
    GatewayError,
    ListenerAck,
    OptimoveEvent,
)
from app.web.responses import ErrorBody, FieldError
from app.web.schemas import ListenerPath

webhooks = Blueprint("webhooks", __name__)
GATEWAY_PATH_PREFIX = "/webhooks/optimove/triggered/"


@webhooks.before_app_request
def _gateway_errors_fail_closed() -> None:
    # App-wide, because a 405 or 404 from routing never reaches a blueprint's own hooks: any
    # error answered on the gateway's path must still read as a refusal, never as "no answer".
    if request.path.startswith(GATEWAY_PATH_PREFIX):
        add_error_fields(allowed=False)


@webhooks.after_request
def _count_rejections(response: Response) -> Response:
    # One place for every 4xx, including 413s raised while reading the body.
    reason = webhook_rejection_reason(response.status_code)
    if reason is not None:
        record_webhook_rejected(reason)
    return response


@webhooks.post("/webhooks/optimove/<token>")
@documented(
    json=OptimoveEvent,
    path=ListenerPath,
    answers={
        200: (ListenerAck, "stored, or a redelivery or conflicting event (see status)"),
        400: (ErrorBody, "not one strict JSON object, a field unreadable, a deadline out of range"),
        401: (ErrorBody, "unknown listener token, or a missing or invalid signature"),
        413: (ErrorBody, "the body exceeds WEBHOOK_MAX_BYTES"),
        415: (ErrorBody, "the body is not sent as application/json"),
        422: (ErrorBody, "an event type other than 5 and 4"),
        503: (ErrorBody, "the database is unavailable; Optimove redelivers"),
    },
)
def optimove_listener(token: str) -> tuple[Response, int]:
    """Optimove's listener: a scheduled campaign (EventTypeID 5) or its cancelation (4).

    The event is stored in the inbox and acknowledged in milliseconds; a redelivery is answered
    `duplicate` and starts nothing. When WEBHOOK_HMAC_SECRET is set, the body must be signed.
    The body is read leniently (ids as numeric strings, keys in any case, extra keys kept).
    """
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    raw, payload = _authenticated_json_body(token, settings)
    past, ahead = settings.deadline_window
    container = current_app.config["PROMOBRIDGE_SERVICES"].container
    try:
        received = receive_optimove_event(
            container.uow,
            container.events,
            payload,
            raw.decode("utf-8"),
            window=DeadlineWindow(past=past, ahead=ahead),
        )
    except InvalidCampaignEvent as exc:
        return _invalid_event(str(exc), exc.field)
    except UnsupportedEventType as exc:
        return error_response(422, "unsupported_event", str(exc))
    record_webhook("cancel" if received.event.event_type_id == EVENT_CAMPAIGN_CANCELED else "scheduled")
    if received.stored == Stored.CONFLICT:
        record_webhook_conflict()
    # Optimove needs a 2xx to stop redelivering; a conflict is for the operator (log, metric,
    # campaign report), the fields that differ for whoever reads this answer in a proxy log.
    ack = ListenerAck(
        status=_STATUS_OF[received.stored],
        event_type_id=received.event.event_type_id,
        campaign_id=received.event.campaign_id,
        differs_in=sorted(received.differences) if received.differences else None,
    )
    return jsonify(ack.body()), 200


_STATUS_OF: dict[Stored, AckStatus] = {
    Stored.NEW: "accepted",
    Stored.DUPLICATE: "duplicate",
    Stored.CONFLICT: "conflict",
}


@webhooks.post(GATEWAY_PATH_PREFIX + "<token>")
@documented(
    json=GatewayCall,
    path=ListenerPath,
    answers={
        200: (GatewayAnswer, "the decision; false for any campaign not declared triggered, and on any error"),
        400: (GatewayError, "not one strict JSON object, or the customer or campaign unreadable"),
        401: (GatewayError, "unknown listener token, or a missing or invalid signature"),
        413: (GatewayError, "the body exceeds WEBHOOK_MAX_BYTES"),
        415: (GatewayError, "the body is not sent as application/json"),
    },
)
def triggered_gateway(token: str) -> tuple[Response, int]:
    """Optimove's triggered-campaign gateway: may this customer get the campaign? Fails closed.

    The operator's policies decide within TRIGGERED_TIMEOUT_MS, for campaigns declared triggered
    only; the customer is recorded in the campaign's audience. Every answer on this path, errors
    included, carries `allowed` (false on any error).
    """
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    _, payload = _authenticated_json_body(token, settings)
    try:
        call = parse_triggered_call(payload)
    except InvalidTriggeredCall as exc:
        if exc.user_id is not None:
            add_error_fields(user_id=exc.user_id)
        return _invalid_event(str(exc), exc.field)
    add_error_fields(user_id=call.user_id)
    container = current_app.config["PROMOBRIDGE_SERVICES"].container
    ranges = settings.declared_triggered_campaigns
    answer = decide_triggered(
        container.uow,
        container.pipeline,
        call,
        timeout_ms=settings.triggered_timeout_ms,
        declared=lambda campaign_id: any(low <= campaign_id <= high for low, high in ranges),
    )
    record_webhook("triggered")
    record_gateway_decision(answer.outcome.value)
    return jsonify(GatewayAnswer(user_id=answer.user_id, allowed=answer.allowed).body()), 200


def _authenticated_json_body(token: str, settings: Settings) -> tuple[bytes, dict[str, Any]]:
    """The raw body and its JSON object, once the token, media type, size and signature are right.

    Raises Unauthorized (401), UnsupportedMediaType (415), RequestEntityTooLarge (413) or
    BadRequest (400), all answered as JSON by the app's error handlers; nothing is written before.
    """
    if not hmac.compare_digest(token.encode(), settings.listener_token.encode()):
        raise Unauthorized("unknown listener token")
    if request.mimetype not in {WEBHOOK_MEDIA_TYPE, *settings.webhook_extra_media_types}:
        raise UnsupportedMediaType(f"send the body as {WEBHOOK_MEDIA_TYPE}")
    raw = read_limited_body(settings.webhook_max_bytes)
    if settings.webhook_hmac_secret and not _signature_valid(raw, settings):
        raise Unauthorized(f"missing or invalid {settings.webhook_signature_header}")
    try:
        return raw, decode_json_object(raw)
    except InvalidJsonBody as exc:
        raise BadRequest(str(exc)) from None


def _invalid_event(message: str, field: str) -> tuple[Response, int]:
    if not field:
        return error_response(400, "invalid_event", message)
    return error_response(400, "invalid_event", message, details=[FieldError(field=field, message=message)])


def _signature_valid(raw: bytes, settings: Settings) -> bool:
    header = request.headers.get(settings.webhook_signature_header, "")
    algorithm, _, received = header.partition("=")
    if algorithm.lower() != "sha256" or not received:
        return False
    expected = hmac.new(settings.webhook_hmac_secret.encode(), raw, hashlib.sha256).hexdigest()
    # As bytes: compare_digest refuses str with non-ASCII characters, which a header may carry.
    return hmac.compare_digest(expected.encode(), received.strip().lower().encode())
