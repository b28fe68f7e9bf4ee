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
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


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
NOT_ELIGIBLE = "not_eligible"
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
