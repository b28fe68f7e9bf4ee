"""Flow C after submission: validate (micro-batched), activate, and hand the status to the outbox.

Each step takes claim ids, re-reads their state and moves them with state-guarded updates, so a
redelivered task does nothing. Validation is adaptive micro-batching: the task for one claim leases
every claim then pending for the same promo code and campaign (up to `max_contexts`) and validates
them in one OptiPromo call, so a lone claim goes at once and a burst fills batches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Connection, Engine

from app.adapters.activators import RewardActivator, RewardGrant
from app.adapters.db import activations, campaigns
from app.adapters.db import claims as claim_rows
from app.adapters.optimove.optipromo import ValidationContext, ValidationResult
from app.clock import utcnow
from app.domain.claims import ACTIVATION_REFUSED, ClaimState, Reward, RewardContext
from app.policies.rewards import RewardPipeline

log = logging.getLogger(__name__)


class PromotionValidator(Protocol):
    """OptiPromo validateCustomers."""

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """Sleep until a rate-limit slot is free (taking none)."""
        ...

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        """Validate each context; one result per context, in order."""
        ...


class ClaimDispatcher(Protocol):
    """Hands the next step of claims to the workers (after the transaction that recorded it)."""

    def validate_claim(self, claim_id: str) -> None:
        """Queue the validation of a pending claim."""
        ...

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Queue the activation of validated claims."""
        ...

    def report_status(self) -> None:
        """Queue a status-update round of the outbox relay."""
        ...


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """How validation batches and leases."""

    max_contexts: int = 100
    lease: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did, for logs and tests."""

    outcome: str
    moved: int = 0
    rejected: int = 0


def validate_pending(
    engine: Engine,
    validator: PromotionValidator,
    dispatcher: ClaimDispatcher,
    config: ValidationConfig,
    claim_id: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> StepResult:
    """Validate the claim's batch; Optimove errors propagate after the batch is put back to pending."""
    with engine.connect() as conn:
        claim = claim_rows.get_claim(conn, claim_id)
    if claim is None or claim.state != ClaimState.PENDING:
        return StepResult("skipped")
    # Wait for the budget before building the batch: claims arriving meanwhile join this call.
    validator.wait_for_budget(max_seconds=config.lease.total_seconds() / 2)
    with engine.begin() as conn:
        lease_id, batch = claim_rows.lease_pending_batch(
            conn,
            promo_code=claim.promo_code,
            campaign_id=claim.campaign_id,
            limit=config.max_contexts,
            lease=config.lease,
            now=clock(),
        )
    if not batch:
        return StepResult("skipped")
    contexts = [ValidationContext(c.customer_id, c.session_properties) for c in batch]
    try:
        results = validator.validate_customers(
            claim.promo_code or "", contexts, campaign_id=claim.campaign_id
        )
    except Exception as exc:
        with engine.begin() as conn:
            claim_rows.release_lease(
                conn, lease_id, now=clock(), reason=f"validation retry: {type(exc).__name__}"
            )
        raise
    by_customer = {result.customer_id: result for result in results}
    now = clock()
    validated: list[str] = []
    rejected = 0
    with engine.begin() as conn:
        for c in batch:
            result = by_customer[c.customer_id]
            if result.eligible:
                validated += claim_rows.transition(
                    conn,
                    [c.id],
                    source=ClaimState.VALIDATING,
                    target=ClaimState.VALIDATED,
                    now=now,
                    lease_id=None,
                    lease_until=None,
                    tier=result.tier,
                    reward_type=result.reward_type,
                    reward_amount=result.reward_amount,
                    validated_at=now,
                    reason=None,
                )
            else:
                rejected += len(
                    claim_rows.transition(
                        conn,
                        [c.id],
                        source=ClaimState.VALIDATING,
                        target=ClaimState.REJECTED,
                        now=now,
                        lease_id=None,
                        lease_until=None,
                        reason=result.reason or "not_eligible",
                    )
                )
        claim_rows.mark_dispatched(conn, validated, now=now)
    if validated:
        dispatcher.activate_claims(validated)
    return StepResult("validated", moved=len(validated), rejected=rejected)


