"""Claims: the customer's "Claim Reward" click, as a small explicit state machine (framework-free).

    pending ──▶ validating ──▶ validated ──▶ activated ──▶ completed
       │            │  ╰─(lease expired)─▶ pending
       │            ╰──────────▶ rejected        (not eligible, budget exhausted, refused)
       ╰─▶ rejected (outside the audience, scrubbed)
    any non-terminal ──▶ failed (retries used up; `promobridge claims retry` puts it back to pending)
    failed ──▶ activated (a grant confirmed after its claim was given up: the platform holds it)

Every transition is a conditional update guarded by the current state, so a redelivered task or
a duplicated step changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.domain.audience import AudienceMember
from app.domain.campaigns import CampaignMode, CampaignState


class ClaimState(StrEnum):
    """Where a claim is."""

    PENDING = "pending"
    VALIDATING = "validating"
    VALIDATED = "validated"
    ACTIVATED = "activated"
    COMPLETED = "completed"
    REJECTED = "rejected"
    FAILED = "failed"


TERMINAL_STATES = frozenset({ClaimState.COMPLETED, ClaimState.REJECTED, ClaimState.FAILED})
ALLOWED_TRANSITIONS: Mapping[ClaimState, frozenset[ClaimState]] = {
    ClaimState.PENDING: frozenset({ClaimState.VALIDATING, ClaimState.REJECTED, ClaimState.FAILED}),
    ClaimState.VALIDATING: frozenset(
        {ClaimState.VALIDATED, ClaimState.REJECTED, ClaimState.PENDING, ClaimState.FAILED}
    ),
    ClaimState.VALIDATED: frozenset({ClaimState.ACTIVATED, ClaimState.REJECTED, ClaimState.FAILED}),
    ClaimState.ACTIVATED: frozenset({ClaimState.COMPLETED}),
    # failed → activated: the platform confirmed a grant after the claim was given up; it holds the reward.
    ClaimState.FAILED: frozenset({ClaimState.PENDING, ClaimState.ACTIVATED}),
    ClaimState.COMPLETED: frozenset(),
    ClaimState.REJECTED: frozenset(),
}

NOT_IN_AUDIENCE = "not_in_audience"
SCRUBBED_PREFIX = "scrubbed:"  # + the policy's scrub reason: the customer was scrubbed from the audience
# Why OptiPromo found a claim not eligible, in promobridge's own words. The vendor's spellings are
# mapped to these in one place, ``app.adapters.optimove.optipromo_contract``; a reason it does not
# know is kept as OPTIPROMO_OTHER + ":" + the vendor's own words.
OPTIPROMO_PREFIX = "optipromo:"
NOT_ELIGIBLE = "optipromo:not_eligible"  # no tier matched, or OptiPromo gave no reason
AUDIENCE_CAP_REACHED = "optipromo:audience_cap_reached"  # the promotion's audience cap is used up
REWARD_BUDGET_EXHAUSTED = "optipromo:reward_budget_exhausted"  # its reward budget cannot cover this one
PROMOTION_INACTIVE = "optipromo:promotion_inactive"  # deactivated or archived: it validates nobody
OPTIPROMO_OTHER = "optipromo:other"
OPTIPROMO_REASONS = frozenset(
    {NOT_ELIGIBLE, AUDIENCE_CAP_REACHED, REWARD_BUDGET_EXHAUSTED, PROMOTION_INACTIVE}
)


def optipromo_reason(name: str) -> str:
    """The reason `name` stands for ("audience_cap_reached" or "optipromo:audience_cap_reached");
    ValueError naming the known ones for anything else."""
    reason = name.strip()
    if not reason.startswith(OPTIPROMO_PREFIX):
        reason = OPTIPROMO_PREFIX + reason
    if reason not in OPTIPROMO_REASONS:
        known = ", ".join(sorted(r.removeprefix(OPTIPROMO_PREFIX) for r in OPTIPROMO_REASONS))
        raise ValueError(f"{name!r} is not a reason promobridge knows ({known})")
    return reason


ACTIVATION_REFUSED = "activation_refused"  # rejected: the operator's platform declined the reward
ACTIVATION_RETRY = "activation_retry"  # still validated: the last attempt was not settled
ACTIVATION_UNCONFIRMED = "activation_unconfirmed"  # failed: every attempt allowed left the grant unsettled
ACTIVATION_MISCONFIGURED = "activation_misconfigured"  # failed: the endpoint answered what no retry changes


class InvalidTransition(ValueError):
    """Raised when code asks for a transition the state machine does not allow."""


def check_transition(source: ClaimState, target: ClaimState) -> None:
    """Fail loudly on a transition that is not in the diagram above."""
    if target not in ALLOWED_TRANSITIONS[source]:
        raise InvalidTransition(f"a claim cannot go from {source} to {target}")


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """What a client asks for: the reward of one campaign for one customer."""

    campaign_id: int
    customer_id: str
    session_properties: Mapping[str, object]

    def fingerprint(self) -> str:
        """A stable hash of the request body, to tell a replay from a different request."""
        canonical = json.dumps(
            {
                "campaign_id": self.campaign_id,
                "customer_id": self.customer_id,
                "session_properties": self.session_properties,
            },
            sort_keys=True,
            separators=(",", ":"),
            default=str,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Reward:
    """What the customer gets: a type and an amount (after scaling)."""

    type: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class RewardContext:
    """What reward-scaling policies may look at."""

    campaign_id: int
    customer_id: str
    segment: str | None
    tier: str | None
    session_properties: Mapping[str, object]


_CLAIM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SOURCE_HTTP = "http"
SOURCE_BROKER = "broker"


def new_claim_id() -> str:
    """A fresh, unguessable claim id."""
    return str(uuid.uuid4())


def is_claim_id(text: str) -> bool:
    """Whether `text` has the shape of a claim id (a lower-case UUID); no other text can name a claim."""
    return _CLAIM_ID.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Claim:
    """A stored claim, as every layer reads it."""

    id: str
    client_id: int | None
    source: str
    campaign_id: int
    customer_id: str
    promo_code: str | None
    segment: str | None
    session_properties: dict[str, Any]
    idempotency_key: str | None
    request_hash: str
    state: ClaimState
    reason: str | None
    tier: str | None
    reward_type: str | None
    reward_amount: Decimal | None
    granted_amount: Decimal | None
    attempts: int
    activation_attempts: int
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime
    validated_at: datetime | None
    activated_at: datetime | None
    completed_at: datetime | None
    reserved_amount: Decimal | None = None  # held within the campaign's reward limits; None: nothing


@dataclass(frozen=True, slots=True)
class NewClaim:
    """A claim to store: pending (to validate) or rejected at once, with the reason."""

    id: str
    client_id: int | None
    source: str
    campaign_id: int
    customer_id: str
    promo_code: str | None
    segment: str | None
    session_properties: dict[str, Any]
    idempotency_key: str | None
    request_hash: str
    state: ClaimState
    reason: str | None
    correlation_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ClaimDraft:
    """A claim before its campaign and audience row are read: what was asked, by whom, and when."""

    id: str
    client_id: int | None
    source: str
    campaign_id: int
    customer_id: str
    session_properties: dict[str, Any]
    idempotency_key: str | None
    request_hash: str
    correlation_id: str | None
    created_at: datetime
    # Who sent it, for the customer's trail only: the client's name and the id of the key it presented.
    client_name: str | None = None
    key_id: str | None = None

    def judged(self, member: AudienceMember | None) -> NewClaim:
        """The claim to store given the customer's audience row: pending with its promo code when
        eligible; rejected at once when not targeted or scrubbed (the SQL adapter says the same in SQL)."""
        state, reason = ClaimState.PENDING, None
        if member is None:
            state, reason = ClaimState.REJECTED, NOT_IN_AUDIENCE
        elif not member.eligible:
            state, reason = ClaimState.REJECTED, f"{SCRUBBED_PREFIX}{member.scrub_reason}"
        return NewClaim(
            id=self.id,
            client_id=self.client_id,
            source=self.source,
            campaign_id=self.campaign_id,
            customer_id=self.customer_id,
            promo_code=member.promo_code if member else None,
            segment=member.segment if member else None,
            session_properties=self.session_properties,
            idempotency_key=self.idempotency_key,
            request_hash=self.request_hash,
            state=state,
            reason=reason,
            correlation_id=self.correlation_id,
            created_at=self.created_at,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """What admitting a claim found: its campaign's mode and state (both None: no such campaign), and
    the claim stored, or None when the campaign takes no claims or an earlier claim holds its place."""

    mode: CampaignMode | None
    state: CampaignState | None
    stored: Claim | None

    def takes_claims(self, claimable: frozenset[CampaignState]) -> bool:
        """Whether the campaign exists, is in claim mode and in one of the `claimable` states."""
        return self.mode == CampaignMode.CLAIM and self.state in claimable


@dataclass(frozen=True, slots=True)
class ClaimLease:
    """Pending claims of one (campaign, promo code) moved to validating under one lease."""

    lease_id: str
    claims: list[Claim] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ValidatedClaim:
    """What OptiPromo offered a claim it found eligible."""

    claim_id: str
    tier: str | None
    reward_type: str | None
    reward_amount: Decimal | None


@dataclass(frozen=True, slots=True)
class ActivatedClaim:
    """A claim whose reward the activator granted, and the amount it granted (after scaling)."""

    claim_id: str
    granted_amount: Decimal
