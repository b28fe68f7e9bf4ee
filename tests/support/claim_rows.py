"""Claims written straight into the database, in a chosen state, for tests of what reads and waits on them."""

from __future__ import annotations

from sqlalchemy import Engine

from app.adapters.db import claims
from app.clock import utcnow
from app.domain.claims import ClaimState


def insert_claims(
    engine: Engine,
    count: int,
    *,
    state: ClaimState = ClaimState.PENDING,
    client_id: int | None = None,
    campaign_id: int = 4242,
) -> list[str]:
    """`count` claims of distinct customers; returns their ids."""
    now = utcnow()
    ids = [claims.new_claim_id() for _ in range(count)]
    with engine.begin() as conn:
        for n, claim_id in enumerate(ids):
            claims.insert_claim(
                conn,
                id=claim_id,
                client_id=client_id,
                source="test",
                campaign_id=campaign_id,
                customer_id=f"{claim_id[:8]}-{n}",
                session_properties={},
                request_hash="test",
                state=state.value,
                created_at=now,
                updated_at=now,
            )
    return ids
