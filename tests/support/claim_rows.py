"""Claims written straight into the database, in a chosen state, for tests of what reads and waits on them."""

from __future__ import annotations

from sqlalchemy import Engine, insert

from app.adapters.db.tables import claims
from app.clock import utcnow
from app.domain.claims import ClaimState, new_claim_id


def insert_claims(
    engine: Engine,
    count: int,
    *,
    state: ClaimState = ClaimState.PENDING,
    client_id: int | None = None,
    campaign_id: int = 4242,
) -> list[str]:
    """`count` claims of distinct customers, in `state` whatever the state machine says; their ids."""
    now = utcnow()
    ids = [new_claim_id() for _ in range(count)]
    rows = [
        {
            "id": claim_id,
            "client_id": client_id,
            "source": "test",
            "campaign_id": campaign_id,
            "customer_id": f"{claim_id[:8]}-{n}",
            "session_properties": {},
            "request_hash": "test",
            "state": state.value,
            "created_at": now,
            "updated_at": now,
        }
        for n, claim_id in enumerate(ids)
    ]
    with engine.begin() as conn:
        conn.execute(insert(claims), rows)
    return ids
