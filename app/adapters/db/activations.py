"""Activation records and the PostgreSQL wallet ledger of the built-in activator."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import activations, claims, wallet_ledger
from app.domain.rewards import RewardGrant


class SqlActivations:
    """The activation repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(
        self, granted: Sequence[tuple[RewardGrant, str | None]], *, activator: str, now: datetime
    ) -> int:
        """Record each grant (with the platform's reference) once per claim; how many were new."""
        if not granted:
            return 0
        rows = [
            {
                "claim_id": grant.claim_id,
                "activator": activator,
                "external_ref": external_ref,
                "amount": grant.amount,
                "created_at": now,
            }
            for grant, external_ref in granted
        ]
        statement = insert_ignoring_conflicts(self._conn, activations, ["claim_id"])
        return int(self._conn.execute(statement, rows).rowcount)

    def credit_wallets(self, grants: Sequence[RewardGrant], *, now: datetime) -> int:
        """Credit each customer's wallet once per claim (the wallet activator); how many were new."""
        if not grants:
            return 0
        rows = [
            {
                "claim_id": g.claim_id,
                "campaign_id": g.campaign_id,
                "customer_id": g.customer_id,
                "reward_type": g.reward_type,
                "amount": g.amount,
                "created_at": now,
            }
            for g in grants
        ]
        statement = insert_ignoring_conflicts(self._conn, wallet_ledger, ["claim_id"])
        return int(self._conn.execute(statement, rows).rowcount)

    def credits_per_claim(self) -> dict[str, int]:
        """How many wallet credits each claim received (always 1; for invariant checks)."""
        rows = self._conn.execute(
            select(wallet_ledger.c.claim_id, func.count()).group_by(wallet_ledger.c.claim_id)
        )
        return {str(claim_id): int(count) for claim_id, count in rows}

    def granted_total(self, campaign_id: int) -> Decimal:
        """The sum of the amounts recorded as granted for a campaign's claims."""
        total = self._conn.execute(
            select(func.coalesce(func.sum(activations.c.amount), 0))
            .select_from(activations.join(claims, claims.c.id == activations.c.claim_id))
            .where(claims.c.campaign_id == campaign_id)
        ).scalar_one()
        return Decimal(total)
