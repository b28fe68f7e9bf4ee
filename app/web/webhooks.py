"""The Optimove listener: authenticate, validate, store in the inbox, answer in milliseconds."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app.adapters.db.inbox import Stored
from app.adapters.optimove.contract import InvalidCampaignEvent
from app.config import Settings
from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED
from app.observability.metrics import (
    record_gateway_decision,
    record_webhook,
    record_webhook_rejected,
    webhook_rejection_reason,
)
from app.services.triggered import InvalidTriggeredCall, decide_triggered, parse_triggered_call
from app.services.webhooks import DeadlineWindow, UnsupportedEventType, receive_optimove_event
from app.web.errors import error_response

webhooks = Blueprint("webhooks", __name__)


@webhooks.after_request
def _count_rejections(response: Response) -> Response:
    # One place for every 4xx, including 413s raised while reading the body.
    reason = webhook_rejection_reason(response.status_code)
    if reason is not None:
        record_webhook_rejected(reason)
    return response


@webhooks.post("/webhooks/optimove/<token>")
def optimove_listener(token: str) -> tuple[Response, int]:
    """Receive an EventTypeID 5 (or 4) notification."""
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    if not hmac.compare_digest(token.encode(), settings.listener_token.encode()):
        return error_response(401, "unauthorized", "unknown listener token")
    raw = request.get_data(cache=False)
    if len(raw) > settings.webhook_max_bytes:
        raise RequestEntityTooLarge(f"the body exceeds {settings.webhook_max_bytes} bytes")
    if settings.webhook_hmac_secret and not _signature_valid(raw, settings):
        return error_response(401, "unauthorized", f"missing or invalid {settings.webhook_signature_header}")
    payload = _json_object(raw)
    if payload is None:
        return error_response(400, "bad_request", "the body must be a JSON object")
    past, ahead = settings.deadline_window
    try:
        received = receive_optimove_event(
            current_app.config["PROMOBRIDGE_ENGINE"],
            payload,
            raw.decode("utf-8"),
            settings.tenant_timezone,
            window=DeadlineWindow(past=past, ahead=ahead),
        )
    except InvalidCampaignEvent as exc:
        return error_response(400, "invalid_event", str(exc))
    except UnsupportedEventType as exc:
        return error_response(422, "unsupported_event", str(exc))
    record_webhook("cancel" if received.event.event_type_id == EVENT_CAMPAIGN_CANCELED else "scheduled")
    body: dict[str, Any] = {
        "status": _STATUS_OF[received.stored],
        "event_type_id": received.event.event_type_id,
        "campaign_id": received.event.campaign_id,
    }
    if received.differences:
        # Optimove needs a 2xx to stop redelivering; the conflict is for the operator (log, metric,
        # campaign report), the fields that differ for whoever reads this answer in a proxy log.
        body["differs_in"] = sorted(received.differences)
    return jsonify(body), 200


_STATUS_OF = {Stored.NEW: "accepted", Stored.DUPLICATE: "duplicate", Stored.CONFLICT: "conflict"}


@webhooks.post("/webhooks/optimove/triggered/<token>")
def triggered_gateway(token: str) -> tuple[Response, int]:
    """Answer Optimove's triggered-campaign gateway: {"user_id": …, "allowed": …}, failing closed."""
    settings: Settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    if not hmac.compare_digest(token.encode(), settings.listener_token.encode()):
        return error_response(401, "unauthorized", "unknown listener token", allowed=False)
    raw = request.get_data(cache=False)
    if len(raw) > settings.webhook_max_bytes:
        raise RequestEntityTooLarge(f"the body exceeds {settings.webhook_max_bytes} bytes")
    if settings.webhook_hmac_secret and not _signature_valid(raw, settings):
        return error_response(
            401, "unauthorized", f"missing or invalid {settings.webhook_signature_header}", allowed=False
        )
    payload = _json_object(raw)
    if payload is None:
        return error_response(400, "bad_request", "the body must be a JSON object", allowed=False)
    try:
        call = parse_triggered_call(payload)
    except InvalidTriggeredCall as exc:
        return error_response(400, "invalid_event", str(exc), allowed=False)
    services = current_app.config["PROMOBRIDGE_SERVICES"]
    ranges = settings.declared_triggered_campaigns
    answer = decide_triggered(
        services.engine,
        services.pipeline,
        call,
        timeout_ms=settings.triggered_timeout_ms,
        declared=lambda campaign_id: any(low <= campaign_id <= high for low, high in ranges),
    )
    record_webhook("triggered")
    record_gateway_decision(answer.outcome.value)
    return jsonify({"user_id": answer.user_id, "allowed": answer.allowed}), 200


def _signature_valid(raw: bytes, settings: Settings) -> bool:
    header = request.headers.get(settings.webhook_signature_header, "")
    algorithm, _, received = header.partition("=")
    if algorithm.lower() != "sha256" or not received:
        return False
    expected = hmac.new(settings.webhook_hmac_secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, received.strip().lower())


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return payload if isinstance(payload, dict) else None
