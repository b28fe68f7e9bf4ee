"""Campaign rows and their pages: state changes are conditional updates guarded by the state."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select, update

from app.adapters.db.dialect import (
    insert_ignoring_conflicts,
    lock_for_update,
    lock_rows_skip_locked,
    smallest_of,
)
from app.adapters.db.tables import campaign_pages, campaigns
from app.clock import as_utc
from app.domain.campaigns import (
    PAGE_DONE,
    PAGE_PENDING,
    Campaign,
    CampaignMode,
    CampaignState,
    NewCampaign,
)

LIVE_STATES = frozenset({CampaignState.INGESTING, CampaignState.APPROVING, CampaignState.READY})
MAX_ERROR_CHARS = 2000


def _campaign(row: Any) -> Campaign:
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
        dead_count=row["dead_count"],
        hold=row["hold"],
        mode_from=row["mode_from"],
        promo_code=row["promo_code"],
        rewards_reserved=row["rewards_reserved"],
        amount_reserved=Decimal(row["amount_reserved"]),
    )


class SqlCampaigns:
    """The campaign repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, campaign_id: int, *, lock: bool = False) -> Campaign | None:
        """One campaign; `lock` holds its row until the transaction ends."""
        query = select(campaigns).where(campaigns.c.id == campaign_id)
        if lock:
            query = lock_for_update(self._conn, query)
        row = self._conn.execute(query).mappings().first()
        return None if row is None else _campaign(row)

    def add(self, campaign: NewCampaign, *, now: datetime) -> bool:
        """Create the campaign; False when it already exists."""
        statement = insert_ignoring_conflicts(self._conn, campaigns, ["id"]).values(
            id=campaign.id,
            kind=campaign.kind,
            mode=campaign.mode.value,
            state=campaign.state.value,
            clearance_required_by=campaign.clearance_required_by,
            event_timestamp=campaign.event_timestamp,
            page_size=campaign.page_size,
            created_at=now,
            updated_at=now,
            ingest_started_at=now,
            # Left out when unknown, so that a database still before 0007 takes the insert.
            **({"mode_from": campaign.mode_from} if campaign.mode_from is not None else {}),
        )
        return self._conn.execute(statement).rowcount == 1

    def recent(self, *, limit: int = 50) -> list[Campaign]:
        """The most recent campaigns first."""
        query = select(campaigns).order_by(campaigns.c.created_at.desc()).limit(limit)
        return [_campaign(row) for row in self._conn.execute(query).mappings()]

    def in_states(self, states: frozenset[CampaignState]) -> list[Campaign]:
        """Campaigns in any of `states`, earliest deadline first."""
        query = (
            select(campaigns)
            .where(campaigns.c.state.in_([s.value for s in states]))
            .order_by(campaigns.c.clearance_required_by)
        )
        return [_campaign(row) for row in self._conn.execute(query).mappings()]

    def _move(
        self, campaign_id: int, sources: frozenset[CampaignState], target: CampaignState, **values: Any
    ) -> bool:
        result = self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.state.in_([s.value for s in sources]))
            .values(state=target.value, **values)
        )
        return result.rowcount == 1

    def finish_ingest(self, campaign_id: int, target: CampaignState, *, now: datetime) -> bool:
        """An ingesting campaign is ingested: ready (claim), approving or approved (auto)."""
        extra = {"approvals_finished_at": now} if target == CampaignState.APPROVED else {}
        return self._move(
            campaign_id,
            frozenset({CampaignState.INGESTING}),
            target,
            updated_at=now,
            ingest_finished_at=now,
            **extra,
        )

    def finish_approvals(self, campaign_id: int, *, now: datetime) -> bool:
        """An approving campaign has sent every approval."""
        return self._move(
            campaign_id,
            frozenset({CampaignState.APPROVING}),
            CampaignState.APPROVED,
            updated_at=now,
            approvals_finished_at=now,
        )

    def cancel(self, campaign_id: int, *, now: datetime) -> bool:
        """A live campaign (ingesting, approving, ready) is canceled."""
        return self._move(campaign_id, LIVE_STATES, CampaignState.CANCELED, updated_at=now)

    def fail_ingest(self, campaign_id: int, *, error: str, now: datetime) -> bool:
        """An ingesting campaign failed, with the reason."""
        return self._move(
            campaign_id,
            frozenset({CampaignState.INGESTING}),
            CampaignState.FAILED,
            updated_at=now,
            error=error[:MAX_ERROR_CHARS],
        )

    def add_page_counters(
        self,
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
            values["last_page"] = smallest_of(
                self._conn, func.coalesce(campaigns.c.last_page, last_page), last_page
            )
        self._conn.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(**values))

    def add_approvals_sent(self, campaign_id: int, *, customers: int, resent: int, now: datetime) -> None:
        """Count one accepted UpdateCustomerPromotionStatus call."""
        self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(
                approved_count=campaigns.c.approved_count + customers,
                approval_calls=campaigns.c.approval_calls + 1,
                resent_count=campaigns.c.resent_count + resent,
                updated_at=now,
            )
        )

    def record_error(self, campaign_id: int, error: str, *, now: datetime) -> None:
        """Keep the latest error seen while working on the campaign."""
        self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id)
            .values(error=error[:MAX_ERROR_CHARS], updated_at=now)
        )

    def hold(self, campaign_id: int, reason: str, *, now: datetime) -> bool:
        """Hold a live campaign that is not held yet (no approval, validation or activation for it)."""
        result = self._conn.execute(
            update(campaigns)
            .where(
                campaigns.c.id == campaign_id,
                campaigns.c.hold.is_(None),
                campaigns.c.state.in_([s.value for s in LIVE_STATES]),
            )
            .values(hold=reason[:MAX_ERROR_CHARS], updated_at=now)
        )
        return result.rowcount == 1

    def release(self, campaign_id: int, *, now: datetime) -> bool:
        """Release a held campaign; False when it was not held."""
        result = self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.hold.is_not(None))
            .values(hold=None, updated_at=now)
        )
        return result.rowcount == 1

    def settle_first_page(
        self, campaign_id: int, *, mode: CampaignMode, mode_from: str, promo_code: str | None, now: datetime
    ) -> bool:
        """At its first pages: record the campaign's promo code (if none yet) and fix its mode (if
        not settled yet); False when both were there already."""
        result = self._conn.execute(
            update(campaigns)
            .where(
                campaigns.c.id == campaign_id,
                or_(campaigns.c.mode_from.is_(None), campaigns.c.promo_code.is_(None)),
            )
            .values(
                mode=case((campaigns.c.mode_from.is_(None), mode.value), else_=campaigns.c.mode),
                mode_from=func.coalesce(campaigns.c.mode_from, mode_from),
                promo_code=func.coalesce(campaigns.c.promo_code, promo_code),
                updated_at=now,
            )
        )
        return result.rowcount == 1

    def change_mode(self, campaign_id: int, mode: CampaignMode, *, mode_from: str, now: datetime) -> bool:
        """Change an ingesting campaign's mode (the caller checked nothing was approved or claimed)."""
        result = self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.state == CampaignState.INGESTING.value)
            .values(mode=mode.value, mode_from=mode_from, updated_at=now)
        )
        return result.rowcount == 1

    def mark_at_risk(self, campaign_id: int, *, now: datetime) -> bool:
        """Flag the campaign as at risk of missing its deadline; True the first time."""
        result = self._conn.execute(
            update(campaigns)
            .where(campaigns.c.id == campaign_id, campaigns.c.at_risk_since.is_(None))
            .values(at_risk_since=now, updated_at=now)
        )
        return result.rowcount == 1


