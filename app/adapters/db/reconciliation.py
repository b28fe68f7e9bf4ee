"""A campaign's grants, statuses and claims set against each other, in SQL (``promobridge reconcile``).

Every read is a join or a count the database runs, so a campaign of a million customers costs the
caller a handful of rows, whatever its size. A grant is an activation record (joined to its claim
for the campaign) or, where a claim has none, a wallet credit; a status is the campaign's outbox
row for a customer (``kind = promotion_status``, which the outbox's unique key starts with, so each
read is a range of that index).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Integer,
    Subquery,
    and_,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    union_all,
    update,
)

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import activations, campaign_audience, campaigns, claims, outbox, wallet_ledger
from app.domain.claims import ClaimState
from app.domain.outbox import PAGE_APPROVALS, PROMOTION_STATUS
from app.domain.reconciliation import GrantSummary, IdSample, StatusComparison, StatusMatch

_AMOUNT_PLACES = Decimal("0.0001")  # Numeric(18, 4)
# The outbox's unique key and the columns a new status row sets (as app.adapters.db.outbox writes them).
_STATUS_KEY = ["kind", "campaign_id", "customer_id"]
_STATUS_COLUMNS = [
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


def _grant_rows(campaign_id: int) -> Subquery:
    """One row per credit: each activation record, and each wallet credit whose claim has none."""
    recorded = (
        select(
            claims.c.customer_id.label("customer_id"),
            activations.c.claim_id.label("claim_id"),
            activations.c.amount.label("amount"),
        )
        .select_from(activations.join(claims, claims.c.id == activations.c.claim_id))
        .where(claims.c.campaign_id == campaign_id)
    )
    credited_only = select(
        wallet_ledger.c.customer_id, wallet_ledger.c.claim_id, wallet_ledger.c.amount
    ).where(
        wallet_ledger.c.campaign_id == campaign_id,
        ~exists().where(activations.c.claim_id == wallet_ledger.c.claim_id),
    )
    return union_all(recorded, credited_only).subquery("grant_rows")


def _granted(campaign_id: int) -> Subquery:
    """One row per rewarded customer: how many credits, and their amount."""
    rows = _grant_rows(campaign_id)
    return (
        select(
            rows.c.customer_id,
            func.count().label("credits"),
            func.sum(rows.c.amount).label("amount"),
        )
        .group_by(rows.c.customer_id)
        .subquery("granted")
    )


def _statuses(campaign_id: int) -> Subquery:
    """One row per customer with a status: its own outbox row, or its page's approvals row (a
    customer up to the page's cursor was sent with it; past it, it waits or died with it)."""
    own = select(outbox.c.customer_id, outbox.c.sent_at, outbox.c.dead_at, outbox.c.created_at).where(
        outbox.c.kind == PROMOTION_STATUS, outbox.c.campaign_id == campaign_id
    )
    page, single = outbox.alias("page"), outbox.alias("single")
    a = campaign_audience.c
    sent = and_(page.c.sent_through.is_not(None), a.customer_id <= page.c.sent_through)
    by_page = (
        select(
            a.customer_id,
            case((sent, func.coalesce(page.c.sent_at, page.c.created_at))).label("sent_at"),
            case((sent, None), else_=page.c.dead_at).label("dead_at"),
            page.c.created_at,
        )
        .select_from(
            campaign_audience.join(
                page, and_(page.c.campaign_id == a.campaign_id, page.c.page_no == a.page_no)
            )
        )
        .where(
            page.c.kind == PAGE_APPROVALS,
            a.campaign_id == campaign_id,
            a.eligible.is_(True),
            # A customer split off the page into a row of their own is counted by that row.
            ~exists().where(
                single.c.kind == PROMOTION_STATUS,
                single.c.campaign_id == campaign_id,
                single.c.customer_id == a.customer_id,
            ),
        )
    )
    return union_all(own, by_page).subquery("statuses")


