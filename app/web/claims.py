"""The claims API: POST /v1/claims, GET /v1/claims/<id>[?wait=], GET /v1/campaigns/<id>."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import ValidationError

from app.adapters.optimove.contract import MAX_OPTIMOVE_ID
from app.domain.claims import TERMINAL_STATES, ClaimRequest, ClaimState
from app.domain.clients import SCOPE_CAMPAIGNS_READ, SCOPE_CLAIMS
from app.observability.context import current_correlation_id
from app.observability.metrics import record_claim_submission
from app.services import claims as claim_service
from app.services.claim_watch import wait_until_final
from app.services.long_poll_gate import Refusal
from app.services.reports import campaign_report
from app.web.auth import require_client
from app.web.errors import error_response
from app.web.json_body import InvalidJsonBody, decode_json_object, read_limited_body
from app.web.responses import CampaignReportView, ClaimView, FieldError
from app.web.schemas import IDEMPOTENCY_KEY_PATTERN, ClaimBody

claims_api = Blueprint("claims_api", __name__)
LONG_POLL_RETRY_AFTER_SECONDS = 1
_REFUSALS = {
    Refusal.CLIENT: "this client has as many long polls open as it may; retry when one has answered",
    Refusal.PROCESS: "this server holds as many long polls as it may; retry shortly",
}
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def _services() -> Any:
    return current_app.config["PROMOBRIDGE_SERVICES"]


@claims_api.post("/v1/claims")
@require_client(SCOPE_CLAIMS)
def create_claim() -> tuple[Response, int]:
    """Submit a claim; 202 when this request created it, 200 when it returns an existing one."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        return error_response(400, "bad_request", "Idempotency-Key must be 1-255 printable ASCII characters")
    if not request.is_json:
        return error_response(415, "unsupported_media_type", "send the body as application/json")
    settings = current_app.config["PROMOBRIDGE_SETTINGS"]
    try:
        payload = decode_json_object(read_limited_body(settings.webhook_max_bytes))
    except InvalidJsonBody as exc:
        return error_response(400, "bad_request", str(exc))
    try:
        body = ClaimBody.model_validate(payload)
    except ValidationError as exc:
        details = [FieldError(field=".".join(map(str, e["loc"])), message=e["msg"]) for e in exc.errors()]
        return error_response(422, "invalid_claim", "the claim does not match the schema", details=details)
    services = _services()
    try:
        submitted = claim_service.submit_claim(
            services.engine,
            ClaimRequest(body.campaign_id, body.customer_id, body.session_properties),
            client_id=g.client.id,
            idempotency_key=key,
            source="http",
            correlation_id=current_correlation_id(),  # X-Request-ID once validated (<= 64 chars)
        )
    except claim_service.UnknownCampaign as exc:
        return error_response(404, "unknown_campaign", str(exc))
    except claim_service.CampaignNotClaimable as exc:
        return error_response(409, "campaign_not_claimable", str(exc))
    except claim_service.IdempotencyConflict as exc:
        record_claim_submission("conflict")
        return error_response(409, "idempotency_conflict", str(exc))
    claim = submitted.claim
    if not submitted.created:
        record_claim_submission("existing")
    else:
        record_claim_submission("rejected_at_once" if claim.state == ClaimState.REJECTED else "created")
    if submitted.created and claim.state.value == "pending":
        services.publisher.validate_claim(claim.id)
    return jsonify(ClaimView.from_claim(claim).body()), 202 if submitted.created else 200


@claims_api.get("/v1/claims/<claim_id>")
@require_client(SCOPE_CLAIMS)
def read_claim(claim_id: str) -> tuple[Response, int]:
    """A claim's progress; `?wait=SECONDS` holds the answer until the claim is final or the time is up.

    A waiting long poll sleeps until the claim's final state is notified (no query loop) and counts
    against this process's caps: beyond them, 429 with Retry-After.
    """
    wait_text = request.args.get("wait", "0")
    try:
        wait = float(wait_text)
    except ValueError:
        return error_response(400, "bad_request", "wait must be a number of seconds")
    limit = current_app.config["PROMOBRIDGE_SETTINGS"].claims_max_wait_seconds
    if not 0 <= wait <= limit:
        return error_response(400, "bad_request", f"wait must be between 0 and {limit:g} seconds")
    services = _services()
    claim = claim_service.get_claim(services.engine, claim_id)
    # Claims belong to the operator: any of its backends may read any claim (README, "Who owns a claim").
    if claim is None:
        return error_response(404, "not_found", "no such claim")
    if wait > 0 and claim.state not in TERMINAL_STATES:
        with services.long_polls.admitted(g.client.id) as refusal:
            if refusal is not None:
                response, status = error_response(429, "too_many_long_polls", _REFUSALS[refusal])
                response.headers["Retry-After"] = str(LONG_POLL_RETRY_AFTER_SECONDS)
                return response, status
            services.start_claim_listener()
            claim = wait_until_final(
                services.claim_watch,
                claim.id,
                lambda: claim_service.get_claim(services.engine, claim_id),
                wait_seconds=wait,
            )
        if claim is None:
            return error_response(404, "not_found", "no such claim")
    return jsonify(ClaimView.from_claim(claim).body()), 200


@claims_api.get("/v1/campaigns/<int:campaign_id>")
@require_client(SCOPE_CAMPAIGNS_READ)
def read_campaign(campaign_id: int) -> tuple[Response, int]:
    """A campaign's progress and counters."""
    if not 1 <= campaign_id <= MAX_OPTIMOVE_ID:  # no such campaign can exist, nor fit the query
        return error_response(404, "not_found", "no such campaign")
    report = campaign_report(_services().engine, campaign_id)
    if report is None:
        return error_response(404, "not_found", "no such campaign")
    return jsonify(CampaignReportView.from_report(report).body()), 200
