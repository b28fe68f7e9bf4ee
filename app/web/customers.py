"""The support desk's API: GET /v1/customers/<id>/trail, a customer's story (`promobridge explain`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import ValidationError

from app.domain.clients import SCOPE_CUSTOMERS_READ
from app.services.trail import customer_trail, trail_json
from app.web.auth import require_client
from app.web.errors import error_response
from app.web.openapi import documented
from app.web.responses import CustomerTrailView, ErrorBody
from app.web.schemas import CustomerPath, CustomerTrailQuery

customers_api = Blueprint("customers_api", __name__)


def _services() -> Any:
    return current_app.config["PROMOBRIDGE_SERVICES"]


# `path:` so that an id with a "/" (or "%2F") reaches the view whole; the id rules are checked there.
@customers_api.get("/v1/customers/<path:customer_id>/trail")
@documented(
    path=CustomerPath,
    query=CustomerTrailQuery,
    scope=SCOPE_CUSTOMERS_READ,
    answers={
        200: (CustomerTrailView, "the customer's story"),
        400: (ErrorBody, "a customer id or campaign_id that cannot name anything"),
        404: (ErrorBody, "promobridge knows nothing of this customer (in this campaign)"),
        401: (ErrorBody, "no valid Authorization: Bearer <key>"),
        403: (ErrorBody, "the key lacks the customers:read scope"),
        429: (ErrorBody, "the client's rate limit is exhausted (Retry-After says when to retry)"),
        503: (ErrorBody, "the database is unavailable; retry later"),
    },
)
@require_client(SCOPE_CUSTOMERS_READ)
def read_customer_trail(customer_id: str) -> tuple[Response, int]:
    """A customer's story, step by step: audience and scrubs, claim, OptiPromo's answer, grant, status.

    Every campaign the customer appears in, most recent first (or one, with `campaign_id`). No
    session properties or other personal data: ids, codes, flag values and amounts only.
    """
    try:
        CustomerPath.model_validate({"customer_id": customer_id})
    except ValidationError:
        return error_response(
            400, "bad_request", "customer id must be 1-128 characters, no control characters"
        )
    try:
        query = CustomerTrailQuery.model_validate(request.args.to_dict())
    except ValidationError:
        return error_response(400, "bad_request", "campaign_id must be an integer from 1 to 2^63-1")
    trail = customer_trail(_services().container.uow, customer_id, query.campaign_id)
    if trail is None:
        return error_response(404, "not_found", "no such customer")
    return jsonify(CustomerTrailView.model_validate(trail_json(trail)).body()), 200