def _matched(campaign_id: int, late_before: datetime) -> Subquery:
    """(customer_id, match) for every customer with a grant or a status (two outer joins, no FULL
    JOIN: older SQLite has none)."""
    granted, statuses = _granted(campaign_id), _statuses(campaign_id)
    rewarded = select(
        granted.c.customer_id,
        case(
            (statuses.c.customer_id.is_(None), StatusMatch.MISSING.value),
            (statuses.c.sent_at.is_not(None), StatusMatch.REPORTED.value),
            (statuses.c.dead_at.is_not(None), StatusMatch.DEAD.value),
            (statuses.c.created_at < late_before, StatusMatch.LATE.value),
            else_=StatusMatch.WAITING.value,
        ).label("match"),
    ).select_from(granted.outerjoin(statuses, statuses.c.customer_id == granted.c.customer_id))
    unrewarded = (
        select(
            statuses.c.customer_id,
            case(
                (statuses.c.sent_at.is_not(None), StatusMatch.SENT_WITHOUT_REWARD.value),
                (statuses.c.dead_at.is_not(None), StatusMatch.DEAD_WITHOUT_REWARD.value),
                else_=StatusMatch.QUEUED_WITHOUT_REWARD.value,
            ).label("match"),
        )
        .select_from(statuses.outerjoin(granted, granted.c.customer_id == statuses.c.customer_id))
        .where(granted.c.customer_id.is_(None))
    )
    return union_all(rewarded, unrewarded).subquery("matched")


def _amount(value: Any) -> Decimal:
    # PostgreSQL sums Numeric into Decimal; SQLite into a float (its REAL).
    return Decimal(str(value or 0)).quantize(_AMOUNT_PLACES)


