"""Reward activators: the plug-in point where a validated claim's reward is actually granted.

OptiPromo says *what* a customer may get (tier, reward type, amount); only the operator's own
platform can put it in the customer's account. That step differs per operator, so the claims
service talks to a ``RewardActivator`` and the composition root picks one: an HTTP activator that
POSTs each grant to the operator's platform (``activators.http``), or a wallet ledger in our own
database for demos and tests.

Every activator keeps the same contract, which is what makes claim retries safe:
  - ``grant`` is idempotent per ``claim_id``: granting the same claim again never grants twice,
    and answers ``granted=True`` when it was granted before.
  - A refusal (the platform said no) is a ``GrantOutcome`` with ``granted=False``, not an
    exception, so the caller records it and rejects the claim.
  - A failure that may pass (the platform could not be reached) raises ``TransientActivatorError``;
    the caller retries later with the same claim id.

This module imports no HTTP or database library, so any layer may depend on it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

__all__ = [
    "ActivatorError",
    "GrantOutcome",
    "PermanentActivatorError",
    "RewardActivator",
    "RewardGrant",
    "TransientActivatorError",
]


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


@dataclass(frozen=True, slots=True)
class GrantOutcome:
    """What became of one grant; ``error`` says why when the platform refused it."""

    claim_id: str
    granted: bool
    external_ref: str | None
    error: str | None


class ActivatorError(Exception):
    """Root of every failure a reward activator raises."""


class TransientActivatorError(ActivatorError):
    """The grant could not be confirmed yet (unreachable, 5xx, 429); retry later with the same claim."""

    def __init__(
        self,
        message: str,
        *,
        claim_id: str,
        attempts: int,
        status: int | None = None,
        completed: Sequence[GrantOutcome] = (),
    ) -> None:
        super().__init__(message)
        self.claim_id = claim_id
        self.attempts = attempts
        self.status = status
        # Grants of the same batch settled before this one failed; a retry settles them again.
        self.completed = list(completed)


class PermanentActivatorError(ActivatorError):
    """The activator cannot work as configured (an answer no retry can change); alert on it."""


class RewardActivator(Protocol):
    """Grants rewards on the operator's platform; see the module docstring for the contract."""

    name: str

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """Grant each reward once; one outcome per grant, in order."""
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
