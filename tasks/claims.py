"""Claim tasks: validate → activate → report status, flat, each on its own queue.

Validation is woken per (campaign, promo code) and single-flight (see ``app.services.validation``);
activation and status take claim ids. Each task calls a service that re-reads the claims and moves
them with state-guarded updates, then rings the next step after its unit of work commits; the
reconciler re-dispatches anything whose message was lost. Transient Optimove failures retry with
the shared backoff; a claim takes part in at most CLAIM_MAX_RETRIES + 1 calls, then lands in
`failed`. The activate task is the one retry layer of reward grants: it re-queues only the claims
whose grant is not settled yet, when the service says.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from app.adapters.dispatch import (
    ACTIVATE_CLAIMS,
    REPORT_STATUS,
    SUBMIT_CLAIM_V1,
    VALIDATE_CLAIM_LEGACY,
    VALIDATE_PENDING,
)
from app.domain.claims import SOURCE_BROKER, ClaimRequest
from app.domain.optimove_errors import TransientOptimoveError
from app.services.activation import activate_validated
from app.services.claims import ClaimError, Submission, submit_claim
from app.services.relay import relay_once
from app.services.validation import validate_pending, validation_targets
from tasks.policy import countdown, promobridge_task
from tasks.runtime import container

STATUS_BATCHES_PER_ROUND = 5


@promobridge_task(VALIDATE_PENDING)
def validate_pending_claims(self: Task[Any, Any], campaign_id: int, promo_code: str | None) -> str:
    """Validate the claims pending on a campaign's promo code, unless another worker already is.

    Transient Optimove errors retry with the shared backoff; the number of calls a claim may take
    part in is counted per claim (CLAIM_MAX_RETRIES + 1), so the retries themselves are unbounded.
    """
    c = container()
    try:
        step = validate_pending(
            c.uow, c.optipromo, c.validation_doorbell, c.validation, campaign_id, promo_code
        )
    except TransientOptimoveError as exc:
        raise self.retry(exc=exc, countdown=countdown(self.request.retries, exc), max_retries=None) from exc
    return step.outcome


@promobridge_task(VALIDATE_CLAIM_LEGACY)
def validate_legacy(self: Task[Any, Any], claim_id: str) -> str:
    """A message from before validation was single-flight (one per claim): wake its validator."""
    c = container()
    with c.uow() as uow:
        targets = validation_targets(uow, [claim_id])
    return "rang" if c.validation_doorbell.ring_all(targets) else "skipped"


@promobridge_task(ACTIVATE_CLAIMS)
def activate(self: Task[Any, Any], claim_ids: list[str]) -> str:
    """One activation round for validated claims; the claims not settled yet are retried later."""
    c = container()
    result = activate_validated(c.uow, c.activator, c.rewards, claim_ids, c.activation)
    if result.retry:
        # Unlimited here: the attempts are counted per claim, in the database, by the service.
        raise self.retry(args=(list(result.retry),), countdown=result.retry_in_seconds, max_retries=None)
    return result.outcome


@promobridge_task(REPORT_STATUS)
def report_status(self: Task[Any, Any]) -> int:
    """Send a few outbox batches now (the relay process does the same continuously)."""
    c = container()
    sent = 0
    for _ in range(STATUS_BATCHES_PER_ROUND):
        result = relay_once(c.uow, c.optimove, c.relay)
        if result is None:
            break
        sent += result.customers if result.outcome == "sent" else 0
    return sent


@promobridge_task(SUBMIT_CLAIM_V1)
def submit_v1(
    self: Task[Any, Any],
    campaign_id: int,
    customer_id: str,
    session_properties: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Versioned entry point for backends that share the broker: write the claim (validation follows).

    The same job enqueued twice is one claim (one claim per campaign and customer). Unlike the HTTP
    API, this path is only as durable as the broker: a job lost before it runs is never seen.
    """
    c = container()
    request = ClaimRequest(int(campaign_id), str(customer_id), dict(session_properties or {}))
    try:
        submitted = submit_claim(
            c.uow, c.validation_doorbell, request, Submission(None, idempotency_key, SOURCE_BROKER)
        )
    except ClaimError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"id": submitted.claim.id, "status": submitted.claim.state.value}