class SqlReconciliation:
    """The reconciliation repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def compare_statuses_with_grants(
        self,
        campaign_id: int,
        *,
        late_before: datetime,
        examples: int,
        examples_of: frozenset[StatusMatch],
    ) -> StatusComparison:
        """Count every customer with a grant or a status by how the two match, with a few examples.

        The examples are read only for the matches asked that have any, so a clean campaign costs
        one pass; the ranking sorts those customers alone, never the whole audience.
        """
        matched = _matched(campaign_id, late_before)
        counts = {
            StatusMatch(match): int(count)
            for match, count in self._conn.execute(
                select(matched.c.match, func.count()).group_by(matched.c.match)
            )
        }
        wanted = sorted(match.value for match in examples_of if counts.get(match))
        found: dict[StatusMatch, list[str]] = {}
        if examples > 0 and wanted:
            ranked = (
                select(
                    matched.c.match,
                    matched.c.customer_id,
                    func.row_number()
                    .over(partition_by=matched.c.match, order_by=matched.c.customer_id)
                    .label("n"),
                )
                .where(matched.c.match.in_(wanted))
                .subquery("ranked")
            )
            rows = self._conn.execute(
                select(ranked.c.match, ranked.c.customer_id)
                .where(ranked.c.n <= examples)
                .order_by(ranked.c.match, ranked.c.n)
            )
            for match, customer_id in rows:
                found.setdefault(StatusMatch(match), []).append(str(customer_id))
        return StatusComparison(counts, {match: tuple(ids) for match, ids in found.items()})

    def grant_summary(self, campaign_id: int, *, examples: int) -> GrantSummary:
        """Customers rewarded, credits and their amount, and the customers credited more than once."""
        granted = _granted(campaign_id)
        customers, credits, amount, twice = self._conn.execute(
            select(
                func.count(),
                func.coalesce(func.sum(granted.c.credits), 0),
                func.sum(granted.c.amount),
                func.count().filter(granted.c.credits > 1),
            )
        ).one()
        twice_examples = (
            list(
                self._conn.execute(
                    select(granted.c.customer_id)
                    .where(granted.c.credits > 1)
                    .order_by(granted.c.customer_id)
                    .limit(examples)
                ).scalars()
            )
            if twice and examples > 0
            else []
        )
        return GrantSummary(
            customers=int(customers),
            credits=int(credits),
            amount=_amount(amount),
            rewarded_more_than_once=IdSample(int(twice), tuple(twice_examples)),
        )

    def resent_statuses(self, campaign_id: int, *, examples: int) -> IdSample:
        """Statuses that reached Optimove in more than one call."""
        resent = and_(
            outbox.c.kind == PROMOTION_STATUS, outbox.c.campaign_id == campaign_id, outbox.c.send_count > 1
        )
        return self._sample(resent, outbox.c.customer_id, outbox.c.customer_id, examples)

    def stuck_claims(
        self, campaign_id: int, *, stale_before: datetime, now: datetime, examples: int
    ) -> IdSample:
        """Claims on their way to a grant that look abandoned: what the reconciler would dispatch again."""
        waiting = [ClaimState.PENDING.value, ClaimState.VALIDATED.value]
        stuck = and_(
            claims.c.campaign_id == campaign_id,
            or_(
                and_(
                    claims.c.state.in_(waiting),
                    or_(claims.c.dispatched_at.is_(None), claims.c.dispatched_at < stale_before),
                    claims.c.updated_at < stale_before,
                ),
                and_(claims.c.state == ClaimState.VALIDATING.value, claims.c.lease_until < now),
            ),
        )
        return self._sample(stuck, claims.c.id, claims.c.updated_at, examples)

    def queue_missing_statuses(self, campaign_id: int, *, deadline: datetime | None, now: datetime) -> int:
        """Queue Status true for every rewarded customer without any status, in one statement."""
        granted = _granted(campaign_id)
        source = select(
            literal(PROMOTION_STATUS),
            literal(campaign_id, BigInteger),
            granted.c.customer_id,
            true(),
            literal(deadline, outbox.c.deadline.type),
            literal(now, outbox.c.created_at.type),
            literal(now, outbox.c.available_at.type),
            literal(0, Integer),
            literal(0, Integer),
        ).where(
            ~exists().where(
                outbox.c.kind == PROMOTION_STATUS,
                outbox.c.campaign_id == campaign_id,
                outbox.c.customer_id == granted.c.customer_id,
            )
        )
        statement = insert_ignoring_conflicts(self._conn, outbox, _STATUS_KEY)
        return int(self._conn.execute(statement.from_select(_STATUS_COLUMNS, source)).rowcount)

    def requeue_dead_statuses(self, campaign_id: int, *, now: datetime) -> int:
        """Queue again, as new, the dead-lettered statuses of rewarded customers; the campaign's
        count of dead statuses drops by as many."""
        granted = _granted(campaign_id)
        requeued = int(
            self._conn.execute(
                update(outbox)
                .where(
                    outbox.c.kind == PROMOTION_STATUS,
                    outbox.c.campaign_id == campaign_id,
                    outbox.c.dead_at.is_not(None),
                    outbox.c.customer_id.in_(select(granted.c.customer_id)),
                )
                # A fresh row: due now, a full budget of attempts, and "queued" from now on.
                .values(
                    dead_at=None,
                    created_at=now,
                    available_at=now,
                    attempts=0,
                    lease_id=None,
                    lease_until=None,
                )
            ).rowcount
        )
        if requeued:
            self._conn.execute(
                update(campaigns)
                .where(campaigns.c.id == campaign_id)
                .values(
                    dead_count=case(
                        (campaigns.c.dead_count > requeued, campaigns.c.dead_count - requeued), else_=0
                    )
                )
            )
        return requeued

    def _sample(self, where: ColumnElement[bool], id_column: Any, order_by: Any, examples: int) -> IdSample:
        count = int(self._conn.execute(select(func.count()).where(where)).scalar_one())
        if not count or examples <= 0:
            return IdSample(count)
        ids = self._conn.execute(select(id_column).where(where).order_by(order_by).limit(examples)).scalars()
        return IdSample(count, tuple(str(i) for i in ids))
