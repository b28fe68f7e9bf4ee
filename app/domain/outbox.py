"""The outbox: status updates waiting to reach Optimove, leased in batches (framework-free)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from app.domain.id_column import IdColumn
from app.domain.optimove import PromoStatus, SameStatus

PROMOTION_STATUS = "promotion_status"  # one row per customer
# One row per ingested page of an auto campaign: its eligible customers, sent in customer id order.
PAGE_APPROVALS = "page_approvals"


def page_approvals_key(page_no: int) -> str:
    """The customer_id column of a page's approvals row (the outbox's unique key takes it once)."""
    return f"page:{page_no}"


@dataclass(frozen=True, slots=True)
class PageRange:
    """The next customers of one page's approvals row that a leased batch carries."""

    row_id: int
    customers: int


class ApprovedCustomers(IdColumn[tuple[str, bool]]):
    """The (customer id, True) pairs of a page batch, held as the column of the ids.

    A batch of 10,000 approvals then holds no tuple per customer; they are made only when read.
    """

    __slots__ = ()

    def entry(self, customer_id: str) -> tuple[str, bool]:
        """A page approval: the customer, approved."""
        return (customer_id, True)

    def with_ids(self, customer_ids: Sequence[str]) -> ApprovedCustomers:
        """The approvals of other customers."""
        return ApprovedCustomers(customer_ids)


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """Rows of one campaign leased to one relay for one call."""

    lease_id: str
    campaign_id: int
    kind: str
    deadline: datetime | None
    customers: Sequence[tuple[str, bool]]  # (customer id, status); ApprovedCustomers for page batches
    previously_sent: int  # rows of this batch that an earlier, ambiguous call may already have applied
    # Set when the batch is made of page approvals: which rows, and how many customers of each.
    pages: tuple[PageRange, ...] = ()
    # Which customers those are, and the highest attempt among the rows (for the customers' trail).
    resent_customers: frozenset[str] = frozenset()
    attempt: int = 1

    def statuses(self) -> Sequence[PromoStatus]:
        """The entries of the status call that carries this batch (a page batch's stay one column)."""
        if isinstance(self.customers, ApprovedCustomers):
            return SameStatus(self.customers.customer_ids, True)
        return [PromoStatus(customer_id, status) for customer_id, status in self.customers]


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Where a campaign's (or every campaign's) outbox rows are."""

    pending: int
    sent: int
    dead: int
    resent: int
    oldest_pending_at: datetime | None
