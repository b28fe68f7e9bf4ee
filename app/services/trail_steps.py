"""The trail events each piece of work writes, built from what that work already holds in hand.

The services call these and append the result with one ``uow.trail.append(...)`` per batch, in the
unit of work that does the work: no extra read, no extra round trip per customer. What goes in is
listed in ``app.domain.trail``: ids, codes, flag values, amounts; never session properties.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from datetime import datetime

from app.domain.audience import Decision, OperatorFlags
from app.domain.claims import Claim, ClaimDraft
from app.domain.optimove import ValidationResult
from app.domain.outbox import ClaimedBatch
from app.domain.rewards import GrantOutcome, RewardGrant
from app.domain.trail import (
    AUDIENCE_SCRUBBED,
    CALL_AMBIGUOUS,
    CALL_DEAD,
    CLAIM_FAILED,
    CLAIM_RECEIVED,
    CLAIM_REJECTED,
    CLAIM_REPLAYED,
    GRANT_REFUSED,
    GRANT_RETRY,
    GRANT_SETTLED,
    STATUS_AMBIGUOUS,
    STATUS_DEAD,
    STATUS_RETRY,
    VALIDATION_ANSWERED,
    VALIDATION_ERROR,
    TrailEvent,
    amount_text,
    cut,
)
from app.policies.base import NO_FLAGS, PolicyPipeline


def page_ingested(
    campaign_id: int,
    page_no: int,
    decisions: Sequence[Decision],
    flags: Mapping[str, OperatorFlags],
    pipeline: PolicyPipeline,
    *,
    now: datetime,
) -> list[TrailEvent]:
    """A page's scrubbed customers: which policy, on which data.

    Eligible customers need no event (their audience row tells it, and in auto mode their outbox
    row tells the approval): a page costs as many rows as it scrubs, not as many as it holds.
    """
    events = []
    # Customers scrubbed for the same reason on the same data share one details object (a page
    # has a handful of distinct verdicts), which the adapter then encodes once; a policy that says
    # what its evidence depends on is asked once per page and key, not once per customer.
    shared: dict[tuple[object, object, str], dict[str, object]] = {}
    by_key: dict[Hashable, dict[str, object]] = {}
    for d in decisions:
        if d.eligible:
            continue
        c = d.candidate
        own = flags.get(c.customer_id, NO_FLAGS)
        evidence_key = pipeline.evidence_key(d, own)
        details = by_key.get(evidence_key) if evidence_key is not None else None
        if details is None:
            found = _scrub_details(pipeline, d, own)
            # A policy's evidence keeps its keys in one order: its repr tells equal data apart.
            details = shared.setdefault((found["policy"], found["reason"], repr(found["data"])), found)
            if evidence_key is not None:
                by_key[evidence_key] = details
        events.append(TrailEvent(campaign_id, c.customer_id, now, AUDIENCE_SCRUBBED, details))
    return events


def _scrub_details(pipeline: PolicyPipeline, decision: Decision, flags: OperatorFlags) -> dict[str, object]:
    """What a scrub step keeps: the policy, its reason, the data it decided on. (The page and promo
    code are on the audience row: the step keeps what only it knows.)"""
    policy, data = pipeline.explain_scrub(decision, flags)
    return {"policy": policy, "reason": decision.scrub_reason, "data": data}


def gateway_scrubbed(
    campaign_id: int, decision: Decision, flags: OperatorFlags, pipeline: PolicyPipeline, *, now: datetime
) -> list[TrailEvent]:
    """A customer the triggered gateway scrubbed (it answered Optimove no): which policy, on which data.

    Like a page's, an allowed customer needs no event: the audience row tells it.
    """
    details = _scrub_details(pipeline, decision, flags) | {"gateway": True}
    return [TrailEvent(campaign_id, decision.candidate.customer_id, now, AUDIENCE_SCRUBBED, details)]


def claim_received(
    claim: Claim,
    *,
    client_name: str | None,
    key_id: str | None,
    now: datetime,
) -> list[TrailEvent]:
    """A new claim: who sent it, with which key; and its rejection when it was rejected at once."""
    received = {
        "claim_id": claim.id,
        "source": claim.source,
        "client_id": claim.client_id,
        "client": client_name,
        "key_id": key_id,
        "idempotency_key": claim.idempotency_key is not None,
        "request_id": claim.correlation_id,
        "promo_code": claim.promo_code,
        "segment": claim.segment,
    }
    events = [TrailEvent(claim.campaign_id, claim.customer_id, now, CLAIM_RECEIVED, received)]
    if claim.reason is not None:
        rejected = {"claim_id": claim.id, "reason": claim.reason, "at_once": True}
        events.append(TrailEvent(claim.campaign_id, claim.customer_id, now, CLAIM_REJECTED, rejected))
    return events


def claim_admitted(draft: ClaimDraft, stored: Claim) -> list[TrailEvent]:
    """``claim_received`` for a claim just admitted: its sender is the draft's, its time the row's."""
    return claim_received(stored, client_name=draft.client_name, key_id=draft.key_id, now=stored.created_at)


def validation_answered(
    claims: Sequence[Claim],
    answers: Mapping[str, ValidationResult],
    moved: Collection[str],
    *,
    promo_code: str | None,
    now: datetime,
) -> list[TrailEvent]:
    """What OptiPromo answered for each claim of one validateCustomers call that took the answer."""
    events = []
    for claim in claims:
        if claim.id not in moved:
            continue
        answer = answers[claim.customer_id]
        details: dict[str, object] = {
            "claim_id": claim.id,
            "promo_code": promo_code,
            "call_size": len(claims),
            "eligible": answer.eligible,
        }
        if answer.eligible:
            details |= {
                "tier": answer.tier,
                "reward_type": answer.reward_type,
                "reward_amount": amount_text(answer.reward_amount),
            }
        else:
            details["reason"] = answer.reason or "optipromo:not_eligible"
        events.append(TrailEvent(claim.campaign_id, claim.customer_id, now, VALIDATION_ANSWERED, details))
    return events


def validation_failed(
    claims: Sequence[Claim], error: str, failed: Collection[str], *, now: datetime
) -> list[TrailEvent]:
    """A validateCustomers call that failed: each claim retries, or fails when `failed` names it."""
    events = []
    for claim in claims:
        gave_up = claim.id in failed
        details = {"claim_id": claim.id, "error": cut(error), "will_retry": not gave_up}
        events.append(TrailEvent(claim.campaign_id, claim.customer_id, now, VALIDATION_ERROR, details))
        if gave_up:
            failure = {"claim_id": claim.id, "during": "validation", "reason": cut(error)}
            events.append(TrailEvent(claim.campaign_id, claim.customer_id, now, CLAIM_FAILED, failure))
    return events


def claims_failed(claims: Iterable[Claim], reasons: Mapping[str, str], *, now: datetime) -> list[TrailEvent]:
    """Claims given up, each with its reason (only those named in `reasons`)."""
    return [
        TrailEvent(
            c.campaign_id, c.customer_id, now, CLAIM_FAILED, {"claim_id": c.id, "reason": cut(reasons[c.id])}
        )
        for c in claims
        if c.id in reasons
    ]


def claims_stopped_by_safeguard(
    claims: Iterable[Claim], reasons: Mapping[str, str], *, now: datetime
) -> list[TrailEvent]:
    """Validated claims a safeguard rejected before any grant (max_rewards, max_reward_amount)."""
    return [
        TrailEvent(
            c.campaign_id,
            c.customer_id,
            now,
            CLAIM_REJECTED,
            {"claim_id": c.id, "reason": reasons[c.id], "before_grant": True},
        )
        for c in claims
        if c.id in reasons
    ]


def activation_round(
    claims: Mapping[str, Claim],
    granted: Sequence[RewardGrant],
    outcomes: Mapping[str, GrantOutcome],
    attempt_of: Mapping[str, int],
    *,
    refused: Mapping[str, str],
    failed: Mapping[str, str],
    retry: Mapping[str, str],
    activator: str,
    retry_in_seconds: float,
    now: datetime,
) -> list[TrailEvent]:
    """What one activation round settled, each with its attempt: rewards granted (the amount offered
    and the amount granted after scaling, the platform's reference), refused, given up, or left for
    another round. (A granted claim's status, queued in the same transaction, is told by its outbox row.)"""
    events = []
    for grant in granted:
        claim = claims[grant.claim_id]
        settled = {
            "claim_id": grant.claim_id,
            "activator": activator,
            "attempt": attempt_of.get(grant.claim_id),
            "reward_type": grant.reward_type,
            "amount_offered": amount_text(claim.reward_amount),
            "amount_granted": amount_text(grant.amount),
            "external_ref": outcomes[grant.claim_id].external_ref,
        }
        events.append(TrailEvent(grant.campaign_id, grant.customer_id, now, GRANT_SETTLED, settled))
    unsettled = ((GRANT_REFUSED, refused), (CLAIM_FAILED, failed), (GRANT_RETRY, retry))
    for step, reasons in unsettled:
        for claim_id, reason in reasons.items():
            c = claims[claim_id]
            details: dict[str, object] = {
                "claim_id": c.id,
                "activator": activator,
                "attempt": attempt_of.get(c.id),
                "reason": cut(reason),
            }
            if step == GRANT_RETRY:
                details["retry_in_s"] = round(retry_in_seconds, 2)
            events.append(TrailEvent(c.campaign_id, c.customer_id, now, step, details))
    return events


def status_call_failed(
    batch: ClaimedBatch,
    call_id: int | None,
    error: str,
    outcome: str,
    retry_in_seconds: float | None,
    *,
    now: datetime,
) -> list[TrailEvent]:
    """Each status of a call that failed: ambiguous (Optimove may have applied it), to retry, or
    given up. The rare path: a call that succeeds costs no row per customer (see StatusRecord)."""
    step = {CALL_AMBIGUOUS: STATUS_AMBIGUOUS, CALL_DEAD: STATUS_DEAD}.get(outcome, STATUS_RETRY)
    details: dict[str, object] = {
        "call_id": call_id,
        "batch_size": len(batch.customers),
        "attempt": batch.attempt,
        "error": cut(error),
        "may_have_applied": outcome == CALL_AMBIGUOUS,
    }
    if retry_in_seconds is not None:
        details["retry_in_s"] = round(retry_in_seconds, 2)
    return [
        TrailEvent(batch.campaign_id, customer_id, now, step, details) for customer_id, _ in batch.customers
    ]


def claims_replayed(claims: Iterable[Claim], *, by: str, now: datetime) -> list[TrailEvent]:
    """Failed claims put back to pending by an operator (`claims retry`, the console, `reconcile --fix`)."""
    return [
        TrailEvent(c.campaign_id, c.customer_id, now, CLAIM_REPLAYED, {"claim_id": c.id, "by": by})
        for c in claims
    ]
