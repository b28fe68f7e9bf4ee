"""Submitting a claim: validated, deduplicated, and accepted or rejected at once without calling Optimove.

One claim per (campaign, customer): a second claim returns the first. With an Idempotency-Key the
same key and body return the same claim and another body is a conflict. A customer outside the
audience, or scrubbed by the operator's policies, gets a claim that is rejected straight away. A
new pending claim rings the workers' doorbell here, once, whichever edge submitted it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.clock import utcnow
from app.domain.campaigns import CampaignState
from app.domain.claims import Claim, ClaimDraft, ClaimRequest, ClaimState, is_claim_id, new_claim_id
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from app.services.validation import ValidationDoorbell

CLAIMABLE_STATES = frozenset({CampaignState.READY})


class ClaimError(Exception):
    """Root of the reasons a claim request is refused before anything is written."""


class UnknownCampaign(ClaimError):
    """Raised when the campaign was never announced by Optimove."""


class CampaignNotClaimable(ClaimError):
    """Raised when the campaign exists but takes no claims (auto mode, not ready, canceled)."""


class IdempotencyConflict(ClaimError):
    """Raised when an Idempotency-Key is reused with a different request body."""


@dataclass(frozen=True, slots=True)
class SubmittedClaim:
    """The claim a request maps to, and whether this request created it."""

    claim: Claim
    created: bool


@dataclass(frozen=True, slots=True)
class Submission:
    """Who submits a claim, and how to recognise a replay of it."""

    client_id: int | None
    idempotency_key: str | None
    source: str
    correlation_id: str | None = None
    # Who sent it, for the customer's trail: the client's name and the id of the key it presented.
    client_name: str | None = None
    key_id: str | None = None


def submit_claim(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    request: ClaimRequest,
    submission: Submission,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> SubmittedClaim:
    """Store the claim (or find the one it duplicates) and ring its validator when it is new.

    Raises a ClaimError before writing anything.
    """
    fingerprint = request.fingerprint()
    draft = ClaimDraft(
        id=new_claim_id(),
        client_id=submission.client_id,
        source=submission.source,
        campaign_id=request.campaign_id,
        customer_id=request.customer_id,
        session_properties=dict(request.session_properties),
        idempotency_key=submission.idempotency_key,
        request_hash=fingerprint,
        correlation_id=submission.correlation_id,
        created_at=clock(),
        client_name=submission.client_name,
        key_id=submission.key_id,
    )
    with uow_factory() as uow:
        if submission.client_id is None and submission.idempotency_key is not None:
            # Keys of the broker path have no client: NULLs never collide in a unique key, so look.
            existing = _existing(uow, request, submission, fingerprint)
            if existing is not None:
                return SubmittedClaim(existing, created=False)
        # The common case in one step: the campaign, the customer's place in its audience, the
        # insert and its `claim.received` step on the trail. Replays, races and refusals are sorted
        # out when nothing was inserted.
        admission = uow.claims.admit(draft, claimable=CLAIMABLE_STATES)
        stored = admission.stored
        if stored is None:  # a replay, the customer's earlier claim, a concurrent request's, or a refusal
            existing = _existing(uow, request, submission, fingerprint)
            if existing is not None:
                return SubmittedClaim(existing, created=False)
            if admission.mode is None:
                raise UnknownCampaign(f"campaign {request.campaign_id} is unknown")
            if not admission.takes_claims(CLAIMABLE_STATES):
                detail = f"mode {admission.mode}, state {admission.state}"
                raise CampaignNotClaimable(f"campaign {request.campaign_id} takes no claims ({detail})")
            raise RuntimeError("claim insert conflicted but no conflicting claim was found")
        uow.commit()
    if stored.state == ClaimState.PENDING:
        doorbell.ring(stored.campaign_id, stored.promo_code)
    return SubmittedClaim(stored, created=True)


def _existing(
    uow: UnitOfWork, request: ClaimRequest, submission: Submission, fingerprint: str
) -> Claim | None:
    if submission.idempotency_key is not None:
        keyed = uow.claims.find_by_idempotency_key(submission.client_id, submission.idempotency_key)
        if keyed is not None:
            if keyed.request_hash != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return keyed
    return uow.claims.find_by_customer(request.campaign_id, request.customer_id)


def get_claim(uow_factory: UnitOfWorkFactory, claim_id: str) -> Claim | None:
    """One claim; None for an unknown id or text that cannot be a claim id (no query then)."""
    if not is_claim_id(claim_id):
        return None
    with uow_factory() as uow:
        return uow.claims.get(claim_id)


def claim_stats(
    uow_factory: UnitOfWorkFactory, campaign_id: int | None = None
) -> tuple[dict[str, int], dict[str, int]]:
    """Claims by state, and rejected or failed claims by reason (of one campaign, or all)."""
    with uow_factory() as uow:
        return uow.claims.counts_by_state(campaign_id), uow.claims.counts_by_reason(campaign_id)
