"""Reward activators: the plug-in point where a validated claim's reward is actually granted.

OptiPromo says *what* a customer may get (tier, reward type, amount); only the operator's own
platform can put it in the customer's account. That step differs per operator, so the claims
service talks to a ``RewardActivator`` and the composition root picks one: an HTTP activator that
POSTs each grant to the operator's platform (``activators.http``), or a wallet ledger in our own
database for demos and tests.

Every activator keeps the same contract, which is what makes claim retries safe:
  - ``grant`` is idempotent per ``claim_id``: granting the same claim again never grants twice,
    and answers ``GRANTED`` when it was granted before.
  - ``grant`` settles each grant on its own and returns one ``GrantOutcome`` per grant; it raises
    nothing for a grant (only ``ValueError`` for a call that can never be sent). The caller
    records every outcome: one failing grant must not hide the ones that were granted.
  - It makes at most one attempt per grant per call. Retrying is the caller's job (one retry
    layer: the activate task), so the number of attempts per grant stays bounded and countable.

This module imports no HTTP or database library, so any layer may depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol

__all__ = ["GrantKind", "GrantOutcome", "RewardActivator", "RewardGrant"]


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


class RewardActivator(Protocol):
    """Grants rewards on the operator's platform; see the module docstring for the contract."""

    name: str

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """One attempt per grant; one outcome per grant, in order; nothing raised per grant."""
        ...

    def record(self, conn: Any, grants: Sequence[RewardGrant], now: datetime) -> None:
        """Write what the activator keeps in our own database, inside the activation transaction.

        Called with the granted rewards only, in the same transaction as the activation records and
        the outbox rows; remote activators keep nothing here.
        """
        ...

    def close(self) -> None:
        """Release connections or other resources."""
        ...
