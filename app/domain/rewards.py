"""Rewards to grant and what became of each grant (framework-free).

OptiPromo says *what* a customer may get (tier, reward type, amount); only the operator's own
platform can put it in the customer's account, through a ``RewardActivator`` (see
``app.services.ports``). These are the values that cross that port.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class RewardGrant:
    """One reward to grant, built by the claims service; ``claim_id`` is its idempotency key."""

    claim_id: str
    campaign_id: int
    customer_id: str
    promo_code: str | None
    tier: str | None
    reward_type: str | None
    amount: Decimal


class GrantKind(StrEnum):
    """What one attempt at a grant established, and so what the caller does with the claim."""

    # The platform holds the reward: the claim is activated and its status reported.
    GRANTED = "granted"
    # The platform declines this reward (a business answer): the claim is rejected with the reason.
    REFUSED = "refused"
    # Not settled yet (unreachable, overloaded, still processing): try again later, same claim id.
    RETRY = "retry"
    # An answer no retry can change (credentials, URL, an unexpected status): fail and alert.
    MISCONFIGURED = "misconfigured"


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """What became of one grant: its kind, the platform's reference or the reason, and Retry-After."""

    claim_id: str
    kind: GrantKind
    external_ref: str | None = None
    reason: str | None = None
    # Seconds the platform asked us to wait (RETRY only), when it said.
    retry_after: float | None = None

    @property
    def granted(self) -> bool:
        """Whether the platform holds the reward."""
        return self.kind is GrantKind.GRANTED
