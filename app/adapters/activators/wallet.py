"""The PostgreSQL wallet ledger: a built-in activator for demos, tests and operators without a platform API.

Granting is bookkeeping in our own database: one credit per claim (a unique key), written in the
same unit of work as the activation record and the outbox row, so a reward and its status report
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from app.domain.rewards import GrantKind, GrantOutcome, RewardGrant
from app.services.unit_of_work import UnitOfWork


class WalletLedgerActivator:
    """Credits the customer's wallet in the `wallet_ledger` table, once per claim."""

    name = "wallet"

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """Nothing to call: every grant is accepted, and recorded by `record`."""
        return [GrantOutcome(g.claim_id, GrantKind.GRANTED) for g in grants]

    def record(self, uow: UnitOfWork, granted: Sequence[RewardGrant], now: datetime) -> None:
        """Insert one credit per claim (a redelivered activation inserts nothing)."""
        uow.activations.credit_wallets(granted, now=now)

    def close(self) -> None:
        """Nothing to release."""
