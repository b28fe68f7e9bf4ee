"""Campaign rows and their pages: state transitions are conditional updates guarded by the state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, or_, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts, is_postgres
from app.adapters.db.tables import campaign_pages, campaigns
from app.clock import as_utc
from app.domain.campaigns import CampaignMode, CampaignState

KIND_SCHEDULED = "scheduled"
KIND_TRIGGERED = "triggered"
PAGE_PENDING = "pending"
PAGE_DONE = "done"


@dataclass(frozen=True, slots=True)
class Campaign:
    """A scheduled campaign as stored."""

    id: int
    kind: str  # "scheduled" (EventTypeID 5) or "triggered" (the gateway)
    mode: CampaignMode
    state: CampaignState
    clearance_required_by: datetime | None
    page_size: int
    last_page: int | None
    rows_ingested: int
    eligible_count: int
    scrubbed_count: int
    approved_count: int
    approval_calls: int
    resent_count: int
    pages_done: int
    at_risk_since: datetime | None
    created_at: datetime
    ingest_started_at: datetime | None
    ingest_finished_at: datetime | None
    approvals_finished_at: datetime | None
    error: str | None


def _campaign_from_row(row: Any) -> Campaign:
    return Campaign(
        id=row["id"],
        kind=row["kind"],
        mode=CampaignMode(row["mode"]),
        state=CampaignState(row["state"]),
        clearance_required_by=as_utc(row["clearance_required_by"]),
        page_size=row["page_size"],
        last_page=row["last_page"],
        rows_ingested=row["rows_ingested"],
        eligible_count=row["eligible_count"],
        scrubbed_count=row["scrubbed_count"],
        approved_count=row["approved_count"],
        approval_calls=row["approval_calls"],
        resent_count=row["resent_count"],
        pages_done=row["pages_done"],
        at_risk_since=as_utc(row["at_risk_since"]),
        created_at=as_utc(row["created_at"]) or row["created_at"],
        ingest_started_at=as_utc(row["ingest_started_at"]),
        ingest_finished_at=as_utc(row["ingest_finished_at"]),
        approvals_finished_at=as_utc(row["approvals_finished_at"]),
        error=row["error"],
    )


def create_campaign(
    conn: Connection,
    *,
    campaign_id: int,
    mode: CampaignMode,
    clearance_required_by: datetime | None,
    event_timestamp: datetime | None,
    page_size: int,
    now: datetime,
    kind: str = KIND_SCHEDULED,
    state: CampaignState = CampaignState.INGESTING,
) -> bool:
    """Create the campaign (scheduled ones start ingesting); False when it already exists."""
    statement = insert_ignoring_conflicts(conn, campaigns, ["id"]).values(
        id=campaign_id,
        kind=kind,
        mode=mode.value,
        state=state.value,
        clearance_required_by=clearance_required_by,
        event_timestamp=event_timestamp,
        page_size=page_size,
        created_at=now,
        updated_at=now,
        ingest_started_at=now,
    )
    return conn.execute(statement).rowcount == 1


def get_campaign(conn: Connection, campaign_id: int, *, for_update: bool = False) -> Campaign | None:
    """Read a campaign (optionally locking its row until the transaction ends)."""
    query = select(campaigns).where(campaigns.c.id == campaign_id)
    if for_update and is_postgres(conn):
        query = query.with_for_update()
    row = conn.execute(query).mappings().first()
    return None if row is None else _campaign_from_row(row)


def list_campaigns(conn: Connection, *, limit: int = 50) -> list[Campaign]:
    """The most recent campaigns first."""
    rows = conn.execute(select(campaigns).order_by(campaigns.c.created_at.desc()).limit(limit)).mappings()
    return [_campaign_from_row(row) for row in rows]


def transition(
    conn: Connection,
    campaign_id: int,
    *,
    from_states: frozenset[CampaignState],
    to_state: CampaignState,
    now: datetime,
    **values: Any,
) -> bool:
    """Move the campaign to `to_state` only if it is in one of `from_states`."""
    result = conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.state.in_([s.value for s in from_states]))
        .values(state=to_state.value, updated_at=now, **values)
    )
    return result.rowcount == 1


def add_page_counters(
    conn: Connection,
    campaign_id: int,
    *,
    rows: int,
    eligible: int,
    scrubbed: int,
    last_page: int | None,
    now: datetime,
) -> None:
    """Add one finished page to the campaign's counters (and note the last page when it was short)."""
    values: dict[str, Any] = {
        "rows_ingested": campaigns.c.rows_ingested + rows,
        "eligible_count": campaigns.c.eligible_count + eligible,
        "scrubbed_count": campaigns.c.scrubbed_count + scrubbed,
        "pages_done": campaigns.c.pages_done + 1,
        "updated_at": now,
    }
    if last_page is not None:
        # The first short page is the last one; keep the smallest page number seen short.
        current = func.coalesce(campaigns.c.last_page, last_page)
        values["last_page"] = (
            func.least(current, last_page) if is_postgres(conn) else func.min(current, last_page)
        )
    conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))


