"""The outbox: status updates waiting to reach Optimove, leased in batches (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PROMOTION_STATUS = "promotion_status"


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """Rows of one campaign leased to one relay for one call."""

    lease_id: str
    campaign_id: int
    kind: str
    deadline: datetime | None
    customers: list[tuple[str, bool]]
    previously_sent: int  # rows of this batch that an earlier, ambiguous call may already have applied
    # Which customers those are, and the highest attempt among the rows (for the customers' trail).
    resent_customers: frozenset[str] = frozenset()
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Where a campaign's (or every campaign's) outbox rows are."""

    pending: int
    sent: int
    dead: int
    resent: int
    oldest_pending_at: datetime | None