def activate_validated(
    engine: Engine,
    activator: RewardActivator,
    rewards: RewardPipeline,
    dispatcher: ClaimDispatcher,
    claim_ids: Sequence[str],
    *,
    clock: Callable[[], datetime] = utcnow,
) -> StepResult:
    """Grant the rewards of validated claims, then record them and queue their statuses in one transaction.

    Activator errors propagate (the task retries; the claim id is the idempotency key).
    """
    with engine.connect() as conn:
        ready = [c for c in claim_rows.get_claims(conn, claim_ids) if c.state == ClaimState.VALIDATED]
        deadlines = {
            campaign_id: _deadline(conn, campaign_id) for campaign_id in {c.campaign_id for c in ready}
        }
    if not ready:
        return StepResult("skipped")
    grants = [_grant_for(c, rewards) for c in ready]
    outcomes = {o.claim_id: o for o in activator.grant(grants)}
    by_id = {c.id: c for c in ready}
    now = clock()
    with engine.begin() as conn:
        granted = [g for g in grants if outcomes[g.claim_id].granted]
        refused = [g for g in grants if not outcomes[g.claim_id].granted]
        moved = set()
        for g in granted:
            moved.update(
                claim_rows.transition(
                    conn,
                    [g.claim_id],
                    source=ClaimState.VALIDATED,
                    target=ClaimState.ACTIVATED,
                    now=now,
                    granted_amount=g.amount,
                    activated_at=now,
                )
            )
        kept = [g for g in granted if g.claim_id in moved]
        activator.record(conn, kept, now)
        for g in kept:
            activations.record_activation(
                conn,
                claim_id=g.claim_id,
                activator=activator.name,
                external_ref=outcomes[g.claim_id].external_ref,
                amount=g.amount,
                now=now,
            )
        for campaign_id in {g.campaign_id for g in kept}:
            customers = [g.customer_id for g in kept if g.campaign_id == campaign_id]
            activations.enqueue_statuses(
                conn, campaign_id, customers, deadline=deadlines[campaign_id], now=now
            )
        for g in refused:
            error = outcomes[g.claim_id].error or "refused"
            claim_rows.transition(
                conn,
                [g.claim_id],
                source=ClaimState.VALIDATED,
                target=ClaimState.REJECTED,
                now=now,
                reason=f"{ACTIVATION_REFUSED}: {error}"[:255],
            )
    if kept:
        dispatcher.report_status()
    log.info(
        "claims activated",
        extra={
            "activated": len(kept),
            "refused": len(refused),
            "campaigns": sorted({by_id[g.claim_id].campaign_id for g in kept}),
        },
    )
    return StepResult("activated", moved=len(kept), rejected=len(refused))


def _deadline(conn: Connection, campaign_id: int) -> datetime | None:
    campaign = campaigns.get_campaign(conn, campaign_id)
    return None if campaign is None else campaign.clearance_required_by


def _grant_for(claim: claim_rows.ClaimRecord, rewards: RewardPipeline) -> RewardGrant:
    base = Reward(claim.reward_type, claim.reward_amount if claim.reward_amount is not None else Decimal(0))
    context = RewardContext(
        claim.campaign_id, claim.customer_id, claim.segment, claim.tier, claim.session_properties
    )
    scaled = rewards.scale(base, context)
    return RewardGrant(
        claim.id,
        claim.campaign_id,
        claim.customer_id,
        claim.promo_code,
        claim.tier,
        scaled.type,
        scaled.amount,
    )


def fail_claims(
    engine: Engine, claim_ids: Sequence[str], *, reason: str, clock: Callable[[], datetime] = utcnow
) -> list[str]:
    """Give up on claims whose retries are used up: they land in `failed`, visible and replayable."""
    now = clock()
    failed: list[str] = []
    with engine.begin() as conn:
        for source in (ClaimState.PENDING, ClaimState.VALIDATING, ClaimState.VALIDATED):
            failed += claim_rows.transition(
                conn,
                claim_ids,
                source=source,
                target=ClaimState.FAILED,
                now=now,
                reason=reason[:255],
                lease_id=None,
                lease_until=None,
            )
    if failed:
        log.error("claims failed", extra={"claims": failed, "reason": reason})
    return failed


def retry_failed(
    engine: Engine,
    dispatcher: ClaimDispatcher,
    claim_ids: Sequence[str] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Put failed claims back to pending (all of them when no ids are given) and dispatch them."""
    now = clock()
    with engine.begin() as conn:
        ids = list(claim_ids) if claim_ids else claim_rows.failed_claim_ids(conn)
        moved = claim_rows.transition(
            conn,
            ids,
            source=ClaimState.FAILED,
            target=ClaimState.PENDING,
            now=now,
            reason=None,
            dispatched_at=now,
        )
    for claim_id in moved:
        dispatcher.validate_claim(claim_id)
    return moved


def reconcile_claims(
    engine: Engine,
    dispatcher: ClaimDispatcher,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Dispatch again the claims stuck in a non-terminal state (their task was lost)."""
    now = clock()
    with engine.begin() as conn:
        claim_rows.expire_leases(conn, now=now)
        stale = claim_rows.stale_claims(conn, stale_before=now - stale_after, limit=1000)
        claim_rows.mark_dispatched(conn, [claim_id for claim_id, _ in stale], now=now)
    for claim_id, state in stale:
        if state == ClaimState.PENDING:
            dispatcher.validate_claim(claim_id)
    validated = [claim_id for claim_id, state in stale if state == ClaimState.VALIDATED]
    if validated:
        dispatcher.activate_claims(validated)
    if any(state == ClaimState.ACTIVATED for _, state in stale):
        dispatcher.report_status()
    if stale:
        log.warning("re-dispatched stuck claims", extra={"claims": len(stale)})
    return len(stale)
