"""The claims API: POST /v1/claims, GET /v1/claims/<id>[?wait=], GET /v1/campaigns/<id>."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g, jsonify, request
from pydantic import ValidationError

from app.domain.claims import SOURCE_HTTP, TERMINAL_STATES, ClaimRequest, ClaimState
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
from app.web.openapi import documented
from app.web.responses import CampaignReportView, ClaimView, ErrorBody, FieldError
from app.web.schemas import CampaignPath, ClaimBody, ClaimHeaders, ClaimPath, ClaimPollQuery

claims_api = Blueprint("claims_api", __name__)
LONG_POLL_RETRY_AFTER_SECONDS = 1
_REFUSALS = {
    Refusal.CLIENT: "this client has as many long polls open as it may; retry when one has answered",
    Refusal.PROCESS: "this server holds as many long polls as it may; retry shortly",
}
_CLIENT_ERRORS = {
    401: (ErrorBody, "no valid Authorization: Bearer <key>"),
    403: (ErrorBody, "the key lacks the operation's scope"),
    429: (ErrorBody, "the client's rate limit is exhausted (Retry-After says when to retry)"),
    503: (ErrorBody, "the database is unavailable; retry later"),
}


def _services() -> Any:
    return current_app.config["PROMOBRIDGE_SERVICES"]


@claims_api.post("/v1/claims")
@documented(
    json=ClaimBody,
    headers=ClaimHeaders,
    scope=SCOPE_CLAIMS,
    answers={
        202: (ClaimView, "created by this request"),
        200: (ClaimView, "an existing claim: a replay, or the customer's earlier claim"),
        400: (ErrorBody, "a malformed Idempotency-Key, or a body that is not one strict JSON object"),
        404: (ErrorBody, "unknown campaign"),
        409: (ErrorBody, "the Idempotency-Key was used with another body, or the campaign takes no claims"),
        413: (ErrorBody, "the body exceeds WEBHOOK_MAX_BYTES"),
        415: (ErrorBody, "the body is not sent as application/json"),
        422: (ErrorBody, "the claim does not match the schema; details name the fields"),
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_CLAIMS)
def create_claim() -> tuple[Response, int]:
    """Submit a claim (the customer clicked Claim Reward).

    202 when this request created the claim, 200 when it returns an existing one: one claim per
    campaign and customer, whichever backend sends it.
    """
    try:
        key = ClaimHeaders.model_validate(dict(request.headers)).idempotency_key
    except ValidationError:
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
    container = _services().container
    try:
        submitted = claim_service.submit_claim(
            container.uow,
            container.validation_doorbell,
            ClaimRequest(body.campaign_id, body.customer_id, body.session_properties),
            # The correlation id is X-Request-ID once validated (<= 64 characters).
            claim_service.Submission(
                g.client.id,
                key,
                SOURCE_HTTP,
                current_correlation_id(),
                client_name=g.client.name,
                key_id=g.client.key_id,
            ),
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
    return jsonify(ClaimView.from_claim(claim).body()), 202 if submitted.created else 200


@claims_api.get("/v1/claims/<claim_id>")
@documented(
    path=ClaimPath,
    query=ClaimPollQuery,
    scope=SCOPE_CLAIMS,
    answers={
        200: (ClaimView, "the claim: final, or as it is when the wait is up"),
        400: (ErrorBody, "wait is not a number of seconds within its bounds"),
        404: (ErrorBody, "no such claim"),
        **_CLIENT_ERRORS,
        429: (ErrorBody, "over the client's rate limit, or too many long polls waiting (Retry-After)"),
    },
)
@require_client(SCOPE_CLAIMS)
def read_claim(claim_id: str) -> tuple[Response, int]:
    """A claim's progress; `?wait=SECONDS` holds the answer until the claim is final or the time is up.

    A waiting long poll sleeps until the claim's final state is notified (no query loop) and counts
    against this process's caps: beyond them, 429 with Retry-After.
    """
    limit = current_app.config["PROMOBRIDGE_SETTINGS"].claims_max_wait_seconds
    try:
        wait: float | None = ClaimPollQuery.model_validate(request.args.to_dict()).wait
    except ValidationError:
        wait = None
    if wait is None or wait > limit:
        return error_response(400, "bad_request", f"wait must be a number of seconds from 0 to {limit:g}")
    try:
        ClaimPath.model_validate({"claim_id": claim_id})
    except ValidationError:
        return error_response(404, "not_found", "no such claim")
    services = _services()
    claim = claim_service.get_claim(services.container.uow, claim_id)
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
                lambda: claim_service.get_claim(services.container.uow, claim_id),
                wait_seconds=wait,
            )
        if claim is None:
            return error_response(404, "not_found", "no such claim")
    return jsonify(ClaimView.from_claim(claim).body()), 200


@claims_api.get("/v1/campaigns/<int:campaign_id>")
@documented(
    path=CampaignPath,
    scope=SCOPE_CAMPAIGNS_READ,
    answers={
        200: (CampaignReportView, "the campaign report"),
        404: (ErrorBody, "no such campaign"),
        **_CLIENT_ERRORS,
    },
)
@require_client(SCOPE_CAMPAIGNS_READ)
def read_campaign(campaign_id: int) -> tuple[Response, int]:
    """A campaign's progress and counters (what `promobridge campaigns show ID --json` prints)."""
    try:
        CampaignPath.model_validate({"campaign_id": campaign_id})
    except ValidationError:  # no such campaign can exist, nor fit the query
        return error_response(404, "not_found", "no such campaign")
    report = campaign_report(_services().container.uow, campaign_id)
    if report is None:
        return error_response(404, "not_found", "no such campaign")
    return jsonify(CampaignReportView.from_report(report).body()), 200
