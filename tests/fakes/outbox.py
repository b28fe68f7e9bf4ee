"""The outbox in memory: batches of one campaign, fenced by lease id, as ``app.adapters.db.outbox``."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.outbox import (
    PAGE_APPROVALS,
    PROMOTION_STATUS,
    ClaimedBatch,
    OutboxStats,
    PageRange,
    page_approvals_key,
)
from tests.fakes.audience import AudienceRow
from tests.fakes.campaigns import CampaignRow
from tests.fakes.tables import Table, TableView, nulls_last

MAX_ERROR_CHARS = 2000
MAX_PAGES_PER_BATCH = 64
OutboxKey = tuple[str, int, str]  # the unique (kind, campaign, customer): one status per customer


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """One row of the outbox table."""

    id: int
    kind: str
    campaign_id: int
    customer_id: str
    status: bool
    deadline: datetime | None
    created_at: datetime
    available_at: datetime
    attempts: int = 0
    lease_id: str | None = None
    lease_until: datetime | None = None
    send_count: int = 0
    sent_at: datetime | None = None
    dead_at: datetime | None = None
    last_error: str | None = None
    page_no: int | None = None
    customers: int | None = None
    customers_sent: int | None = None
    sent_through: str | None = None
    lease_through: str | None = None
    lease_customers: int | None = None

    @property
    def stands_for(self) -> int:
        """How many customers the row stands for: a page's row its customers left, any other one."""
        return (self.customers or 0) if self.kind == PAGE_APPROVALS else 1

    last_call_id: int | None = None

    @property
    def pending(self) -> bool:
        """Neither sent nor dead."""
        return self.sent_at is None and self.dead_at is None

    def claimable(self, now: datetime) -> bool:
        """Pending, due, and not under a lease that still runs."""
        return (
            self.pending and self.available_at <= now and (self.lease_until is None or self.lease_until < now)
        )


def outbox_table() -> Table[OutboxKey, OutboxRow]:
    """An empty outbox table, keyed by its unique (kind, campaign, customer)."""
    return Table("outbox")


