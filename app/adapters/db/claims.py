"""Claim rows: inserted once per (campaign, customer), moved only by state-guarded updates."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from app.adapters.db.claim_notifications import notify_claims_final
from app.adapters.db.dialect import insert_ignoring_any_conflict, locked_batch_ids
from app.adapters.db.tables import claims
from app.clock import as_utc
from app.domain.claims import TERMINAL_STATES, ClaimState, check_transition

_CLAIM_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


@dataclass(frozen=True, slots=True)
class ClaimRecord:
    """A stored claim."""

    id: str
    client_id: int | None
    source: str
    campaign_id: int
    customer_id: str
    promo_code: str | None
    segment: str | None
    session_properties: dict[str, Any]
    idempotency_key: str | None
    request_hash: str
    state: ClaimState
    reason: str | None
    tier: str | None
    reward_type: str | None
    reward_amount: Decimal | None
    granted_amount: Decimal | None
    attempts: int
    activation_attempts: int
    correlation_id: str | None
    created_at: datetime
    updated_at: datetime
    validated_at: datetime | None
    activated_at: datetime | None
    completed_at: datetime | None


def _record(row: Any) -> ClaimRecord:
    return ClaimRecord(
        id=row["id"],
        client_id=row["client_id"],
        source=row["source"],
        campaign_id=row["campaign_id"],
        customer_id=row["customer_id"],
        promo_code=row["promo_code"],
        segment=row["segment"],
        session_properties=dict(row["session_properties"] or {}),
        idempotency_key=row["idempotency_key"],
        request_hash=row["request_hash"],
        state=ClaimState(row["state"]),
        reason=row["reason"],
        tier=row["tier"],
        reward_type=row["reward_type"],
        reward_amount=row["reward_amount"],
        granted_amount=row["granted_amount"],
        attempts=row["attempts"],
        activation_attempts=row["activation_attempts"],
        correlation_id=row["correlation_id"],
        created_at=as_utc(row["created_at"]) or row["created_at"],
        updated_at=as_utc(row["updated_at"]) or row["updated_at"],
        validated_at=as_utc(row["validated_at"]),
        activated_at=as_utc(row["activated_at"]),
        completed_at=as_utc(row["completed_at"]),
    )


def new_claim_id() -> str:
    """A fresh, unguessable claim id."""
    return str(uuid.uuid4())


def is_claim_id(text: str) -> bool:
    """Whether `text` has the shape of a claim id (a lower-case UUID); no other text can name a claim."""
    return _CLAIM_ID.fullmatch(text) is not None


def insert_claim(conn: Connection, **values: Any) -> bool:
    """Insert a claim unless one exists for its (campaign, customer) or (client, idempotency key)."""
    return conn.execute(insert_ignoring_any_conflict(conn, claims).values(**values)).rowcount == 1


def get_claim(conn: Connection, claim_id: str) -> ClaimRecord | None:
    """Read one claim."""
    row = conn.execute(select(claims).where(claims.c.id == claim_id)).mappings().first()
    return None if row is None else _record(row)


def get_claims(conn: Connection, claim_ids: Sequence[str]) -> list[ClaimRecord]:
    """Read several claims (in no particular order)."""
    if not claim_ids:
        return []
    rows = conn.execute(select(claims).where(claims.c.id.in_(list(claim_ids)))).mappings()
    return [_record(row) for row in rows]


def find_by_idempotency_key(conn: Connection, client_id: int | None, key: str) -> ClaimRecord | None:
    """The claim a client created with this Idempotency-Key."""
    row = (
        conn.execute(
            select(claims).where(
                claims.c.client_id.is_(client_id) if client_id is None else claims.c.client_id == client_id,
                claims.c.idempotency_key == key,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def find_by_customer(conn: Connection, campaign_id: int, customer_id: str) -> ClaimRecord | None:
    """The one claim of a customer in a campaign."""
    row = (
        conn.execute(
            select(claims).where(claims.c.campaign_id == campaign_id, claims.c.customer_id == customer_id)
        )
        .mappings()
        .first()
    )
    return None if row is None else _record(row)


def transition(
    conn: Connection,
    claim_ids: Sequence[str],
    *,
    source: ClaimState,
    target: ClaimState,
    now: datetime,
    **values: Any,
) -> list[str]:
    """Move the claims that are still in `source` to `target`; returns the ids that moved.

    Claims that become final wake their long polls when this transaction commits.
    """
    check_transition(source, target)
    if not claim_ids:
        return []
    result = conn.execute(
        update(claims)
        .where(claims.c.id.in_(list(claim_ids)), claims.c.state == source.value)
        .values(state=target.value, updated_at=now, **values)
        .returning(claims.c.id)
    )
    moved = list(result.scalars())
    if target in TERMINAL_STATES:
        notify_claims_final(conn, moved)
    return moved


def lease_pending_batch(
    conn: Connection, *, promo_code: str | None, campaign_id: int, limit: int, lease: timedelta, now: datetime
) -> tuple[str, list[ClaimRecord]]:
    """Move up to `limit` pending claims of one promo code and campaign to validating, under a new lease."""
    lease_id = str(uuid.uuid4())
    code_matches = claims.c.promo_code.is_(None) if promo_code is None else claims.c.promo_code == promo_code
    batch = locked_batch_ids(
        conn,
        select(claims.c.id)
        .where(claims.c.state == ClaimState.PENDING.value, claims.c.campaign_id == campaign_id, code_matches)
        .order_by(claims.c.created_at)
        .limit(limit),
        "claim_batch",
    )
    rows = conn.execute(
        update(claims)
        .where(claims.c.id.in_(batch), claims.c.state == ClaimState.PENDING.value)
        .values(
            state=ClaimState.VALIDATING.value,
            lease_id=lease_id,
            lease_until=now + lease,
            updated_at=now,
            attempts=claims.c.attempts + 1,
        )
        .returning(*claims.c)
    ).mappings()
    return lease_id, [_record(row) for row in rows]


def release_lease(conn: Connection, lease_id: str, *, now: datetime, reason: str) -> list[str]:
    """Put a batch whose validation failed transiently back to pending."""
    result = conn.execute(
        update(claims)
        .where(claims.c.lease_id == lease_id, claims.c.state == ClaimState.VALIDATING.value)
        .values(
            state=ClaimState.PENDING.value,
            lease_id=None,
            lease_until=None,
            updated_at=now,
            reason=reason[:255],
        )
        .returning(claims.c.id)
    )
    return list(result.scalars())


def reserve_activation_attempts(
    conn: Connection, claim_ids: Sequence[str], *, max_attempts: int, now: datetime
) -> dict[str, int]:
    """Count one more grant attempt for the validated claims still under `max_attempts`.

    Counted before the POST, in its own transaction, so that nothing after it (a worker killed
    mid-call, a redelivered or re-dispatched task) can make the POSTs per grant exceed
    `max_attempts`. Returns each reserved claim's attempt number (1 for the first).
    """
    if not claim_ids:
        return {}
    rows = conn.execute(
        update(claims)
        .where(
            claims.c.id.in_(list(claim_ids)),
            claims.c.state == ClaimState.VALIDATED.value,
            claims.c.activation_attempts < max_attempts,
        )
        .values(activation_attempts=claims.c.activation_attempts + 1, dispatched_at=now, updated_at=now)
        .returning(claims.c.id, claims.c.activation_attempts)
    )
    return {row[0]: int(row[1]) for row in rows}


def schedule_activation_retry(
    conn: Connection, reasons: dict[str, str], *, due_at: datetime, now: datetime
) -> None:
    """Keep validated claims for another activation round: why the last one failed, and when it is due.

    `dispatched_at` is set to the due time, so the reconciler leaves the claim to its scheduled
    retry until `due_at` plus its staleness delay.
    """
    if not reasons:
        return
    conn.execute(
        update(claims)
        .where(claims.c.id == bindparam("claim_id"), claims.c.state == ClaimState.VALIDATED.value)
        .values(reason=bindparam("last_error"), dispatched_at=due_at, updated_at=now),
        [{"claim_id": claim_id, "last_error": reason[:255]} for claim_id, reason in reasons.items()],
    )


def expire_leases(conn: Connection, *, now: datetime) -> list[str]:
    """Validations whose worker died: back to pending so they are validated again."""
    result = conn.execute(
        update(claims)
        .where(claims.c.state == ClaimState.VALIDATING.value, claims.c.lease_until < now)
        .values(state=ClaimState.PENDING.value, lease_id=None, lease_until=None, updated_at=now)
        .returning(claims.c.id)
    )
    return list(result.scalars())


def stale_claims(conn: Connection, *, stale_before: datetime, limit: int) -> list[tuple[str, ClaimState]]:
    """Non-terminal claims untouched since `stale_before` (their task was probably lost)."""
    live = [
        state.value for state in ClaimState if state not in TERMINAL_STATES and state != ClaimState.VALIDATING
    ]
    rows = conn.execute(
        select(claims.c.id, claims.c.state)
        .where(
            claims.c.state.in_(live),
            or_(claims.c.dispatched_at.is_(None), claims.c.dispatched_at < stale_before),
            claims.c.updated_at < stale_before,
        )
        .order_by(claims.c.updated_at)
        .limit(limit)
    )
    return [(row[0], ClaimState(row[1])) for row in rows]


def mark_dispatched(conn: Connection, claim_ids: Sequence[str], *, now: datetime) -> None:
    """Remember when work for these claims was last handed to the workers."""
    if claim_ids:
        conn.execute(update(claims).where(claims.c.id.in_(list(claim_ids))).values(dispatched_at=now))


def complete_for_customers(
    conn: Connection, campaign_id: int, customer_ids: Sequence[str], *, now: datetime
) -> int:
    """Activated claims whose status Optimove has now accepted become completed (their long polls wake)."""
    if not customer_ids:
        return 0
    result = conn.execute(
        update(claims)
        .where(
            claims.c.campaign_id == campaign_id,
            claims.c.customer_id.in_(list(customer_ids)),
            claims.c.state == ClaimState.ACTIVATED.value,
        )
        .values(state=ClaimState.COMPLETED.value, updated_at=now, completed_at=now)
        .returning(claims.c.id)
    )
    completed = list(result.scalars())
    notify_claims_final(conn, completed)
    return len(completed)


def failed_claim_ids(conn: Connection, *, limit: int = 10_000) -> list[str]:
    """Claims that used up their retries."""
    return list(
        conn.execute(
            select(claims.c.id)
            .where(claims.c.state == ClaimState.FAILED.value)
            .order_by(claims.c.updated_at)
            .limit(limit)
        ).scalars()
    )


def counts_by_state(conn: Connection, campaign_id: int | None = None) -> dict[str, int]:
    """How many claims are in each state."""
    query = select(claims.c.state, func.count()).group_by(claims.c.state)
    if campaign_id is not None:
        query = query.where(claims.c.campaign_id == campaign_id)
    return {str(state): int(count) for state, count in conn.execute(query)}


def counts_by_reason(conn: Connection, campaign_id: int | None = None) -> dict[str, int]:
    """Rejected and failed claims by reason."""
    query = (
        select(claims.c.reason, func.count())
        .where(claims.c.state.in_([ClaimState.REJECTED.value, ClaimState.FAILED.value]))
        .group_by(claims.c.reason)
    )
    if campaign_id is not None:
        query = query.where(claims.c.campaign_id == campaign_id)
    return {str(reason): int(count) for reason, count in conn.execute(query)}
