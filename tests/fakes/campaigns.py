"""Campaigns and their pages in memory, moved by the same state guards as ``app.adapters.db.campaigns``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from datetime import datetime
from decimal import Decimal

from app.domain.campaigns import PAGE_DONE, PAGE_PENDING, Campaign, CampaignMode, CampaignState, NewCampaign
from tests.fakes.tables import Table, TableView, nulls_last

LIVE_STATES = frozenset({CampaignState.INGESTING, CampaignState.APPROVING, CampaignState.READY})
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class CampaignRow:
    """One row of the campaigns table."""

    id: int
    kind: str
    mode: CampaignMode
    state: CampaignState
    clearance_required_by: datetime | None
    event_timestamp: datetime | None
    page_size: int
    created_at: datetime
    updated_at: datetime
    ingest_started_at: datetime | None
    last_page: int | None = None
    rows_ingested: int = 0
    eligible_count: int = 0
    scrubbed_count: int = 0
    approved_count: int = 0
    approval_calls: int = 0
    resent_count: int = 0
    dead_count: int = 0
    pages_done: int = 0
    at_risk_since: datetime | None = None
    ingest_finished_at: datetime | None = None
    approvals_finished_at: datetime | None = None
    error: str | None = None
    hold: str | None = None
    mode_from: str | None = None
    promo_code: str | None = None
    rewards_reserved: int = 0
    amount_reserved: Decimal = Decimal(0)

    def to_campaign(self) -> Campaign:
        """The campaign as every layer reads it."""
        return Campaign(**{f.name: getattr(self, f.name) for f in fields(Campaign)})


@dataclass(frozen=True, slots=True)
class PageRow:
    """One row of the campaign_pages table."""

    campaign_id: int
    page_no: int
    state: str
    dispatched_at: datetime | None
    dispatch_count: int
    row_count: int | None = None
    first_customer_id: str | None = None
    done_at: datetime | None = None
    error: str | None = None


def campaigns_table() -> Table[int, CampaignRow]:
    """An empty campaigns table."""
    return Table("campaigns")


def pages_table() -> Table[tuple[int, int], PageRow]:
    """An empty campaign_pages table, keyed by (campaign, page number)."""
    return Table("campaign_pages")


class FakeCampaigns:
    """The campaign repository in memory (see ``app.services.unit_of_work.CampaignRepository``)."""

    def __init__(self, rows: TableView[int, CampaignRow]) -> None:
        self._rows = rows

    def get(self, campaign_id: int, *, lock: bool = False) -> Campaign | None:
        """One campaign; `lock` holds its row until the unit of work ends (serialises finishers)."""
        row = self._rows.get(campaign_id)
        if row is None:
            return None
        if lock:
            self._rows.lock(campaign_id)
        return row.to_campaign()

    def add(self, campaign: NewCampaign, *, now: datetime) -> bool:
        """Create the campaign; False when it already exists."""
        row = CampaignRow(
            id=campaign.id,
            kind=campaign.kind,
            mode=campaign.mode,
            state=campaign.state,
            clearance_required_by=campaign.clearance_required_by,
            event_timestamp=campaign.event_timestamp,
            page_size=campaign.page_size,
            mode_from=campaign.mode_from,
            created_at=now,
            updated_at=now,
            ingest_started_at=now,
        )
        return self._rows.insert(campaign.id, row)

    def recent(self, *, limit: int = 50) -> list[Campaign]:
        """The most recent campaigns first."""
        rows = sorted(self._rows.rows(), key=lambda r: r.created_at, reverse=True)
        return [row.to_campaign() for row in rows[: max(limit, 0)]]

    def in_states(self, states: frozenset[CampaignState]) -> list[Campaign]:
        """Campaigns in any of `states`, earliest deadline first (no deadline last, as on PostgreSQL)."""
        rows = self._rows.where(lambda r: r.state in states)
        rows.sort(key=lambda r: nulls_last(r.clearance_required_by))
        return [row.to_campaign() for row in rows]

    def finish_ingest(self, campaign_id: int, target: CampaignState, *, now: datetime) -> bool:
        """An ingesting campaign is ingested: ready (claim), approving or approved (auto)."""
        finished = {"approvals_finished_at": now} if target == CampaignState.APPROVED else {}
        return self._move(
            campaign_id,
            frozenset({CampaignState.INGESTING}),
            target,
            updated_at=now,
            ingest_finished_at=now,
            **finished,
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
        """An ingesting campaign failed (paging broken, Optimove refused), with the reason."""
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
        row = self._rows.get(campaign_id)
        if row is None:
            return
        if last_page is not None and row.last_page is not None:
            last_page = min(row.last_page, last_page)  # the first short page is the last one
        self._rows.update(
            campaign_id,
            replace(
                row,
                rows_ingested=row.rows_ingested + rows,
                eligible_count=row.eligible_count + eligible,
                scrubbed_count=row.scrubbed_count + scrubbed,
                pages_done=row.pages_done + 1,
                updated_at=now,
                last_page=row.last_page if last_page is None else last_page,
            ),
        )

    def add_approvals_sent(self, campaign_id: int, *, customers: int, resent: int, now: datetime) -> None:
        """Count one accepted UpdateCustomerPromotionStatus call."""
        row = self._rows.get(campaign_id)
        if row is not None:
            self._rows.update(
                campaign_id,
                replace(
                    row,
                    approved_count=row.approved_count + customers,
                    approval_calls=row.approval_calls + 1,
                    resent_count=row.resent_count + resent,
                    updated_at=now,
                ),
            )

    def record_error(self, campaign_id: int, error: str, *, now: datetime) -> None:
        """Keep the latest error seen while working on the campaign."""
        row = self._rows.get(campaign_id)
        if row is not None:
            self._rows.update(campaign_id, replace(row, error=error[:MAX_ERROR_CHARS], updated_at=now))

    def mark_at_risk(self, campaign_id: int, *, now: datetime) -> bool:
        """Flag the campaign as at risk of missing its deadline; True the first time."""
        row = self._rows.get(campaign_id)
        if row is None or row.at_risk_since is not None:
            return False
        self._rows.update(campaign_id, replace(row, at_risk_since=now, updated_at=now))
        return True

    def hold(self, campaign_id: int, reason: str, *, now: datetime) -> bool:
        """Hold a live campaign that is not held yet (no approval, validation or activation for it)."""
        row = self._rows.get(campaign_id)
        if row is None or row.hold is not None or row.state not in LIVE_STATES:
            return False
        self._rows.update(campaign_id, replace(row, hold=reason[:MAX_ERROR_CHARS], updated_at=now))
        return True

    def release(self, campaign_id: int, *, now: datetime) -> bool:
        """Release a held campaign; False when it was not held."""
        row = self._rows.get(campaign_id)
        if row is None or row.hold is None:
            return False
        self._rows.update(campaign_id, replace(row, hold=None, updated_at=now))
        return True

    def settle_first_page(
        self, campaign_id: int, *, mode: CampaignMode, mode_from: str, promo_code: str | None, now: datetime
    ) -> bool:
        """At its first pages: record the campaign's promo code (if none yet) and fix its mode (if
        not settled yet); False when both were there already."""
        row = self._rows.get(campaign_id)
        if row is None or (row.mode_from is not None and row.promo_code is not None):
            return False
        settled = row.mode_from is not None
        changed = replace(
            row,
            mode=row.mode if settled else mode,
            mode_from=row.mode_from if settled else mode_from,
            promo_code=row.promo_code if row.promo_code is not None else promo_code,
            updated_at=now,
        )
        self._rows.update(campaign_id, changed)
        return True

    def change_mode(self, campaign_id: int, mode: CampaignMode, *, mode_from: str, now: datetime) -> bool:
        """Change an ingesting campaign's mode (the caller checked nothing was approved or claimed)."""
        row = self._rows.get(campaign_id)
        if row is None or row.state != CampaignState.INGESTING:
            return False
        self._rows.update(campaign_id, replace(row, mode=mode, mode_from=mode_from, updated_at=now))
        return True

    def _move(
        self,
        campaign_id: int,
        sources: frozenset[CampaignState],
        target: CampaignState,
        **changes: datetime | str,
    ) -> bool:
        row = self._rows.get(campaign_id)
        if row is None or row.state not in sources:
            return False
        self._rows.update(campaign_id, replace(row, state=target, **changes))  # type: ignore[arg-type]
        return True


