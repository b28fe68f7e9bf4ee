"""Claim tasks: validate → activate → report status, flat, taking claim ids, each on its own queue.

Each task calls a service that re-reads the claims and moves them with state-guarded updates, then
rings the next step's doorbell after its unit of work commits; the reconciler re-dispatches
anything whose message was lost. Transient Optimove failures retry with the shared backoff up to
CLAIM_MAX_RETRIES, then land in `failed`. The activate task is the one retry layer of reward
grants: it re-queues only the claims whose grant is not settled yet, when the service says.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from app.adapters.dispatch import ACTIVATE_CLAIMS, REPORT_STATUS, SUBMIT_CLAIM_V1, VALIDATE_CLAIM
from app.domain.claims import SOURCE_BROKER, ClaimRequest
from app.domain.optimove_errors import PermanentOptimoveError, TransientOptimoveError
from app.services.activation import activate_validated
from app.services.claim_recovery import fail_claims
from app.services.claims import ClaimError, Submission, submit_claim
from app.services.relay import relay_once
from app.services.validation import validate_pending
from tasks.policy import countdown, promobridge_task
from tasks.runtime import container

STATUS_BATCHES_PER_ROUND = 5


def _retry_or_fail(task: Task[Any, Any], claim_ids: list[str], exc: Exception) -> Any:
    c = container()
    if task.request.retries >= c.settings.claim_max_retries:
        fail_claims(c.uow, claim_ids, reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    raise task.retry(exc=exc, countdown=countdown(task.request.retries, exc), max_retries=None)


@promobridge_task(VALIDATE_CLAIM)
def validate(self: Task[Any, Any], claim_id: str) -> str:
    """Validate the pending claim and every claim waiting on the same promo code (one OptiPromo call)."""
    c = container()
    try:
        result = validate_pending(c.uow, c.optipromo, c.dispatcher, c.validation, claim_id)
    except TransientOptimoveError as exc:
        return str(_retry_or_fail(self, [claim_id], exc))
    except PermanentOptimoveError as exc:
        fail_claims(c.uow, [claim_id], reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    return result.outcome


@promobridge_task(ACTIVATE_CLAIMS)
def activate(self: Task[Any, Any], claim_ids: list[str]) -> str:
    """One activation round for validated claims; the claims not settled yet are retried later."""
    c = container()
    result = activate_validated(c.uow, c.activator, c.rewards, c.dispatcher, claim_ids, c.activation)
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
            c.uow, c.dispatcher, request, Submission(None, idempotency_key, SOURCE_BROKER)
        )
    except ClaimError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    return {"id": submitted.claim.id, "status": submitted.claim.state.value}
