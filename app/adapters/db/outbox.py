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
    exists,
    func,
    literal,
    null,
    or_,
    select,
    true,
    update,
)

from app.adapters.db.dialect import (
    first_in_order,
    insert_ignoring_conflicts,
    lock_rows_skip_locked,
    locked_batch_ids,
)
from app.adapters.db.notifications import notify_outbox
from app.adapters.db.tables import campaign_audience, campaigns, outbox
from app.clock import as_utc
from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.outbox import (
    PAGE_APPROVALS,
    PROMOTION_STATUS,
    ApprovedCustomers,
    ClaimedBatch,
    OutboxStats,
    PageRange,
    page_approvals_key,
)

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


# Page approvals rows a batch may take at once (each carries up to a page of customers).
MAX_PAGES_PER_BATCH = 64
_PENDING = and_(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))


def _customers_of_row() -> ColumnElement[int]:
    """How many customers a row stands for: a page approvals row its `customers`, any other one."""
    return case((outbox.c.kind == PAGE_APPROVALS, func.coalesce(outbox.c.customers, 0)), else_=1)


def _has_own_row(campaign_id: int) -> ColumnElement[bool]:
    """The audience customer (campaign_audience in the query) has a status row of their own."""
    single = outbox.alias("single")
    return exists().where(
        single.c.kind == PROMOTION_STATUS,
        single.c.campaign_id == campaign_id,
        single.c.customer_id == campaign_audience.c.customer_id,
    )


