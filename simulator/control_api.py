"""The simulator's own control and inspection API under ``/_sim`` (no API key, not part of Optimove).

Tests, the demo and benchmarks use it to create campaigns, fire webhooks, inject faults and read back
what the simulator received.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, request

from simulator import contract
from simulator.audience import (
    DEFAULT_ACTION_ID,
    DEFAULT_FRAUD_RATE,
    DEFAULT_NO_CONSENT_RATE,
    DEFAULT_VIP_WEIGHTS,
)
from simulator.campaigns import DEFAULT_CLEARANCE_IN_SECONDS, Campaign, CampaignExistsError, CampaignRequest
from simulator.context import current_state
from simulator.faults import FaultPlan
from simulator.ratelimit import RatePolicy
from simulator.responses import ApiError, json_response, optional_number, read_json_object, require_int
from simulator.webhooks import campaign_event_body, deliver, triggered_gateway_body

control_api = Blueprint("control_api", __name__, url_prefix=contract.CONTROL_PREFIX)

MAX_CAMPAIGN_SIZE = 10_000_000  # customers; ~14 bytes each once statuses are recorded
DEFAULT_GROUND_TRUTH_LIMIT = 100_000  # customers per /customers answer
MAX_FIRES_PER_CALL = 100
FIREABLE_EVENTS = (contract.EVENT_CAMPAIGN_CANCELED, contract.EVENT_SCHEDULED_CONDITIONAL)


@control_api.post("/campaigns")
def create_campaign() -> Response:
    """Create a processed campaign (and its promo code's default promotion); 409 if the id is taken."""
    campaign_request = _parse_campaign_request(read_json_object())
    try:
        campaign = current_state().create_campaign(campaign_request)
    except CampaignExistsError as exc:
        raise ApiError(409, str(exc)) from exc
    except ValueError as exc:
        raise ApiError(400, str(exc)) from exc
    payload = {
        "campaign_id": campaign.campaign_id,
        "size": campaign.audience.size,
        "clearance_required_by": campaign.clearance_required_by.isoformat(),
        "promo_code": campaign.audience.spec.promo_code,
        "action_id": campaign.audience.spec.action_id,
    }
    return json_response(payload, status=201)


@control_api.get("/campaigns/<int:campaign_id>")
def campaign_summary(campaign_id: int) -> Response:
    """One campaign's entry of ``GET /_sim/state``."""
    return json_response({"campaign_id": campaign_id, **_campaign(campaign_id).describe()})


@control_api.get("/campaigns/<int:campaign_id>/customers")
def campaign_customers(campaign_id: int) -> Response:
    """The ground truth: every customer with all attributes (paged by ``offset``/``limit``)."""
    audience = _campaign(campaign_id).audience
    offset = _query_int("offset", 0)
    limit = _query_int("limit", DEFAULT_GROUND_TRUTH_LIMIT)
    customers = [
        {
            "customer_id": audience.customer_id(i),
            "promo_code": audience.spec.promo_code,
            "action_id": audience.spec.action_id,
            "attributes": audience.attributes(i),
        }
        for i in range(offset, min(audience.size, offset + limit))
    ]
    return json_response({"customers": customers, "total": audience.size, "offset": offset, "limit": limit})


@control_api.get("/campaigns/<int:campaign_id>/statuses")
def campaign_statuses(campaign_id: int) -> Response:
    """Every customer whose status was ever set (unknown ids too), and the counters."""
    campaign = _campaign(campaign_id)
    records = campaign.statuses.records(campaign.audience.customer_id)
    statuses = {customer_id: record.to_json() for customer_id, record in records.items()}
    return json_response({"statuses": statuses, "summary": campaign.describe()})


@control_api.post("/campaigns/<int:campaign_id>/fire")
def fire_campaign_event(campaign_id: int) -> Response:
    """POST the campaign's EventTypeID 5 (or 4) webhook to its listener, synchronously."""
    state = current_state()
    campaign = _campaign(campaign_id)
    body = read_json_object() if request.content_length else {}
    event_type_id = body.get("event_type_id", contract.EVENT_SCHEDULED_CONDITIONAL)
    if event_type_id not in FIREABLE_EVENTS:
        raise ApiError(400, f"event_type_id must be one of {list(FIREABLE_EVENTS)}")
    times = _fire_times(body)
    listener = state.listeners.get(event_type_id)
    if listener is None:
        raise ApiError(409, f"no listener registered for EventTypeID {event_type_id}")
    event = campaign_event_body(event_type_id, campaign, datetime.now(UTC), state.config.zone)
    deliveries = deliver(listener.url, event, times, state.config.webhook_timeout_seconds)
    return json_response({"url": listener.url, "body": event, "deliveries": deliveries})


@control_api.post("/triggered/fire")
def fire_triggered_gateway() -> Response:
    """Call the triggered gateway for one customer; ``customer_id`` defaults to the first member."""
    state = current_state()
    body = read_json_object()
    campaign = _campaign(require_int(body, "campaign_id"))
    customer_id = body.get("customer_id", campaign.audience.customer_id(0))
    is_visitor = body.get("is_visitor", False)
    if not isinstance(customer_id, str) or not isinstance(is_visitor, bool):
        raise ApiError(400, "customer_id must be a string and is_visitor a boolean")
    series_id = require_int(body, "series_id") if "series_id" in body else None
    url = state.listeners.triggered_url
    if url is None:
        raise ApiError(409, "no triggered webhook registered")
    event = triggered_gateway_body(campaign, customer_id, is_visitor=is_visitor, series_id=series_id)
    deliveries = deliver(url, event, _fire_times(body), state.config.webhook_timeout_seconds)
    return json_response({"url": url, "body": event, "deliveries": deliveries})


@control_api.get("/faults")
def get_faults() -> Response:
    """The fault plan in force."""
    return json_response(current_state().faults.plan.to_json())


@control_api.post("/faults")
def replace_faults() -> Response:
    """Replace the fault plan (omitted settings take their no-fault defaults)."""
    try:
        plan = FaultPlan.from_json(read_json_object())
    except (TypeError, ValueError) as exc:
        raise ApiError(400, str(exc)) from exc
    current_state().faults.replace(plan)
    return json_response(plan.to_json())


@control_api.delete("/faults")
def clear_faults() -> Response:
    """Stop injecting faults."""
    state = current_state()
    state.faults.clear()
    return json_response(state.faults.plan.to_json())


@control_api.post("/ratelimit")
def change_rate_limit() -> Response:
    """Change the limiter live; omitted settings keep their current value."""
    state = current_state()
    body = read_json_object()
    current = state.limiter.policy
    enabled = body.get("enabled", current.enabled)
    limit = body.get("limit", current.limit)
    window = optional_number(body, "window_seconds", current.window_seconds)
    if not isinstance(enabled, bool):
        raise ApiError(400, "enabled must be a boolean")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1 or window <= 0:
        raise ApiError(400, "limit must be a positive integer and window_seconds positive")
    policy = RatePolicy(enabled=enabled, limit=limit, window_seconds=window)
    state.limiter.reconfigure(policy)
    return json_response({"enabled": enabled, "limit": limit, "window_seconds": window})


@control_api.get("/state")
def get_state() -> Response:
    """Everything the simulator received, counted."""
    return json_response(current_state().snapshot())


@control_api.post("/reset")
def reset_state() -> Response:
    """Forget everything: campaigns, promotions, listeners, faults, counters, rate-limit logs, grants."""
    current_state().reset()
    return json_response({"reset": True})


def _parse_campaign_request(body: dict[str, Any]) -> CampaignRequest:
    size = require_int(body, "size")
    if not 0 <= size <= MAX_CAMPAIGN_SIZE:
        raise ApiError(400, f"size must be between 0 and {MAX_CAMPAIGN_SIZE}")
    campaign_id = require_int(body, "campaign_id") if body.get("campaign_id") is not None else None
    promo_code = body.get("promo_code")
    if promo_code is not None and (not isinstance(promo_code, str) or not promo_code):
        raise ApiError(400, "promo_code must be a non-empty string")
    action_id = require_int(body, "action_id") if "action_id" in body else DEFAULT_ACTION_ID
    weights = body.get("vip_weights", list(DEFAULT_VIP_WEIGHTS))
    if not isinstance(weights, list) or not all(
        isinstance(w, int | float) and not isinstance(w, bool) for w in weights
    ):
        raise ApiError(400, "vip_weights must be a list of 4 numbers")
    return CampaignRequest(
        size=size,
        clearance_required_by=_clearance_deadline(body),
        campaign_id=campaign_id,
        promo_code=promo_code,
        action_id=action_id,
        no_consent_rate=optional_number(body, "no_consent_rate", DEFAULT_NO_CONSENT_RATE),
        fraud_rate=optional_number(body, "fraud_rate", DEFAULT_FRAUD_RATE),
        vip_weights=tuple(float(w) for w in weights),
    )


def _clearance_deadline(body: dict[str, Any]) -> datetime:
    raw = body.get("clearance_required_by")
    if raw is None:
        seconds = optional_number(body, "clearance_in_seconds", DEFAULT_CLEARANCE_IN_SECONDS)
        return datetime.fromtimestamp(time.time(), UTC) + timedelta(seconds=seconds)
    if not isinstance(raw, str):
        raise ApiError(400, "clearance_required_by must be an ISO-8601 string with a zone")
    try:
        deadline = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise ApiError(400, f"clearance_required_by {raw!r} is not ISO-8601") from exc
    if deadline.tzinfo is None:
        raise ApiError(400, "clearance_required_by must carry a time zone")
    return deadline


def _fire_times(body: dict[str, Any]) -> int:
    times = body.get("times", 1)
    if not isinstance(times, int) or isinstance(times, bool) or not 1 <= times <= MAX_FIRES_PER_CALL:
        raise ApiError(400, f"times must be an integer between 1 and {MAX_FIRES_PER_CALL}")
    return times


def _campaign(campaign_id: int) -> Campaign:
    campaign = current_state().campaigns.get(campaign_id)
    if campaign is None:
        raise ApiError(404, f"campaign {campaign_id} not found")
    return campaign


def _query_int(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer") from exc
    if value < 0:
        raise ApiError(400, f"{name} must not be negative")
    return value