class FakePages:
    """The page repository in memory (see ``app.services.unit_of_work.PageRepository``)."""

    def __init__(
        self, rows: TableView[tuple[int, int], PageRow], campaigns: TableView[int, CampaignRow]
    ) -> None:
        self._rows = rows
        self._campaigns = campaigns

    def create(self, campaign_id: int, page_numbers: Iterable[int], *, now: datetime) -> list[int]:
        """Create the pages that do not exist yet, marked dispatched now; the new page numbers."""
        return [
            page_no
            for page_no in page_numbers
            if self._rows.insert(
                (campaign_id, page_no),
                PageRow(campaign_id, page_no, PAGE_PENDING, dispatched_at=now, dispatch_count=1),
            )
        ]

    def state(self, campaign_id: int, page_no: int) -> str | None:
        """The page's state, or None when it was never created."""
        row = self._rows.get((campaign_id, page_no))
        return None if row is None else row.state

    def claim(
        self, campaign_id: int, page_no: int, *, row_count: int, first_customer_id: str | None, now: datetime
    ) -> bool:
        """Mark a pending page done; False when it was done already (a redelivered task)."""
        row = self._rows.get((campaign_id, page_no))
        if row is None or row.state != PAGE_PENDING:
            return False
        done = replace(
            row,
            state=PAGE_DONE,
            row_count=row_count,
            first_customer_id=first_customer_id,
            done_at=now,
            error=None,
        )
        self._rows.update((campaign_id, page_no), done)
        return True

    def repeats_another_page(self, campaign_id: int, page_no: int, first_customer_id: str) -> bool:
        """Whether another page of the campaign started with the same customer (`$skip` ignored)."""
        return bool(
            self._rows.where(
                lambda r: (
                    r.campaign_id == campaign_id
                    and r.page_no != page_no
                    and r.first_customer_id == first_customer_id
                )
            )
        )

    def count_done_through(self, campaign_id: int, last_page: int) -> int:
        """How many of pages 0..last_page are done."""
        return len(
            self._rows.where(
                lambda r: r.campaign_id == campaign_id and r.page_no <= last_page and r.state == PAGE_DONE
            )
        )

    def record_error(self, campaign_id: int, page_no: int, error: str) -> None:
        """Keep the last error seen for a page (it stays pending and is retried)."""
        row = self._rows.get((campaign_id, page_no))
        if row is not None:
            self._rows.update((campaign_id, page_no), replace(row, error=error[:MAX_ERROR_CHARS]))

    def claim_stale(self, *, now: datetime, stale_before: datetime, limit: int) -> list[tuple[int, int]]:
        """Pending pages of ingesting campaigns whose task looks lost; marked dispatched again now."""

        def deadline(page: PageRow) -> datetime | None:
            campaign = self._campaigns.get(page.campaign_id)
            return None if campaign is None else campaign.clearance_required_by

        def ingesting(page: PageRow) -> bool:
            campaign = self._campaigns.get(page.campaign_id)
            return campaign is not None and campaign.state == CampaignState.INGESTING

        stale = self._rows.where(
            lambda r: (
                r.state == PAGE_PENDING
                and ingesting(r)
                and (r.dispatched_at is None or r.dispatched_at < stale_before)
                and not self._rows.locked_elsewhere((r.campaign_id, r.page_no))
            )  # SKIP LOCKED
        )
        stale.sort(key=lambda r: (nulls_last(deadline(r)), r.page_no))
        picked = stale[: max(limit, 0)]
        for row in picked:
            key = (row.campaign_id, row.page_no)
            self._rows.update(key, replace(row, dispatched_at=now, dispatch_count=row.dispatch_count + 1))
        return [(row.campaign_id, row.page_no) for row in picked]
