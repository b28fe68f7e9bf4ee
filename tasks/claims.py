"""Claim tasks: validate → activate → report status, flat, taking claim ids, each on its own queue.

Each task re-reads the claims and moves them with state-guarded updates, then queues the next step
after its transaction commits; the reconciler re-dispatches anything whose message was lost.
Transient failures retry with backoff and jitter up to CLAIM_MAX_RETRIES, then land in `failed`.
The activate task is the one retry layer of reward grants: it re-queues only the claims whose
grant is not settled yet, when the service says; the service counts attempts per claim.
"""

from __future__ import annotations

from typing import Any

from celery import Task

from app.adapters.optimove.errors import PermanentOptimoveError, TransientOptimoveError
from app.domain.claims import ClaimRequest
from app.services import claim_processing
from app.services.claims import ClaimError, submit_claim
from app.services.relay import relay_once
from tasks.policy import backoff_countdown, promobridge_task
from tasks.runtime import dispatcher, runtime

STATUS_BATCHES_PER_ROUND = 5


def _retry_or_fail(task: Task[Any, Any], claim_ids: list[str], exc: Exception) -> Any:
    if task.request.retries >= runtime().settings.claim_max_retries:
        claim_processing.fail_claims(runtime().engine, claim_ids, reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    raise task.retry(exc=exc, countdown=backoff_countdown(task.request.retries, exc), max_retries=None)


@promobridge_task("promobridge.claims.validate", bind=True)
def validate(self: Task[Any, Any], claim_id: str) -> str:
    """Validate the pending claim and every claim waiting on the same promo code (one OptiPromo call)."""
    rt = runtime()
    try:
        result = claim_processing.validate_pending(
            rt.engine, rt.optipromo, dispatcher(), rt.validation, claim_id
        )
    except TransientOptimoveError as exc:
        return str(_retry_or_fail(self, [claim_id], exc))
    except PermanentOptimoveError as exc:
        claim_processing.fail_claims(rt.engine, [claim_id], reason=f"{type(exc).__name__}: {exc}")
        return "failed"
    return result.outcome


@promobridge_task("promobridge.claims.activate", bind=True)
def activate(self: Task[Any, Any], claim_ids: list[str]) -> str:
    """One activation round for validated claims; the claims not settled yet are retried later."""
    rt = runtime()
    result = claim_processing.activate_validated(
        rt.engine, rt.activator, rt.rewards, dispatcher(), claim_ids, rt.activation
    )
    if result.retry:
        # Unlimited here: the attempts are counted per claim, in the database, by the service.
        raise self.retry(args=(list(result.retry),), countdown=result.retry_in_seconds, max_retries=None)
    return result.outcome


@promobridge_task("promobridge.claims.report_status")
def report_status() -> int:
    """Send a few outbox batches now (the relay process does the same continuously)."""
    rt = runtime()
    sent = 0
    for _ in range(STATUS_BATCHES_PER_ROUND):
        result = relay_once(rt.engine, rt.client, rt.relay)
        if result is None:
            break
        sent += result.customers if result.outcome == "sent" else 0
    return sent


@promobridge_task("promobridge.claims.submit.v1")
def submit_v1(
    campaign_id: int,
    customer_id: str,
    session_properties: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
) -> dict[str, Any]:
    """Versioned entry point for backends that share the broker: write the claim, then validate it.

    The same job enqueued twice is one claim (one claim per campaign and customer). Unlike the HTTP
    API, this path is only as durable as the broker: a job lost before it runs is never seen.
    """
    rt = runtime()
    request = ClaimRequest(int(campaign_id), str(customer_id), dict(session_properties or {}))
    try:
        submitted = submit_claim(
            rt.engine, request, client_id=None, idempotency_key=idempotency_key, source="broker"
        )
    except ClaimError as exc:
        return {"error": type(exc).__name__, "message": str(exc)}
    if submitted.created and submitted.claim.state.value == "pending":
        dispatcher().validate_claim(submitted.claim.id)
    return {"id": submitted.claim.id, "status": submitted.claim.state.value}
