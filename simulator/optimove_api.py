"""The Optimove API functions the integration calls, served under ``/current`` (see contract.py).

Each route is a thin wrapper: ``serve_optimove_call`` applies auth, the rate limit and faults, and
the ``_handle_*`` function parses, applies and answers.
"""

from __future__ import annotations

import time
from datetime import datetime
from itertools import repeat
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.datastructures import MultiDict

from simulator import contract
from simulator.campaigns import Campaign
from simulator.faults import FaultDecision, FaultKind
from simulator.guard import serve_optimove_call
from simulator.listeners import Listener
from simulator.responses import (
    JSON_MIMETYPE,
    ApiError,
    empty_response,
    json_response,
    read_json_object,
    require_int,
)
from simulator.state import SimulatorState

optimove_api = Blueprint("optimove_api", __name__, url_prefix=contract.OPTIMOVE_PREFIX)

URL_SCHEMES = ("http://", "https://")


@optimove_api.post("/general/RegisterEventListener")
def register_event_listener() -> Response:
    """Register (or replace) the listener for an EventTypeID."""
    return serve_optimove_call(contract.REGISTER_EVENT_LISTENER, _handle_register_event_listener)


@optimove_api.get("/general/GetRegisteredEventListeners")
def get_registered_event_listeners() -> Response:
    """List the registered listeners (shape inferred, contract #2)."""
    return serve_optimove_call(contract.GET_REGISTERED_EVENT_LISTENERS, _handle_get_registered_listeners)


@optimove_api.post("/general/UnregisterEventListener")
def unregister_event_listener() -> Response:
    """Stop reporting an EventTypeID."""
    return serve_optimove_call(contract.UNREGISTER_EVENT_LISTENER, _handle_unregister_event_listener)


@optimove_api.post("/conditional-execution/v2/triggered/webhooks/", strict_slashes=False)
def register_triggered_webhook() -> Response:
    """Set the triggered-campaign webhook URL (shape inferred, contract #3)."""
    return serve_optimove_call(contract.REGISTER_TRIGGERED_WEBHOOK, _handle_register_triggered_webhook)


@optimove_api.get("/customers/GetProcessedCampaignCustomers")
def get_processed_campaign_customers() -> Response:
    """One page of a processed campaign's target group (contract #6)."""
    return serve_optimove_call(contract.GET_PROCESSED_CAMPAIGN_CUSTOMERS, _handle_get_customers)


@optimove_api.post("/integrations/UpdateCustomerPromotionStatus")
def update_customer_promotion_status() -> Response:
    """Record approvals for a scheduled campaign [C S6]."""
    return serve_optimove_call(contract.UPDATE_CUSTOMER_PROMOTION_STATUS, _handle_update_statuses)


def _handle_register_event_listener(state: SimulatorState, _faults: FaultDecision) -> Response:
    body = read_json_object()
    event_type_id = require_int(body, "EventTypeID")
    url = _require_url(body, "ListenerURL")
    channel_id = body.get("ChannelID")
    if channel_id is not None:
        channel_id = require_int(body, "ChannelID")
        if event_type_id == contract.EVENT_SCHEDULED_CONDITIONAL:
            raise ApiError(400, "EventTypeID 5 cannot be registered for a specific channel")
    state.listeners.register(Listener(event_type_id=event_type_id, url=url, channel_id=channel_id))
    return empty_response()


def _handle_get_registered_listeners(state: SimulatorState, _faults: FaultDecision) -> Response:
    return json_response([listener.to_json() for listener in state.listeners.all()])


def _handle_unregister_event_listener(state: SimulatorState, _faults: FaultDecision) -> Response:
    body = read_json_object()
    state.listeners.unregister(require_int(body, "EventTypeID"))
    return empty_response()


def _handle_register_triggered_webhook(state: SimulatorState, _faults: FaultDecision) -> Response:
    state.listeners.register_triggered(_require_url(read_json_object(), "url"))
    return empty_response()


