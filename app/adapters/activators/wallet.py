"""The PostgreSQL wallet ledger: a built-in activator for demos, tests and operators without a platform API.

Granting is bookkeeping in our own database: one credit per claim (a unique key), written in the
same transaction as the activation record and the outbox row, so a reward and its status report
commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from app.adapters.activators import GrantKind, GrantOutcome, RewardGrant
from app.adapters.db.activations import credit_wallet


class WalletLedgerActivator:
    """Credits the customer's wallet in the `wallet_ledger` table, once per claim."""

    name = "wallet"

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        """Nothing to call: every grant is accepted, and recorded by `record`."""
        return [GrantOutcome(g.claim_id, GrantKind.GRANTED) for g in grants]

    def record(self, conn: Any, grants: Sequence[RewardGrant], now: datetime) -> None:
        """Insert one credit per claim (a redelivered activation inserts nothing)."""
        assert isinstance(conn, Connection)
        for g in grants:
            credit_wallet(
                conn,
                claim_id=g.claim_id,
                campaign_id=g.campaign_id,
                customer_id=g.customer_id,
                reward_type=g.reward_type,
                amount=g.amount,
                now=now,
            )

    def close(self) -> None:
        """Nothing to release."""
