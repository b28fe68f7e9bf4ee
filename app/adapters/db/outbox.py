"""The outbox: status updates waiting to reach Optimove, claimed in batches under a lease.

A relay claims up to N rows of ONE campaign (the one with the earliest deadline) with
``FOR UPDATE SKIP LOCKED`` and stamps them with a lease id; after the call it marks them sent
only where the lease id still matches (a fencing token), so a relay whose lease expired cannot
overwrite a newer attempt. Rows never move backwards: a row with sent_at or dead_at is final.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
    and_,
    case,
    func,
    literal,
    or_,
    select,
    true,
    update,
)

from app.adapters.db.dialect import insert_ignoring_conflicts, locked_batch_ids
from app.adapters.db.notifications import notify_outbox
from app.adapters.db.tables import campaign_audience, campaigns, outbox
from app.clock import as_utc
from app.domain.campaigns import CampaignMode
from app.domain.outbox import PROMOTION_STATUS, ClaimedBatch, OutboxStats

_UNIQUE = ["kind", "campaign_id", "customer_id"]
_ROW_COLUMNS = [
    "kind",
    "campaign_id",
    "customer_id",
    "status",
    "deadline",
    "created_at",
    "available_at",
    "attempts",
    "send_count",
]


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.sent_at.is_(None),
        outbox.c.dead_at.is_(None),
        outbox.c.available_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


def _leased(batch: ClaimedBatch) -> ColumnElement[bool]:
    # campaign_id and the pending predicate let PostgreSQL use the partial index; lease_id fences.
    return and_(
        outbox.c.campaign_id == batch.campaign_id,
        outbox.c.lease_id == batch.lease_id,
        outbox.c.sent_at.is_(None),
        outbox.c.dead_at.is_(None),
    )


class SqlOutbox:
    """The outbox repository on one connection (see ``app.services.unit_of_work.OutboxRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def enqueue_statuses(
        self, campaign_id: int, customer_ids: Sequence[str], *, deadline: datetime | None, now: datetime
    ) -> int:
        """Queue Status true for these customers, once per campaign and customer; how many were new."""
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
        statement = insert_ignoring_conflicts(self._conn, outbox, _UNIQUE)
        queued = int(self._conn.execute(statement, rows).rowcount)
        if queued:
            notify_outbox(self._conn)
        return queued

    def enqueue_page_approvals(
        self, campaign_id: int, page_no: int, *, deadline: datetime | None, now: datetime
    ) -> int:
        """Queue an approval for every eligible customer of an ingested page (auto mode)."""
        source = select(
            literal(PROMOTION_STATUS),
            campaign_audience.c.campaign_id,
            campaign_audience.c.customer_id,
            true(),
            literal(deadline, outbox.c.deadline.type),
            literal(now, outbox.c.created_at.type),
            literal(now, outbox.c.available_at.type),
            literal(0, Integer),
            literal(0, Integer),
        ).where(
            campaign_audience.c.campaign_id == campaign_id,
            campaign_audience.c.page_no == page_no,
            campaign_audience.c.eligible.is_(True),
        )
        statement = insert_ignoring_conflicts(self._conn, outbox, _UNIQUE)
        queued = int(self._conn.execute(statement.from_select(_ROW_COLUMNS, source)).rowcount)
        if queued:
            notify_outbox(self._conn)
        return queued

    def claim_batch(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        linger: timedelta = timedelta(0),
        approvals_paused: bool = False,
    ) -> ClaimedBatch | None:
        """Lease up to `limit` pending rows of the most urgent campaign that is not held; None when
        nothing is due. `approvals_paused` leaves auto campaigns' approvals waiting.

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
        sendable: list[ColumnElement[bool]] = [campaigns.c.hold.is_(None)]
        if approvals_paused:
            sendable.append(campaigns.c.mode != CampaignMode.AUTO.value)
        head = self._conn.execute(
            select(campaigns.c.id, due.scalar_subquery())
            .where(ready, *sendable)
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
            self._conn,
            select(outbox.c.id)
            .where(_claimable(now), outbox.c.campaign_id == campaign_id, outbox.c.kind == kind)
            .order_by(outbox.c.id)
            .limit(limit),
            "outbox_batch",
        )
        rows = list(
            self._conn.execute(
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
                    outbox.c.id,
                    outbox.c.customer_id,
                    outbox.c.status,
                    outbox.c.send_count,
                    outbox.c.deadline,
                    outbox.c.attempts,
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
            resent_customers=frozenset(row.customer_id for row in rows if row.send_count > 0),
            attempt=max(int(row.attempts) for row in rows),
        )

    def mark_sent(self, batch: ClaimedBatch, *, now: datetime, call_id: int | None = None) -> int:
        """Mark the leased rows sent (by status call `call_id`); returns how many still held the lease."""
        result = self._conn.execute(
            update(outbox)
            .where(_leased(batch))
            .values(
                sent_at=now,
                lease_id=None,
                lease_until=None,
                send_count=outbox.c.send_count + 1,
                last_error=None,
                last_call_id=call_id,
            )
        )
        return int(result.rowcount)

    def release_for_retry(
        self, batch: ClaimedBatch, *, available_at: datetime, error: str, maybe_applied: bool
    ) -> int:
        """Give the leased rows back for a retry at `available_at`; count it if it may have landed."""
        result = self._conn.execute(
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

    def mark_dead(self, batch: ClaimedBatch, *, now: datetime, error: str) -> int:
        """Give up on the leased rows (permanent error or too many attempts); they stay visible."""
        result = self._conn.execute(
            update(outbox)
            .where(_leased(batch))
            .values(dead_at=now, lease_id=None, lease_until=None, last_error=error[:2000])
        )
        self._count_dead(batch.campaign_id, int(result.rowcount))
        return int(result.rowcount)

    def _count_dead(self, campaign_id: int, rows: int) -> None:
        if rows:
            self._conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id)
                .values(dead_count=campaigns.c.dead_count + rows)
            )

    def attempts_of(self, batch: ClaimedBatch) -> int:
        """The highest attempt count among the leased rows."""
        value = self._conn.execute(select(func.max(outbox.c.attempts)).where(_leased(batch))).scalar()
        return int(value or 0)

    def cancel_campaign(self, campaign_id: int, *, now: datetime, reason: str) -> int:
        """Stop every pending row of a campaign (EventTypeID 4)."""
        result = self._conn.execute(
            update(outbox)
            .where(
                outbox.c.campaign_id == campaign_id, outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None)
            )
            .values(dead_at=now, lease_id=None, lease_until=None, last_error=reason)
        )
        self._count_dead(campaign_id, int(result.rowcount))
        return int(result.rowcount)

    def stats(self, campaign_id: int | None = None) -> OutboxStats:
        """Counts of pending, sent, dead and re-sent rows."""
        query = select(
            func.count().filter(and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))),
            func.count().filter(outbox.c.sent_at.is_not(None)),
            func.count().filter(outbox.c.dead_at.is_not(None)),
            func.count().filter(outbox.c.send_count > 1),
            func.min(outbox.c.created_at).filter(
                and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))
            ),
        )
        if campaign_id is not None:
            query = query.where(outbox.c.campaign_id == campaign_id)
        pending, sent, dead, resent, oldest = self._conn.execute(query).one()
        return OutboxStats(int(pending), int(sent), int(dead), int(resent), as_utc(oldest))

    def backlog(self, campaign_id: int) -> tuple[int, datetime | None]:
        """Rows of the campaign waiting to be sent, and when the oldest was queued (the partial index)."""
        count, oldest = self._conn.execute(
            select(func.count(), func.min(outbox.c.created_at)).where(
                outbox.c.campaign_id == campaign_id, outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None)
            )
        ).one()
        return int(count), as_utc(oldest)

    def pending_count(self, campaign_id: int) -> int:
        """Rows of the campaign not yet sent nor dead."""
        return int(
            self._conn.execute(
                select(func.count()).where(
                    outbox.c.campaign_id == campaign_id,
                    outbox.c.sent_at.is_(None),
                    outbox.c.dead_at.is_(None),
                )
            ).scalar_one()
        )
