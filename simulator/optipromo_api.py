"""OptiPromo's validateCustomers, served under ``/optipromo`` (contract #13-#16).

The route is a thin wrapper like the Optimove ones: ``serve_optimove_call`` applies the API key, the
shared rate limit and faults; ``_handle_validate`` parses, finds each customer's campaign and lets the
promotion registry decide and reserve.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from flask import Blueprint, Response

from simulator import contract
from simulator.campaigns import Campaign
from simulator.faults import FaultDecision
from simulator.guard import serve_optimove_call
from simulator.promotions import UnknownPromotionError, ValidationContext
from simulator.responses import ApiError, json_response, read_json_object
from simulator.state import SimulatorState

optipromo_api = Blueprint("optipromo_api", __name__, url_prefix=contract.OPTIPROMO_PREFIX)

# (customerId, sessionProperties) as parsed from one request context
ParsedContext = tuple[str, Mapping[str, Any]]


@optipromo_api.post("/v1/promocodes/<promocode_id>/validateCustomers")
def validate_customers(promocode_id: str) -> Response:
    """Validate customers against a promotion's tiers and budget, reserving it (contract #13-#15)."""
    return serve_optimove_call(contract.VALIDATE_CUSTOMERS, partial(_handle_validate, promocode_id))


def _handle_validate(promocode_id: str, state: SimulatorState, _faults: FaultDecision) -> Response:
    promotion = state.promotions.get(promocode_id)
    if promotion is None:
        raise ApiError(404, f"promocode {promocode_id} not found")
    limit = promotion.max_contexts
    if limit is None:
        limit = state.config.max_validate_contexts
    body = read_json_object()
    parsed = _parse_contexts(body.get("contexts"), limit)
    campaigns = _campaigns_using(state, promocode_id, _requested_campaign(body.get("campaignData")))
    contexts = [
        ValidationContext(customer_id, session, _member_attributes(campaigns, customer_id))
        for customer_id, session in parsed
    ]
    try:
        verdicts = state.promotions.validate(promocode_id, contexts)
    except UnknownPromotionError as exc:  # reset between the lookup and now
        raise ApiError(404, f"promocode {promocode_id} not found") from exc
    return json_response({"promocodeId": promocode_id, "contexts": [v.to_json() for v in verdicts]})


def _parse_contexts(raw: Any, limit: int) -> list[ParsedContext]:
    if not isinstance(raw, list) or not raw:
        raise ApiError(400, "contexts must be a non-empty list")
    if len(raw) > limit:
        raise ApiError(400, f"at most {limit} contexts per call")
    return [_parse_context(position, entry) for position, entry in enumerate(raw)]


def _parse_context(position: int, entry: Any) -> ParsedContext:
    if not isinstance(entry, dict):
        raise ApiError(400, f"contexts[{position}] must be an object")
    customer_id = entry.get("customerId")
    if not isinstance(customer_id, str) or not customer_id:
        raise ApiError(400, f"contexts[{position}].customerId must be a non-empty string")
    session = entry.get("sessionProperties")
    if session is None:
        return customer_id, {}
    if not isinstance(session, dict):
        raise ApiError(400, f"contexts[{position}].sessionProperties must be an object")
    return customer_id, session


def _requested_campaign(campaign_data: Any) -> str | None:
    """The named campaignId as decimal text, or None when the request names none."""
    if campaign_data is None:
        return None
    if not isinstance(campaign_data, dict):
        raise ApiError(400, "campaignData must be an object")
    campaign_id = campaign_data.get("campaignId")
    if campaign_id is None:
        return None
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, str | int):
        raise ApiError(400, "campaignData.campaignId must be a string or an integer")
    return str(campaign_id)


def _campaigns_using(state: SimulatorState, promocode_id: str, campaign_id: str | None) -> list[Campaign]:
    """The campaigns whose members may claim this promo code (only the named one, if any)."""
    return [
        campaign
        for campaign in state.campaigns.all()
        if campaign.audience.spec.promo_code == promocode_id
        and (campaign_id is None or str(campaign.campaign_id) == campaign_id)
    ]


def _member_attributes(campaigns: list[Campaign], customer_id: str) -> dict[str, str] | None:
    for campaign in campaigns:
        index = campaign.audience.index_of(customer_id)
        if index is not None:
            return campaign.audience.attributes(index)
    return None