class SqlPages:
    """A scheduled campaign's audience pages (see ``app.services.unit_of_work.PageRepository``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, campaign_id: int, page_numbers: Iterable[int], *, now: datetime) -> list[int]:
        """Create the pages that do not exist yet, marked dispatched now; the new page numbers."""
        created = []
        for page_no in page_numbers:
            statement = insert_ignoring_conflicts(
                self._conn, campaign_pages, ["campaign_id", "page_no"]
            ).values(
                campaign_id=campaign_id,
                page_no=page_no,
                state=PAGE_PENDING,
                dispatched_at=now,
                dispatch_count=1,
            )
            if self._conn.execute(statement).rowcount == 1:
                created.append(page_no)
        return created

    def state(self, campaign_id: int, page_no: int) -> str | None:
        """The page's state, or None when it was never created."""
        query = select(campaign_pages.c.state).where(
            campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no
        )
        return self._conn.execute(query).scalar_one_or_none()

    def claim(
        self, campaign_id: int, page_no: int, *, row_count: int, first_customer_id: str | None, now: datetime
    ) -> bool:
        """Mark a pending page done; False when it was done already (a redelivered task)."""
        result = self._conn.execute(
            update(campaign_pages)
            .where(
                campaign_pages.c.campaign_id == campaign_id,
                campaign_pages.c.page_no == page_no,
                campaign_pages.c.state == PAGE_PENDING,
            )
            .values(
                state=PAGE_DONE,
                row_count=row_count,
                first_customer_id=first_customer_id,
                done_at=now,
                error=None,
            )
        )
        return result.rowcount == 1

    def repeats_another_page(self, campaign_id: int, page_no: int, first_customer_id: str) -> bool:
        """Whether another page of the campaign started with the same customer (`$skip` ignored)."""
        query = (
            select(campaign_pages.c.page_no)
            .where(
                campaign_pages.c.campaign_id == campaign_id,
                campaign_pages.c.page_no != page_no,
                campaign_pages.c.first_customer_id == first_customer_id,
            )
            .limit(1)
        )
        return self._conn.execute(query).first() is not None

    def count_done_through(self, campaign_id: int, last_page: int) -> int:
        """How many of pages 0..last_page are done."""
        query = select(func.count()).where(
            campaign_pages.c.campaign_id == campaign_id,
            campaign_pages.c.page_no <= last_page,
            campaign_pages.c.state == PAGE_DONE,
        )
        return int(self._conn.execute(query).scalar_one())

    def record_error(self, campaign_id: int, page_no: int, error: str) -> None:
        """Keep the last error seen for a page (it stays pending and is retried)."""
        self._conn.execute(
            update(campaign_pages)
            .where(campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no)
            .values(error=error[:MAX_ERROR_CHARS])
        )

    def claim_stale(self, *, now: datetime, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
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
        pages = [
            (row[0], row[1])
            for row in self._conn.execute(lock_rows_skip_locked(self._conn, query, of=campaign_pages))
        ]
        for campaign_id, page_no in pages:
            self._conn.execute(
                update(campaign_pages)
                .where(and_(campaign_pages.c.campaign_id == campaign_id, campaign_pages.c.page_no == page_no))
                .values(dispatched_at=now, dispatch_count=campaign_pages.c.dispatch_count + 1)
            )
        return pages