def add_approvals_sent(
    conn: Connection, campaign_id: int, *, customers: int, resent: int, now: datetime
) -> None:
    """Count one accepted UpdateCustomerPromotionStatus call."""
    conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(
            approved_count=campaigns.c.approved_count + customers,
            approval_calls=campaigns.c.approval_calls + 1,
            resent_count=campaigns.c.resent_count + resent,
            updated_at=now,
        )
    )


def set_error(conn: Connection, campaign_id: int, error: str, *, now: datetime) -> None:
    """Record the latest error seen while working on the campaign."""
    conn.execute(
        update(campaigns).where(campaigns.c.id == campaign_id).values(error=error[:2000], updated_at=now)
    )


def mark_at_risk(conn: Connection, campaign_id: int, *, now: datetime) -> bool:
    """Flag the campaign as at risk of missing its deadline; True the first time."""
    result = conn.execute(
        update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.at_risk_since.is_(None))
        .values(at_risk_since=now, updated_at=now)
    )
    return result.rowcount == 1


def active_campaigns(conn: Connection, states: frozenset[CampaignState]) -> list[Campaign]:
    """Campaigns in any of `states`, earliest deadline first."""
    rows = conn.execute(
        select(campaigns)
        .where(campaigns.c.state.in_([s.value for s in states]))
        .order_by(campaigns.c.clearance_required_by)
    ).mappings()
    return [_campaign_from_row(row) for row in rows]


# Pages ---------------------------------------------------------------------------------------------


def create_pages(conn: Connection, campaign_id: int, page_numbers: range, *, now: datetime) -> list[int]:
    """Create the pages that do not exist yet, marked dispatched now; returns the new page numbers."""
    created = []
    for page_no in page_numbers:
        statement = insert_ignoring_conflicts(conn, campaign_pages, ["campaign_id", "page_no"]).values(
            campaign_id=campaign_id, page_no=page_no, state=PAGE_PENDING, dispatched_at=now, dispatch_count=1
        )
        if conn.execute(statement).rowcount == 1:
            created.append(page_no)
    return created


def claim_page(
    conn: Connection,
    campaign_id: int,
    page_no: int,
    *,
    row_count: int,
    first_customer_id: str | None,
    now: datetime,
) -> bool:
    """Mark a pending page done; False when it was already done (a redelivered task)."""
    result = conn.execute(
        update(campaign_pages)
        .where(
            campaign_pages.c.campaign_id == campaign_id,
            campaign_pages.c.page_no == page_no,
            campaign_pages.c.state == PAGE_PENDING,
        )
        .values(
            state=PAGE_DONE, row_count=row_count, first_customer_id=first_customer_id, done_at=now, error=None
        )
    )
    return result.rowcount == 1


def page_state(conn: Connection, campaign_id: int, page_no: int) -> str | None:
    """The page's state, or None when it was never created."""
    return conn.execute(
        select(campaign_pages.c.state).where(
            campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no
        )
    ).scalar_one_or_none()


def first_customer_of_page(conn: Connection, campaign_id: int, page_no: int) -> str | None:
    """The first CustomerID a finished page held (to detect a server that ignores $skip)."""
    return conn.execute(
        select(campaign_pages.c.first_customer_id).where(
            campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no
        )
    ).scalar_one_or_none()


def count_done_pages_through(conn: Connection, campaign_id: int, last_page: int) -> int:
    """How many of pages 0..last_page are done."""
    return int(
        conn.execute(
            select(func.count()).where(
                campaign_pages.c.campaign_id == campaign_id,
                campaign_pages.c.page_no <= last_page,
                campaign_pages.c.state == PAGE_DONE,
            )
        ).scalar_one()
    )


def set_page_error(conn: Connection, campaign_id: int, page_no: int, error: str) -> None:
    """Keep the last error seen for a page (the page stays pending and is retried)."""
    conn.execute(
        update(campaign_pages)
        .where(campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no)
        .values(error=error[:2000])
    )


def claim_stale_pages(
    conn: Connection, *, now: datetime, stale_before: datetime, limit: int
) -> list[tuple[int, int]]:
    """Pending pages of ingesting campaigns whose task looks lost; marked dispatched again now."""
    query = (
        select(campaign_pages.c.campaign_id, campaign_pages.c.page_no)
        .join(campaigns, campaigns.c.id == campaign_pages.c.campaign_id)
        .where(
            campaign_pages.c.state == PAGE_PENDING,
            campaigns.c.state == CampaignState.INGESTING.value,
            or_(campaign_pages.c.dispatched_at.is_(None), campaign_pages.c.dispatched_at < stale_before),
        )
        .order_by(campaigns.c.clearance_required_by, campaign_pages.c.page_no)
        .limit(limit)
    )
    if is_postgres(conn):
        query = query.with_for_update(of=campaign_pages, skip_locked=True)
    pages = [(row[0], row[1]) for row in conn.execute(query)]
    for campaign_id, page_no in pages:
        conn.execute(
            update(campaign_pages)
            .where(and_(campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no))
            .values(dispatched_at=now, dispatch_count=campaign_pages.c.dispatch_count + 1)
        )
    return pages