def _handle_get_customers(state: SimulatorState, faults: FaultDecision) -> Response:
    args = request.args
    campaign_id = _optional_int_arg(args, "CampaignID")
    top = _int_arg(args, "$top", default=contract.MAX_PAGE_SIZE)
    skip = _int_arg(args, "$skip", default=0)
    if not 1 <= top <= contract.MAX_PAGE_SIZE:
        raise ApiError(400, f"$top must be between 1 and {contract.MAX_PAGE_SIZE}")
    if skip < 0:
        raise ApiError(400, "$skip must not be negative")
    delimiter = args.get("CustomerAttributesDelimiter")
    if delimiter is not None and len(delimiter) != 1:
        raise ApiError(400, "CustomerAttributesDelimiter must be one character")
    raw_names = args.get("CustomerAttributes")
    names = raw_names.split(contract.ATTRIBUTE_NAME_SEPARATOR) if raw_names else None
    campaign = _require_campaign(state, campaign_id)
    if faults.ignore_skip and skip > 0:
        state.faults.count(FaultKind.IGNORE_SKIP, contract.GET_PROCESSED_CAMPAIGN_CUSTOMERS)
        skip = 0
    page = campaign.audience.page_json(skip, top, names)
    return Response(page, status=200, mimetype=JSON_MIMETYPE)


def _handle_update_statuses(state: SimulatorState, _faults: FaultDecision) -> Response:
    received_at = time.time()
    body = read_json_object()
    _require_timestamp(body.get("TimeStamp"))
    campaign_id = require_int(body, "CampaignID")
    entries = body.get("PromosUpdated")
    if not isinstance(entries, list):
        raise ApiError(400, "PromosUpdated must be a list")
    if len(entries) > contract.MAX_STATUS_UPDATES_PER_CALL:
        raise ApiError(400, f"at most {contract.MAX_STATUS_UPDATES_PER_CALL} customers per call")
    customer_ids, statuses = _parse_promo_updates(entries)
    campaign = _require_campaign(state, campaign_id)
    indices = campaign.audience.indices_of(customer_ids)
    campaign.statuses.record_call(indices, customer_ids, statuses, received_at)
    return empty_response()


def _parse_promo_updates(entries: list[Any]) -> tuple[list[str], list[bool]]:
    """Each entry's CustomerID and Status, or ``ApiError(400)`` naming the first bad entry.

    A well-formed call (JSON objects with a non-empty string id and a boolean status) is checked by
    the types of whole columns at once; any other call is parsed entry by entry, which finds the first
    bad entry and says what is wrong with it.
    """
    if _all_of_type(entries, dict):
        customer_ids: list[Any] = list(map(dict.get, entries, repeat("CustomerID")))
        statuses: list[Any] = list(map(dict.get, entries, repeat("Status")))
        if _all_of_type(customer_ids, str) and all(customer_ids) and _all_of_type(statuses, bool):
            return customer_ids, statuses
    parsed = [_parse_promo_update(position, entry) for position, entry in enumerate(entries)]
    return [customer_id for customer_id, _ in parsed], [status for _, status in parsed]


def _all_of_type(values: list[Any], kind: type) -> bool:
    # Exactly ``kind``, which a JSON parser builds; a subclass is left to the entry-by-entry parse.
    return set(map(type, values)) <= {kind}


def _parse_promo_update(position: int, entry: Any) -> tuple[str, bool]:
    if not isinstance(entry, dict):
        raise ApiError(400, f"PromosUpdated[{position}] must be an object")
    customer_id, status = entry.get("CustomerID"), entry.get("Status")
    if not isinstance(customer_id, str) or not customer_id:
        raise ApiError(400, f"PromosUpdated[{position}].CustomerID must be a non-empty string")
    if not isinstance(status, bool):
        raise ApiError(400, f"PromosUpdated[{position}].Status must be a boolean")
    return customer_id, status


def _require_timestamp(value: Any) -> None:
    if not isinstance(value, str):
        raise ApiError(400, "TimeStamp must be a string formatted yyyy-MM-dd HH:mm:ss")
    try:
        datetime.strptime(value, contract.STATUS_TIMESTAMP_FORMAT)
    except ValueError as exc:
        raise ApiError(400, f"TimeStamp {value!r} is not formatted yyyy-MM-dd HH:mm:ss") from exc


def _require_url(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.startswith(URL_SCHEMES):
        raise ApiError(400, f"{key} must be an http(s) URL")
    return value


def _require_campaign(state: SimulatorState, campaign_id: int | None) -> Campaign:
    if campaign_id is None:
        raise ApiError(400, "CampaignID is required")
    campaign = state.campaigns.get(campaign_id)
    if campaign is None:
        raise ApiError(404, f"campaign {campaign_id} not found")
    return campaign


def _int_arg(args: MultiDict[str, str], name: str, default: int) -> int:
    value = _optional_int_arg(args, name)
    return default if value is None else value


def _optional_int_arg(args: MultiDict[str, str], name: str) -> int | None:
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise ApiError(400, f"{name} must be an integer") from exc
