"""Submitting a claim: validated, deduplicated, and accepted or rejected at once without calling Optimove.

One claim per (campaign, customer): a second claim returns the first. With an Idempotency-Key the
same key and body return the same claim and another body is a conflict. A customer outside the
audience, or scrubbed by the operator's policies, gets a claim that is rejected straight away.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from app.adapters.db import audience, campaigns
from app.adapters.db import claims as claim_rows
from app.clock import utcnow
from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import NOT_IN_AUDIENCE, ClaimRequest, ClaimState

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

    claim: claim_rows.ClaimRecord
    created: bool


def submit_claim(
    engine: Engine,
    request: ClaimRequest,
    *,
    client_id: int | None,
    idempotency_key: str | None,
    source: str,
    correlation_id: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> SubmittedClaim:
    """Store the claim (or find the one it duplicates). Raises a ClaimError before writing anything."""
    fingerprint = request.fingerprint()
    with engine.begin() as conn:
        existing = _existing(conn, request, client_id, idempotency_key, fingerprint)
        if existing is not None:
            return SubmittedClaim(existing, created=False)
        campaign = campaigns.get_campaign(conn, request.campaign_id)
        if campaign is None:
            raise UnknownCampaign(f"campaign {request.campaign_id} is unknown")
        if campaign.mode != CampaignMode.CLAIM or campaign.state not in CLAIMABLE_STATES:
            detail = f"mode {campaign.mode}, state {campaign.state}"
            raise CampaignNotClaimable(f"campaign {request.campaign_id} takes no claims ({detail})")
        target = audience.member(conn, request.campaign_id, request.customer_id)
        state, reason = ClaimState.PENDING, None
        if target is None:
            state, reason = ClaimState.REJECTED, NOT_IN_AUDIENCE
        elif not target.eligible:
            state, reason = ClaimState.REJECTED, f"scrubbed:{target.scrub_reason}"
        now = clock()
        claim_id = claim_rows.new_claim_id()
        inserted = claim_rows.insert_claim(
            conn,
            id=claim_id,
            client_id=client_id,
            source=source,
            campaign_id=request.campaign_id,
            customer_id=request.customer_id,
            promo_code=target.promo_code if target else None,
            segment=target.segment if target else None,
            session_properties=dict(request.session_properties),
            idempotency_key=idempotency_key,
            request_hash=fingerprint,
            state=state.value,
            reason=reason,
            correlation_id=correlation_id,
            created_at=now,
            updated_at=now,
            dispatched_at=now if state == ClaimState.PENDING else None,
        )
        if not inserted:  # a concurrent request won the race: answer with its claim
            existing = _existing(conn, request, client_id, idempotency_key, fingerprint)
            if existing is None:
                raise RuntimeError("claim insert conflicted but no conflicting claim was found")
            return SubmittedClaim(existing, created=False)
        created = claim_rows.get_claim(conn, claim_id)
    assert created is not None
    return SubmittedClaim(created, created=True)


def _existing(
    conn: Connection, request: ClaimRequest, client_id: int | None, key: str | None, fingerprint: str
) -> claim_rows.ClaimRecord | None:
    if key is not None:
        keyed = claim_rows.find_by_idempotency_key(conn, client_id, key)
        if keyed is not None:
            if keyed.request_hash != fingerprint:
                raise IdempotencyConflict("this Idempotency-Key was used with a different request body")
            return keyed
    return claim_rows.find_by_customer(conn, request.campaign_id, request.customer_id)


def get_claim(engine: Engine, claim_id: str) -> claim_rows.ClaimRecord | None:
    """Read one claim; None when there is none, or when `claim_id` cannot be one (a NUL, 5,000 bytes)."""
    if not claim_rows.is_claim_id(claim_id):
        return None
    with engine.connect() as conn:
        return claim_rows.get_claim(conn, claim_id)
