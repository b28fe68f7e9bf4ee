"""Activation records, the PostgreSQL wallet ledger, and the status rows they put in the outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import Connection, func, select

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import activations, outbox, wallet_ledger

PROMOTION_STATUS = "promotion_status"


def record_activation(
    conn: Connection,
    *,
    claim_id: str,
    activator: str,
    external_ref: str | None,
    amount: Decimal,
    now: datetime,
) -> bool:
    """Record that the reward of a claim was granted; False if it already was."""
    statement = insert_ignoring_conflicts(conn, activations, ["claim_id"]).values(
        claim_id=claim_id, activator=activator, external_ref=external_ref, amount=amount, created_at=now
    )
    return conn.execute(statement).rowcount == 1


def credit_wallet(
    conn: Connection,
    *,
    claim_id: str,
    campaign_id: int,
    customer_id: str,
    reward_type: str | None,
    amount: Decimal,
    now: datetime,
) -> bool:
    """Credit the customer's wallet once per claim; False if this claim was already credited."""
    statement = insert_ignoring_conflicts(conn, wallet_ledger, ["claim_id"]).values(
        claim_id=claim_id,
        campaign_id=campaign_id,
        customer_id=customer_id,
        reward_type=reward_type,
        amount=amount,
        created_at=now,
    )
    return conn.execute(statement).rowcount == 1


def enqueue_statuses(
    conn: Connection,
    campaign_id: int,
    customer_ids: Sequence[str],
    *,
    deadline: datetime | None,
    now: datetime,
) -> int:
    """Queue Status true for these customers (once per campaign and customer)."""
    if not customer_ids:
        return 0
    rows = [
        {
            "kind": PROMOTION_STATUS,
            "campaign_id": campaign_id,
            "customer_id": customer_id,
            "status": True,
            "deadline": deadline,
            "created_at": now,
            "available_at": now,
            "attempts": 0,
            "send_count": 0,
        }
        for customer_id in customer_ids
    ]
    statement = insert_ignoring_conflicts(conn, outbox, ["kind", "campaign_id", "customer_id"])
    return int(conn.execute(statement, rows).rowcount)


def wallet_credits_per_claim(conn: Connection) -> dict[str, int]:
    """How many credits each claim received (for invariant checks: always 1)."""
    rows = conn.execute(select(wallet_ledger.c.claim_id, func.count()).group_by(wallet_ledger.c.claim_id))
    return {str(claim_id): int(count) for claim_id, count in rows}