class FakeOutbox:
    """The outbox repository in memory (see ``app.services.unit_of_work.OutboxRepository``)."""

    def __init__(
        self,
        rows: TableView[OutboxKey, OutboxRow],
        campaigns: TableView[int, CampaignRow],
        audience: TableView[tuple[int, str], AudienceRow],
    ) -> None:
        self._rows = rows
        self._campaigns = campaigns
        self._audience = audience

    def enqueue_statuses(
        self, campaign_id: int, customer_ids: Sequence[str], *, deadline: datetime | None, now: datetime
    ) -> int:
        """Queue Status true for these customers, once per campaign and customer; how many were new."""
        return sum(self._enqueue(campaign_id, customer_id, deadline, now) for customer_id in customer_ids)

    def enqueue_page_approvals(
        self,
        campaign_id: int,
        page_no: int,
        *,
        deadline: datetime | None,
        now: datetime,
        eligible: int | None = None,
    ) -> int:
        """Queue approvals for the eligible customers of an ingested page (auto mode), as one row."""
        if eligible is None or self._rows.where(
            lambda r: r.kind == PROMOTION_STATUS and r.campaign_id == campaign_id
        ):
            eligible = len(self._page_customers(campaign_id, page_no, after=None))
        if eligible <= 0:
            return 0
        row = OutboxRow(
            id=self._rows.table.next_id(),
            kind=PAGE_APPROVALS,
            campaign_id=campaign_id,
            customer_id=page_approvals_key(page_no),
            status=True,
            deadline=deadline,
            created_at=now,
            available_at=now,
            page_no=page_no,
            customers=eligible,
            customers_sent=0,
        )
        return eligible if self._rows.insert(self._key(row), row) else 0

    def _page_customers(self, campaign_id: int, page_no: int | None, *, after: str | None) -> list[str]:
        """The page's eligible customers after `after`, in customer id order, but for those with a
        status row of their own."""
        return sorted(
            r.customer_id
            for r in self._audience.where(
                lambda r: (
                    r.campaign_id == campaign_id
                    and r.page_no == page_no
                    and r.eligible
                    and (after is None or r.customer_id > after)
                    and self._rows.get((PROMOTION_STATUS, campaign_id, r.customer_id)) is None
                )
            )
        )

    def _enqueue(self, campaign_id: int, customer_id: str, deadline: datetime | None, now: datetime) -> bool:
        row = OutboxRow(
            id=self._rows.table.next_id(),
            kind=PROMOTION_STATUS,
            campaign_id=campaign_id,
            customer_id=customer_id,
            status=True,
            deadline=deadline,
            created_at=now,
            available_at=now,
        )
        return self._rows.insert(self._key(row), row)

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
        """Lease up to `limit` due rows of the most urgent campaign that is not held; None when
        nothing is due. `approvals_paused` leaves auto campaigns' approvals waiting; `linger` and
        `approvals_linger` (auto campaigns still ingesting) wait for a full batch or old rows.

        As in SQL, the most urgent campaign is chosen among those with due rows whoever holds them,
        and only then are rows locked by another relay skipped: that campaign's batch may be empty.
        """
        due = [row for row in self._rows.rows() if row.claimable(now)]

        def must_fill(campaign: CampaignRow) -> bool:
            """A linger applies to the campaign and none of its due rows is that old."""
            rows = [row for row in due if row.campaign_id == campaign.id]
            ingesting = campaign.state == CampaignState.INGESTING and campaign.mode == CampaignMode.AUTO
            waits = [linger, approvals_linger if ingesting else timedelta(0)]
            return any(
                wait > timedelta(0) and not any(row.created_at <= now - wait for row in rows)
                for wait in waits
            )

        def ready(campaign: CampaignRow) -> bool:
            if campaign.hold is not None or (approvals_paused and campaign.mode == CampaignMode.AUTO):
                return False
            rows = [row for row in due if row.campaign_id == campaign.id]
            if not rows:
                return False
            return not must_fill(campaign) or sum(r.stands_for for r in rows) >= limit

        candidates = [campaign for campaign in self._campaigns.rows() if ready(campaign)]
        if not candidates:
            return None
        head = min(candidates, key=lambda c: (nulls_last(c.clearance_required_by), c.id))
        kind = next(row.kind for row in due if row.campaign_id == head.id)
        if kind == PAGE_APPROVALS:
            self._split_off(
                lambda r: (
                    r.campaign_id == head.id
                    and r.kind == PAGE_APPROVALS
                    and r.pending
                    and r.lease_id is not None
                    and r.lease_until is not None
                    and r.lease_until < now
                ),
                available_at=now,
                send_count=1,
                error=None,
            )
            due = [row for row in self._rows.rows() if row.claimable(now)]
            if not any(r.campaign_id == head.id and r.kind == PROMOTION_STATUS for r in due):
                return self._claim_pages(
                    head.id, due, now=now, limit=limit, lease=lease, fill=must_fill(head)
                )
            kind = PROMOTION_STATUS
        batch = sorted(
            (
                row
                for row in due
                if row.campaign_id == head.id
                and row.kind == kind
                and not self._rows.locked_elsewhere(self._key(row))  # SKIP LOCKED
            ),
            key=lambda row: row.id,
        )[: max(limit, 0)]
        if not batch:
            return None
        lease_id = str(uuid.uuid4())
        leased = []
        for row in batch:
            # A row still carrying an (expired) lease was in flight when its relay died: a re-send.
            resend = 1 if row.lease_id is not None else 0
            moved = replace(
                row,
                lease_id=lease_id,
                lease_until=now + lease,
                attempts=row.attempts + 1,
                send_count=row.send_count + resend,
            )
            self._rows.update(self._key(row), moved)
            leased.append(moved)
        return ClaimedBatch(
            lease_id=lease_id,
            campaign_id=head.id,
            kind=kind,
            deadline=leased[0].deadline,
            customers=[(row.customer_id, row.status) for row in leased],
            previously_sent=sum(1 for row in leased if row.send_count > 0),
            resent_customers=frozenset(row.customer_id for row in leased if row.send_count > 0),
            attempt=max(row.attempts for row in leased),
        )

    def mark_sent(self, batch: ClaimedBatch, *, now: datetime, call_id: int | None = None) -> int:
        """Mark the leased rows sent (by status call `call_id`); how many customers still held the lease."""
        if batch.pages:
            held = self._leased(batch)
            for row in held:
                left = (row.customers or 0) - (row.lease_customers or 0)
                self._rows.update(
                    self._key(row),
                    replace(
                        row,
                        sent_through=row.lease_through,
                        customers=left,
                        customers_sent=(row.customers_sent or 0) + (row.lease_customers or 0),
                        sent_at=now if left <= 0 else None,
                        lease_id=None,
                        lease_until=None,
                        lease_through=None,
                        lease_customers=None,
                        last_error=None,
                        last_call_id=call_id,
                    ),
                )
            ids = {row.id for row in held}
            return sum(page.customers for page in batch.pages if page.row_id in ids)
        return self._change_leased(
            batch,
            lambda row: replace(
                row,
                sent_at=now,
                lease_id=None,
                lease_until=None,
                send_count=row.send_count + 1,
                last_error=None,
                last_call_id=call_id,
            ),
        )

    def release_for_retry(
        self, batch: ClaimedBatch, *, available_at: datetime, error: str, maybe_applied: bool
    ) -> int:
        """Give the leased rows back for a retry at `available_at`; count it if it may have landed."""
        if batch.pages:
            if maybe_applied:
                return self._split_off(
                    self._is_leased(batch), available_at=available_at, send_count=1, error=error
                )
            held = self._leased(batch)
            self._change_leased(
                batch,
                lambda row: replace(
                    row,
                    lease_id=None,
                    lease_until=None,
                    lease_through=None,
                    lease_customers=None,
                    available_at=available_at,
                    last_error=error[:MAX_ERROR_CHARS],
                ),
            )
            ids = {row.id for row in held}
            return sum(page.customers for page in batch.pages if page.row_id in ids)
        return self._change_leased(
            batch,
            lambda row: replace(
                row,
                lease_id=None,
                lease_until=None,
                available_at=available_at,
                last_error=error[:MAX_ERROR_CHARS],
                send_count=row.send_count + (1 if maybe_applied else 0),
            ),
        )

    def mark_dead(self, batch: ClaimedBatch, *, now: datetime, error: str) -> int:
        """Give up on the leased rows (permanent error or too many attempts); they stay visible."""
        if batch.pages:
            dead = self._split_off(
                self._is_leased(batch), available_at=now, send_count=0, error=error, dead_at=now
            )
            self._count_dead(batch.campaign_id, dead)
            return dead
        dead = self._change_leased(
            batch,
            lambda row: replace(
                row, dead_at=now, lease_id=None, lease_until=None, last_error=error[:MAX_ERROR_CHARS]
            ),
        )
        self._count_dead(batch.campaign_id, dead)
        return dead

    def _count_dead(self, campaign_id: int, rows: int) -> None:
        campaign = self._campaigns.get(campaign_id)
        if rows and campaign is not None:
            self._campaigns.update(campaign_id, replace(campaign, dead_count=campaign.dead_count + rows))

    def attempts_of(self, batch: ClaimedBatch) -> int:
        """The highest attempt count among the leased rows."""
        return max((row.attempts for row in self._leased(batch)), default=0)

    def cancel_campaign(self, campaign_id: int, *, now: datetime, reason: str) -> int:
        """Stop every pending row of a campaign."""
        stopped = self._rows.where(lambda r: r.campaign_id == campaign_id and r.pending)
        for row in stopped:
            self._rows.update(
                self._key(row),
                replace(
                    row,
                    dead_at=now,
                    lease_id=None,
                    lease_until=None,
                    lease_through=None,
                    lease_customers=None,
                    last_error=reason,
                ),
            )
        customers = sum(row.stands_for for row in stopped)
        self._count_dead(campaign_id, customers)
        return customers

    def stats(self, campaign_id: int | None = None) -> OutboxStats:
        """Pending, sent, dead and re-sent rows, and the oldest pending one."""
        rows = self._rows.where(lambda r: campaign_id is None or r.campaign_id == campaign_id)
        pending = [row for row in rows if row.pending]
        return OutboxStats(
            pending=sum(row.stands_for for row in pending),
            sent=sum(
                (row.customers_sent or 0) if row.kind == PAGE_APPROVALS else int(row.sent_at is not None)
                for row in rows
            ),
            dead=sum(row.stands_for for row in rows if row.dead_at is not None),
            resent=sum(1 for row in rows if row.send_count > 1),
            oldest_pending_at=min((row.created_at for row in pending), default=None),
        )

    def backlog(self, campaign_id: int) -> tuple[int, datetime | None]:
        """Rows of the campaign waiting to be sent, and when the oldest of them was queued."""
        waiting = self._rows.where(lambda r: r.campaign_id == campaign_id and r.pending)
        return sum(r.stands_for for r in waiting), min((r.created_at for r in waiting), default=None)

    def pending_count(self, campaign_id: int) -> int:
        """Customers of the campaign whose approval is not yet sent nor dead."""
        return sum(
            r.stands_for for r in self._rows.where(lambda r: r.campaign_id == campaign_id and r.pending)
        )

    def _claim_pages(
        self,
        campaign_id: int,
        due: list[OutboxRow],
        *,
        now: datetime,
        limit: int,
        lease: timedelta,
        fill: bool,
    ) -> ClaimedBatch | None:
        rows = sorted(
            (
                row
                for row in due
                if row.campaign_id == campaign_id
                and row.kind == PAGE_APPROVALS
                and not self._rows.locked_elsewhere(self._key(row))  # SKIP LOCKED
            ),
            key=lambda row: row.id,
        )[:MAX_PAGES_PER_BATCH]
        lease_id = str(uuid.uuid4())
        room = limit
        customers: list[tuple[str, bool]] = []
        pages: list[PageRange] = []
        deadline = None
        attempt = 1
        changes: list[tuple[OutboxKey, OutboxRow]] = []  # made only if the batch goes
        for row in rows:
            if room <= 0:
                break
            wanted = min(row.customers or 0, room)
            ids = self._page_customers(campaign_id, row.page_no, after=row.sent_through)[:wanted]
            if not ids:
                changes.append((self._key(row), replace(row, customers=0, sent_at=now)))
                continue
            changes.append(
                (
                    self._key(row),
                    replace(
                        row,
                        lease_id=lease_id,
                        lease_until=now + lease,
                        attempts=row.attempts + 1,
                        lease_through=ids[-1],
                        lease_customers=len(ids),
                        customers=len(ids) if len(ids) < wanted else row.customers,
                    ),
                )
            )
            pages.append(PageRange(row.id, len(ids)))
            customers.extend((customer_id, True) for customer_id in ids)
            deadline = deadline or row.deadline
            attempt = max(attempt, row.attempts + 1)
            room -= len(ids)
        if fill and room > 0:  # as SQL's savepoint: fewer than a full batch leases nothing
            return None
        for key, changed in changes:
            self._rows.update(key, changed)
        if not pages:
            return None
        return ClaimedBatch(
            lease_id=lease_id,
            campaign_id=campaign_id,
            kind=PAGE_APPROVALS,
            deadline=deadline,
            customers=customers,
            previously_sent=0,
            pages=tuple(pages),
            attempt=attempt,
        )

    def _split_off(
        self,
        which: Callable[[OutboxRow], bool],
        *,
        available_at: datetime,
        send_count: int,
        error: str | None,
        dead_at: datetime | None = None,
    ) -> int:
        """Turn the leased range of each page approvals row in `which` into rows of single customers."""
        moved = 0
        for page in self._rows.where(lambda r: which(r) and r.lease_through is not None):
            lease_through = page.lease_through
            assert lease_through is not None
            for customer_id in self._page_customers(page.campaign_id, page.page_no, after=page.sent_through):
                if customer_id > lease_through:
                    break
                row = OutboxRow(
                    id=self._rows.table.next_id(),
                    kind=PROMOTION_STATUS,
                    campaign_id=page.campaign_id,
                    customer_id=customer_id,
                    status=True,
                    deadline=page.deadline,
                    created_at=page.created_at,
                    available_at=available_at,
                    attempts=page.attempts,
                    send_count=send_count,
                    dead_at=dead_at,
                    last_error=None if error is None else error[:MAX_ERROR_CHARS],
                )
                moved += self._rows.insert(self._key(row), row)
            left = (page.customers or 0) - (page.lease_customers or 0)
            self._rows.update(
                self._key(page),
                replace(
                    page,
                    sent_through=lease_through,
                    customers=left,
                    sent_at=available_at if left <= 0 else None,
                    lease_id=None,
                    lease_until=None,
                    lease_through=None,
                    lease_customers=None,
                    available_at=available_at,
                    last_error=page.last_error if error is None else error[:MAX_ERROR_CHARS],
                ),
            )
        return moved

    @staticmethod
    def _is_leased(batch: ClaimedBatch) -> Callable[[OutboxRow], bool]:
        return lambda r: r.campaign_id == batch.campaign_id and r.lease_id == batch.lease_id and r.pending

    def _leased(self, batch: ClaimedBatch) -> list[OutboxRow]:
        # The lease id is the fencing token: a relay whose rows were leased again changes nothing.
        return self._rows.where(
            lambda r: r.campaign_id == batch.campaign_id and r.lease_id == batch.lease_id and r.pending
        )

    def _change_leased(self, batch: ClaimedBatch, change: Callable[[OutboxRow], OutboxRow]) -> int:
        leased = self._leased(batch)
        for row in leased:
            self._rows.update(self._key(row), change(row))
        return len(leased)

    @staticmethod
    def _key(row: OutboxRow) -> OutboxKey:
        return (row.kind, row.campaign_id, row.customer_id)
