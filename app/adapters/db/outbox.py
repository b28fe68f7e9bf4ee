"""The outbox: status updates waiting to reach Optimove, claimed in batches under a lease.

A relay claims up to N rows of ONE campaign (the one with the earliest deadline) with
``FOR UPDATE SKIP LOCKED`` and stamps them with a lease id; after the call it marks them sent
only where the lease id still matches (a fencing token), so a relay whose lease expired cannot
overwrite a newer attempt. Rows never move backwards: a row with sent_at or dead_at is final.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Connection, and_, case, func, or_, select, update

from app.adapters.db.dialect import locked_batch_ids
from app.adapters.db.tables import campaigns, outbox
from app.clock import as_utc


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """Rows of one campaign leased to one relay for one call."""

    lease_id: str
    campaign_id: int
    kind: str
    deadline: datetime | None
    customers: list[tuple[str, bool]]
    previously_sent: int  # rows of this batch that an earlier, ambiguous call may already have applied


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.sent_at.is_(None),
        outbox.c.dead_at.is_(None),
        outbox.c.available_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


def claim_batch(
    conn: Connection, *, now: datetime, limit: int, lease: timedelta, linger: timedelta = timedelta(0)
) -> ClaimedBatch | None:
    """Lease up to `limit` pending rows of the most urgent campaign; None when nothing is due.

    With a `linger`, a campaign's rows wait until the oldest is that old or a full batch is waiting,
    so that under a scarce rate budget each call carries as many statuses as it can.
    """
    # The most urgent campaign with something due; its rows are then read through the partial index.
    due = select(outbox.c.kind).where(_claimable(now), outbox.c.campaign_id == campaigns.c.id).limit(1)
    ready: ColumnElement[bool] = due.exists()
    if linger > timedelta(0):
        ripe = select(outbox.c.id).where(
            _claimable(now), outbox.c.campaign_id == campaigns.c.id, outbox.c.created_at <= now - linger
        )
        full = (
            select(outbox.c.id)
            .where(_claimable(now), outbox.c.campaign_id == campaigns.c.id)
            .offset(limit - 1)
            .limit(1)
        )
        ready = or_(ripe.exists(), full.exists())
    head = conn.execute(
        select(campaigns.c.id, due.scalar_subquery())
        .where(ready)
        .order_by(campaigns.c.clearance_required_by.asc().nulls_last(), campaigns.c.id)
        .limit(1)
    ).first()
    if head is None:
        return None
    campaign_id, kind = head[0], head[1]
    lease_id = str(uuid.uuid4())
    # One statement: lock the batch (SKIP LOCKED) and stamp the lease. An IN list of 10,000 literal
    # ids made the UPDATE itself the relay's bottleneck.
    batch = locked_batch_ids(
        conn,
        select(outbox.c.id)
        .where(_claimable(now), outbox.c.campaign_id == campaign_id, outbox.c.kind == kind)
        .order_by(outbox.c.id)
        .limit(limit),
        "outbox_batch",
    )
    rows = list(
        conn.execute(
            update(outbox)
            .where(outbox.c.id.in_(batch))
            .values(
                lease_id=lease_id,
                lease_until=now + lease,
                attempts=outbox.c.attempts + 1,
                # A row still carrying an (expired) lease was in flight when its relay died: the call may
                # have reached Optimove, so this send may be a re-send and is counted as one.
                send_count=outbox.c.send_count + case((outbox.c.lease_id.is_not(None), 1), else_=0),
            )
            .returning(
                outbox.c.id, outbox.c.customer_id, outbox.c.status, outbox.c.send_count, outbox.c.deadline
            )
        ).all()
    )
    if not rows:
        return None
    rows.sort(key=lambda row: row.id)
    return ClaimedBatch(
        lease_id=lease_id,
        campaign_id=campaign_id,
        kind=kind,
        deadline=as_utc(rows[0].deadline),
        customers=[(row.customer_id, row.status) for row in rows],
        previously_sent=sum(1 for row in rows if row.send_count > 0),
    )


def _leased(batch: ClaimedBatch) -> ColumnElement[bool]:
    # campaign_id and the pending predicate let PostgreSQL use the partial index; lease_id fences.
    return and_(
        outbox.c.campaign_id == batch.campaign_id,
        outbox.c.lease_id == batch.lease_id,
        outbox.c.sent_at.is_(None),
        outbox.c.dead_at.is_(None),
    )


def mark_sent(conn: Connection, batch: ClaimedBatch, *, now: datetime) -> int:
    """Mark the leased rows sent; returns how many still held the lease."""
    result = conn.execute(
        update(outbox)
        .where(_leased(batch))
        .values(
            sent_at=now, lease_id=None, lease_until=None, send_count=outbox.c.send_count + 1, last_error=None
        )
    )
    return int(result.rowcount)


def release_for_retry(
    conn: Connection, batch: ClaimedBatch, *, available_at: datetime, error: str, maybe_applied: bool
) -> int:
    """Give the leased rows back to be retried at `available_at`; count the attempt if it may have landed."""
    result = conn.execute(
        update(outbox)
        .where(_leased(batch))
        .values(
            lease_id=None,
            lease_until=None,
            available_at=available_at,
            last_error=error[:2000],
            send_count=outbox.c.send_count + (1 if maybe_applied else 0),
        )
    )
    return int(result.rowcount)


def mark_dead(conn: Connection, batch: ClaimedBatch, *, now: datetime, error: str) -> int:
    """Give up on the leased rows (permanent error or too many attempts); they stay visible."""
    result = conn.execute(
        update(outbox)
        .where(_leased(batch))
        .values(dead_at=now, lease_id=None, lease_until=None, last_error=error[:2000])
    )
    return int(result.rowcount)


def attempts_of_lease(conn: Connection, batch: ClaimedBatch) -> int:
    """The highest attempt count among the leased rows."""
    value = conn.execute(select(func.max(outbox.c.attempts)).where(_leased(batch))).scalar()
    return int(value or 0)


def cancel_campaign(conn: Connection, campaign_id: int, *, now: datetime, reason: str) -> int:
    """Stop every pending row of a campaign (EventTypeID 4)."""
    result = conn.execute(
        update(outbox)
        .where(outbox.c.campaign_id == campaign_id, outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))
        .values(dead_at=now, lease_id=None, lease_until=None, last_error=reason)
    )
    return int(result.rowcount)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Where a campaign's (or every campaign's) outbox rows are."""

    pending: int
    sent: int
    dead: int
    resent: int
    oldest_pending_at: datetime | None


def stats(conn: Connection, campaign_id: int | None = None) -> OutboxStats:
    """Counts of pending, sent, dead and re-sent rows."""
    query = select(
        func.count().filter(and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))),
        func.count().filter(outbox.c.sent_at.is_not(None)),
        func.count().filter(outbox.c.dead_at.is_not(None)),
        func.count().filter(outbox.c.send_count > 1),
        func.min(outbox.c.created_at).filter(and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))),
    )
    if campaign_id is not None:
        query = query.where(outbox.c.campaign_id == campaign_id)
    pending, sent, dead, resent, oldest = conn.execute(query).one()
    return OutboxStats(int(pending), int(sent), int(dead), int(resent), as_utc(oldest))


def pending_count(conn: Connection, campaign_id: int) -> int:
    """Rows of the campaign not yet sent nor dead."""
    return int(
        conn.execute(
            select(func.count()).where(
                outbox.c.campaign_id == campaign_id, outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None)
            )
        ).scalar_one()
    )
