"""Claims, step 1: validate pending claims with OptiPromo, micro-batched.

The task for one claim leases every claim then pending for the same promo code and campaign (up
to `max_contexts`) and validates them in one validateCustomers call, so a lone claim goes at once
and a burst fills batches. It waits for the shared budget before building the batch: under a tight
budget, claims that arrive meanwhile join the call. Each outcome is one set-based update.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.claims import NOT_ELIGIBLE, ClaimState, ValidatedClaim
from app.domain.optimove import ValidationContext
from app.services.ports import Dispatcher, PromotionValidator
from app.services.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """How validation batches and leases."""

    max_contexts: int = 100
    lease: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ValidationStep:
    """What one validation step did, for logs and tests."""

    outcome: str  # "validated" or "skipped"
    validated: int = 0
    rejected: int = 0


def validate_pending(
    uow_factory: UnitOfWorkFactory,
    validator: PromotionValidator,
    dispatcher: Dispatcher,
    config: ValidationConfig,
    claim_id: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ValidationStep:
    """Validate the claim's batch; Optimove errors propagate after the batch is put back to pending."""
    with uow_factory() as uow:
        claim = uow.claims.get(claim_id)
    if claim is None or claim.state != ClaimState.PENDING:
        return ValidationStep("skipped")
    validator.wait_for_budget(max_seconds=config.lease.total_seconds() / 2)
    with uow_factory() as uow:
        lease = uow.claims.lease_pending(
            campaign_id=claim.campaign_id,
            promo_code=claim.promo_code,
            limit=config.max_contexts,
            lease=config.lease,
            now=clock(),
        )
        uow.commit()
    if not lease.claims:
        return ValidationStep("skipped")
    contexts = [ValidationContext(c.customer_id, c.session_properties) for c in lease.claims]
    try:
        answers = validator.validate_customers(
            claim.promo_code or "", contexts, campaign_id=claim.campaign_id
        )
    except Exception as exc:
        with uow_factory() as uow:
            uow.claims.release_lease(
                lease.lease_id, reason=f"validation retry: {type(exc).__name__}", now=clock()
            )
            uow.commit()
        raise
    by_customer = {answer.customer_id: answer for answer in answers}
    eligible = [
        ValidatedClaim(c.id, r.tier, r.reward_type, r.reward_amount)
        for c in lease.claims
        if (r := by_customer[c.customer_id]).eligible
    ]
    not_eligible = {
        c.id: by_customer[c.customer_id].reason or NOT_ELIGIBLE
        for c in lease.claims
        if not by_customer[c.customer_id].eligible
    }
    now = clock()
    with uow_factory() as uow:
        validated = uow.claims.mark_validated(eligible, now=now)
        rejected = uow.claims.mark_rejected(not_eligible, source=ClaimState.VALIDATING, now=now)
        uow.commit()
    if validated:
        dispatcher.activate_claims(validated)
    return ValidationStep("validated", validated=len(validated), rejected=len(rejected))