def _claimable(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.sent_at.is_(None),
        outbox.c.dead_at.is_(None),
        outbox.c.available_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


def _ripe(now: datetime, linger: timedelta) -> ColumnElement[bool]:
    """The campaign (`campaigns` in the query) has a due row `linger` old."""
    return _any(_claimable(now), outbox.c.campaign_id == campaigns.c.id, outbox.c.created_at <= now - linger)


def _filled(now: datetime, limit: int) -> ColumnElement[bool]:
    """The campaign (`campaigns` in the query) has a full batch due."""
    full = (
        select(outbox.c.id)
        .where(_claimable(now), outbox.c.campaign_id == campaigns.c.id)
        .offset(limit - 1)
        .limit(1)
    )
    # Pages' customers due add up to a full batch (a range of the unique key: pages' rows only).
    full_pages = (
        select(func.coalesce(func.sum(outbox.c.customers), 0))
        .where(outbox.c.kind == PAGE_APPROVALS, outbox.c.campaign_id == campaigns.c.id, _claimable(now))
        .scalar_subquery()
    )
    return or_(full.exists(), full_pages >= limit)


def _any(*conditions: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether any outbox row meets the conditions."""
    return select(outbox.c.id).where(*conditions).exists()


def _expired_ranges(campaign_id: ColumnElement[int] | int, now: datetime) -> ColumnElement[bool]:
    """Page approvals rows of the campaign whose relay's lease ran out mid-call."""
    return and_(
        outbox.c.campaign_id == campaign_id,
        outbox.c.kind == PAGE_APPROVALS,
        _PENDING,
        outbox.c.lease_id.is_not(None),
        outbox.c.lease_until < now,
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
        self,
        campaign_id: int,
        page_no: int,
        *,
        deadline: datetime | None,
        now: datetime,
        eligible: int | None = None,
    ) -> int:
        """Queue approvals for the eligible customers of an ingested page (auto mode), as one row.

        `eligible` is the page's count of eligible customers when the caller knows it (it was just
        written); how many approvals were new (0 when the page's row exists already).
        """
        if eligible is None or self._has_single_rows(campaign_id):
            # Customers that have a status row of their own are approved by that row, not the page's.
            a = campaign_audience.c
            eligible = int(
                self._conn.execute(
                    select(func.count()).where(
                        a.campaign_id == campaign_id,
                        a.page_no == page_no,
                        a.eligible.is_(True),
                        ~_has_own_row(campaign_id),
                    )
                ).scalar_one()
            )
        if eligible <= 0:
            return 0
        statement = insert_ignoring_conflicts(self._conn, outbox, _UNIQUE).values(
            kind=PAGE_APPROVALS,
            campaign_id=campaign_id,
            customer_id=page_approvals_key(page_no),
            status=True,
            deadline=deadline,
            created_at=now,
            available_at=now,
            attempts=0,
            send_count=0,
            page_no=page_no,
            customers=eligible,
            customers_sent=0,
        )
        if self._conn.execute(statement).rowcount != 1:
            return 0
        notify_outbox(self._conn)
        return eligible

    def claim_batch(
        self,
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        linger: timedelta = timedelta(0),
        approvals_paused: bool = False,
        approvals_linger: timedelta = timedelta(0),
    ) -> ClaimedBatch | None:
        """Lease up to `limit` pending rows of the most urgent campaign that is not held; None when
        nothing is due. `approvals_paused` leaves auto campaigns' approvals waiting.

        With a `linger`, a campaign's rows wait until the oldest is that old or a full batch is waiting,
        so that under a scarce rate budget each call carries as many statuses as it can. An auto
        campaign still ingesting waits so for `approvals_linger` whatever the budget: its pages keep
        queueing approvals, and a call spent on part of a batch is a call fewer for its pages.
        """
        # The most urgent campaign with something due; its rows are then read through the partial index.
        due = select(outbox.c.kind).where(_claimable(now), outbox.c.campaign_id == campaigns.c.id).limit(1)
        # A campaign that must fill its call (a linger applies and no row of it is that old) is ready
        # only with a full batch due; `must_fill` tells the batch to go only if it is full, since
        # another relay may be leasing part of what made it look full.
        ready: list[ColumnElement[bool]] = [due.exists()]
        must_fill: ColumnElement[bool] = literal(False)
        if linger > timedelta(0):
            must_fill = ~_ripe(now, linger)
        if approvals_linger > timedelta(0):
            ingesting = and_(
                campaigns.c.state == CampaignState.INGESTING.value,
                campaigns.c.mode == CampaignMode.AUTO.value,
            )
            must_fill = or_(must_fill, and_(ingesting, ~_ripe(now, approvals_linger)))
        if linger > timedelta(0) or approvals_linger > timedelta(0):
            ready.append(or_(~must_fill, _filled(now, limit)))
        sendable: list[ColumnElement[bool]] = [campaigns.c.hold.is_(None)]
        if approvals_paused:
            sendable.append(campaigns.c.mode != CampaignMode.AUTO.value)
        head = self._conn.execute(
            select(
                campaigns.c.id,
                due.scalar_subquery(),
                # What a batch of pages goes by, asked with the campaign rather than in statements of its own.
                _any(_expired_ranges(campaigns.c.id, now)),
                _any(
                    outbox.c.kind == PROMOTION_STATUS, outbox.c.campaign_id == campaigns.c.id, _claimable(now)
                ),
                must_fill,
            )
            .where(*ready, *sendable)
            .order_by(campaigns.c.clearance_required_by.asc().nulls_last(), campaigns.c.id)
            .limit(1)
        ).first()
        if head is None:
            return None
        campaign_id, kind, expired, singles_due, fill = head
        lease_id = str(uuid.uuid4())
        if kind == PAGE_APPROVALS:
            # Ranges whose relay died mid-call become rows of their own (counted as re-sent when sent),
            # due at once; rows of single customers then go first.
            if expired and self._split_off_expired_ranges(campaign_id, now):
                singles_due = True
            if not singles_due:
                return self._claim_pages(
                    campaign_id, now=now, limit=limit, lease=lease, lease_id=lease_id, fill=bool(fill)
                )
            kind = PROMOTION_STATUS
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
        """Mark the leased rows sent (by status call `call_id`); how many customers still held the lease."""
        if batch.pages:
            left = outbox.c.customers - outbox.c.lease_customers
            held = set(
                self._conn.execute(
                    update(outbox)
                    .where(_leased(batch))
                    .values(
                        sent_through=outbox.c.lease_through,
                        customers=left,
                        customers_sent=outbox.c.customers_sent + outbox.c.lease_customers,
                        sent_at=case((left <= 0, literal(now, outbox.c.sent_at.type)), else_=null()),
                        lease_id=None,
                        lease_until=None,
                        lease_through=None,
                        lease_customers=None,
                        last_error=None,
                        last_call_id=call_id,
                    )
                    .returning(outbox.c.id)
                ).scalars()
            )
            return sum(page.customers for page in batch.pages if page.row_id in held)
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
        if batch.pages:
            # A range that may have landed becomes rows of its own, each counted as sent once.
            if maybe_applied:
                return self._split_off(_leased(batch), available_at=available_at, send_count=1, error=error)
            released = self._conn.execute(
                update(outbox)
                .where(_leased(batch))
                .values(
                    lease_id=None,
                    lease_until=None,
                    lease_through=None,
                    lease_customers=None,
                    available_at=available_at,
                    last_error=error[:2000],
                )
                .returning(outbox.c.id)
            ).scalars()
            held = set(released)
            return sum(page.customers for page in batch.pages if page.row_id in held)
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
        if batch.pages:
            # The range given up on becomes dead rows of its own customers; the page's rest goes on.
            dead = self._split_off(_leased(batch), available_at=now, send_count=0, error=error, dead_at=now)
            self._count_dead(batch.campaign_id, dead)
            return dead
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
        """Stop every pending row of a campaign (EventTypeID 4); how many customers they stood for."""
        stopped = sum(
            self._conn.execute(
                update(outbox)
                .where(outbox.c.campaign_id == campaign_id, _PENDING)
                .values(
                    dead_at=now,
                    lease_id=None,
                    lease_until=None,
                    lease_through=None,
                    lease_customers=None,
                    last_error=reason,
                )
                .returning(_customers_of_row())
            ).scalars()
        )
        self._count_dead(campaign_id, stopped)
        return int(stopped)

    def stats(self, campaign_id: int | None = None) -> OutboxStats:
        """Counts of pending, sent, dead and re-sent rows."""
        customers = _customers_of_row()
        page = outbox.c.kind == PAGE_APPROVALS
        query = select(
            func.coalesce(func.sum(customers).filter(_PENDING), 0),
            func.coalesce(
                func.sum(
                    case(
                        (page, func.coalesce(outbox.c.customers_sent, 0)), (outbox.c.sent_at.is_not(None), 1)
                    )
                ),
                0,
            ),
            func.coalesce(func.sum(customers).filter(outbox.c.dead_at.is_not(None)), 0),
            func.count().filter(outbox.c.send_count > 1),
            func.min(outbox.c.created_at).filter(_PENDING),
        )
        if campaign_id is not None:
            query = query.where(outbox.c.campaign_id == campaign_id)
        pending, sent, dead, resent, oldest = self._conn.execute(query).one()
        return OutboxStats(int(pending), int(sent), int(dead), int(resent), as_utc(oldest))

    def backlog(self, campaign_id: int) -> tuple[int, datetime | None]:
        """Rows of the campaign waiting to be sent, and when the oldest was queued (the partial index)."""
        count, oldest = self._conn.execute(
            select(func.coalesce(func.sum(_customers_of_row()), 0), func.min(outbox.c.created_at)).where(
                outbox.c.campaign_id == campaign_id, _PENDING
            )
        ).one()
        return int(count), as_utc(oldest)

    def pending_count(self, campaign_id: int) -> int:
        """Customers of the campaign whose approval is not yet sent nor dead."""
        return int(
            self._conn.execute(
                select(func.coalesce(func.sum(_customers_of_row()), 0)).where(
                    outbox.c.campaign_id == campaign_id, _PENDING
                )
            ).scalar_one()
        )

    # -- page approvals ---------------------------------------------------------------------------

    def _has_single_rows(self, campaign_id: int) -> bool:
        """Whether any customer of the campaign has a status row of their own (a range of the unique key)."""
        query = select(outbox.c.id).where(
            outbox.c.kind == PROMOTION_STATUS, outbox.c.campaign_id == campaign_id
        )
        return self._conn.execute(query.limit(1)).first() is not None

    def _claim_pages(
        self, campaign_id: int, *, now: datetime, limit: int, lease: timedelta, lease_id: str, fill: bool
    ) -> ClaimedBatch | None:
        """Lease the next customers of the campaign's page approvals rows, up to `limit` in all.

        Pages are taken in the order they were queued; the last one taken may be taken in part
        (its next customers in id order), so every call but the campaign's last carries `limit`.
        With `fill`, fewer than `limit` are not leased at all (None): they wait for a later call.
        """
        savepoint = self._conn.begin_nested() if fill else None
        due = and_(_claimable(now), outbox.c.campaign_id == campaign_id, outbox.c.kind == PAGE_APPROVALS)
        # The next due page not held by another relay, locked as it is taken: another relay skips only
        # the pages this batch holds. A page taken (leased, or found empty) is no longer due.
        next_page = lock_rows_skip_locked(
            self._conn,
            select(
                outbox.c.id,
                outbox.c.page_no,
                outbox.c.customers,
                outbox.c.sent_through,
                outbox.c.deadline,
                outbox.c.attempts,
            )
            .where(due)
            .order_by(outbox.c.id)
            .limit(1),
        )
        a = campaign_audience.c
        room = limit
        customer_ids: list[str] = []
        pages: list[PageRange] = []
        deadline = None
        attempt = 1
        singles = self._has_single_rows(campaign_id)
        for _ in range(MAX_PAGES_PER_BATCH):
            if room <= 0:
                break
            row = self._conn.execute(next_page).first()
            if row is None:
                break
            wanted = min(int(row.customers or 0), room)
            left_on_page = [a.campaign_id == campaign_id, a.page_no == row.page_no, a.eligible.is_(True)]
            if row.sent_through is not None:
                left_on_page.append(a.customer_id > row.sent_through)
            if singles:  # customers approved by a status row of their own are not the page's to send
                left_on_page.append(~_has_own_row(campaign_id))
            ids = first_in_order(self._conn, a.customer_id, left_on_page, limit=wanted) if wanted > 0 else []
            if not ids:  # nobody left on the page (the audience narrowed since it was queued)
                self._conn.execute(
                    update(outbox).where(outbox.c.id == row.id).values(customers=0, sent_at=now)
                )
                continue
            self._conn.execute(
                update(outbox)
                .where(outbox.c.id == row.id)
                .values(
                    lease_id=lease_id,
                    lease_until=now + lease,
                    attempts=outbox.c.attempts + 1,
                    lease_through=ids[-1],
                    lease_customers=len(ids),
                    # Fewer than asked: that is all the page has left.
                    customers=len(ids) if len(ids) < wanted else outbox.c.customers,
                )
            )
            pages.append(PageRange(int(row.id), len(ids)))
            customer_ids.extend(ids)
            deadline = deadline or row.deadline
            attempt = max(attempt, int(row.attempts) + 1)
            room -= len(ids)
        if savepoint is not None:
            if room > 0:
                savepoint.rollback()
                return None
            savepoint.commit()
        if not pages:
            return None
        return ClaimedBatch(
            lease_id=lease_id,
            campaign_id=campaign_id,
            kind=PAGE_APPROVALS,
            deadline=as_utc(deadline),
            customers=ApprovedCustomers(customer_ids),
            previously_sent=0,
            pages=tuple(pages),
            attempt=attempt,
        )

    def _split_off_expired_ranges(self, campaign_id: int, now: datetime) -> int:
        # The call may have reached Optimove: each of these customers was sent once already.
        return self._split_off(_expired_ranges(campaign_id, now), available_at=now, send_count=1, error=None)

    def _split_off(
        self,
        which: ColumnElement[bool],
        *,
        available_at: datetime,
        send_count: int,
        error: str | None,
        dead_at: datetime | None = None,
    ) -> int:
        """Turn the leased range of each page approvals row in `which` into rows of single customers.

        The page's cursor moves past the range, so its customers are in exactly one row each; the
        new rows carry the page's attempts, `send_count` calls that may have applied them, and
        `dead_at` when they are given up on. Returns how many customers moved.
        """
        page = outbox.alias("page")
        a = campaign_audience.c
        source = (
            select(
                literal(PROMOTION_STATUS),
                page.c.campaign_id,
                a.customer_id,
                true(),
                page.c.deadline,
                page.c.created_at,
                literal(available_at, outbox.c.available_at.type),
                page.c.attempts,
                literal(send_count, Integer),
                literal(dead_at, outbox.c.dead_at.type),
                literal(None if error is None else error[:2000], outbox.c.last_error.type),
            )
            .select_from(
                campaign_audience.join(
                    page, and_(page.c.campaign_id == a.campaign_id, page.c.page_no == a.page_no)
                )
            )
            .where(
                page.c.id.in_(select(outbox.c.id).where(which, outbox.c.lease_through.is_not(None))),
                a.eligible.is_(True),
                a.customer_id <= page.c.lease_through,
                or_(page.c.sent_through.is_(None), a.customer_id > page.c.sent_through),
            )
        )
        columns = [*_ROW_COLUMNS, "dead_at", "last_error"]
        statement = insert_ignoring_conflicts(self._conn, outbox, _UNIQUE)
        moved = int(self._conn.execute(statement.from_select(columns, source)).rowcount)
        left = outbox.c.customers - outbox.c.lease_customers
        self._conn.execute(
            update(outbox)
            .where(which, outbox.c.lease_through.is_not(None))
            .values(
                sent_through=outbox.c.lease_through,
                customers=left,
                sent_at=case((left <= 0, literal(available_at, outbox.c.sent_at.type)), else_=null()),
                lease_id=None,
                lease_until=None,
                lease_through=None,
                lease_customers=None,
                available_at=available_at,
                last_error=outbox.c.last_error if error is None else error[:2000],
            )
        )
        if moved:
            notify_outbox(self._conn)
        return moved
