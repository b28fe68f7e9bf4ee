"""Flow A: from a stored EventTypeID 5/4 event to an ingested, scrubbed, segmented audience.

The campaign-started step creates the campaign and its first pages; each page is then its own
task. Optimove does not say how many customers a campaign has, so pages are fanned out
speculatively: every full page makes sure the next `page_window` pages exist, and the first
short page marks the end. Every step is idempotent: a page is claimed with a conditional update
(pending → done) in the same transaction that writes its rows, so a redelivered or duplicated
task changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Engine, select

from app.adapters.db import audience, campaigns, inbox, operator_data, outbox
from app.adapters.db.tables import campaign_pages
from app.adapters.optimove.contract import InvalidCampaignEvent, parse_campaign_event
from app.adapters.optimove.models import CampaignCustomer
from app.clock import utcnow
from app.domain.audience import Candidate, OperatorFlags
from app.domain.campaigns import (
    EVENT_CAMPAIGN_CANCELED,
    EVENT_SCHEDULED_CONDITIONAL,
    CampaignMode,
    CampaignState,
)
from app.policies.base import PolicyPipeline
from app.services.ports import CampaignSource, TaskDispatcher

log = logging.getLogger(__name__)

ANY_LIVE_STATE = frozenset({CampaignState.INGESTING, CampaignState.APPROVING, CampaignState.READY})


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What ingest needs to know from the settings."""

    page_size: int
    page_window: int
    attributes: tuple[str, ...]
    default_mode: CampaignMode
    mode_overrides: dict[int, CampaignMode]
    timezone: ZoneInfo


class _AlreadyProcessed(Exception):
    """Raised inside a transaction to roll it back when a concurrent run got there first."""


def process_inbox_event(
    engine: Engine,
    dispatcher: TaskDispatcher,
    config: IngestConfig,
    event_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> str:
    """Act on one stored webhook event exactly once; returns what happened."""
    now = clock()
    new_pages: list[int] = []
    campaign_id = 0
    try:
        with engine.begin() as conn:
            event = inbox.load_event(conn, event_id)
            if event is None or event.processed:
                return "skipped"
            campaign_id = event.campaign_id
            try:
                parsed = parse_campaign_event(event.payload, config.timezone)
            except InvalidCampaignEvent as exc:
                outcome = f"invalid: {exc}"[:64]
            else:
                if parsed.event_type_id == EVENT_SCHEDULED_CONDITIONAL:
                    mode = config.mode_overrides.get(parsed.campaign_id, config.default_mode)
                    created = campaigns.create_campaign(
                        conn,
                        campaign_id=parsed.campaign_id,
                        mode=mode,
                        clearance_required_by=parsed.clearance_required_by,
                        event_timestamp=parsed.timestamp,
                        page_size=config.page_size,
                        now=now,
                    )
                    if created:
                        new_pages = campaigns.create_pages(
                            conn, parsed.campaign_id, range(config.page_window), now=now
                        )
                    outcome = "campaign_started" if created else "campaign_already_known"
                elif parsed.event_type_id == EVENT_CAMPAIGN_CANCELED:
                    outcome = _cancel(conn, parsed.campaign_id, now)
                else:
                    outcome = "ignored_event_type"
            if not inbox.mark_processed(conn, event_id, now=now, outcome=outcome):
                raise _AlreadyProcessed
    except _AlreadyProcessed:
        return "skipped"
    log.info(
        "inbox event processed", extra={"event_id": event_id, "outcome": outcome, "campaign_id": campaign_id}
    )
    for page_no in new_pages:
        dispatcher.ingest_page(campaign_id, page_no)
    return outcome


def _cancel(conn: Connection, campaign_id: int, now: datetime) -> str:
    canceled = campaigns.transition(
        conn, campaign_id, from_states=ANY_LIVE_STATE, to_state=CampaignState.CANCELED, now=now
    )
    stopped = outbox.cancel_campaign(conn, campaign_id, now=now, reason="campaign canceled (EventTypeID 4)")
    log.warning("campaign canceled", extra={"campaign_id": campaign_id, "pending_approvals_stopped": stopped})
    return "campaign_canceled" if canceled else "cancel_for_unknown_or_finished_campaign"


@dataclass(frozen=True, slots=True)
class PageResult:
    """What one page task did."""

    outcome: str
    rows: int = 0
    eligible: int = 0
    scrubbed: int = 0
    approvals_enqueued: int = 0
    pages_dispatched: int = 0


def ingest_page(
    engine: Engine,
    source: CampaignSource,
    pipeline: PolicyPipeline,
    dispatcher: TaskDispatcher,
    config: IngestConfig,
    campaign_id: int,
    page_no: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> PageResult:
    """Fetch one page from Optimove, run the policies on it and store it, at most once.

    Optimove errors propagate (the task decides whether to retry); the page stays pending.
    """
    with engine.connect() as conn:
        campaign = campaigns.get_campaign(conn, campaign_id)
        state = campaigns.page_state(conn, campaign_id, page_no)
    if campaign is None or campaign.state != CampaignState.INGESTING or state != campaigns.PAGE_PENDING:
        return PageResult("skipped")
    if campaign.last_page is not None and page_no > campaign.last_page:
        return PageResult("skipped_past_end")

    customers = source.get_campaign_customers_page(
        campaign_id, top=campaign.page_size, skip=page_no * campaign.page_size, attributes=config.attributes
    )
    decisions = pipeline.decide_all(
        (_candidate(c) for c in customers), _operator_flags(engine, [c.customer_id for c in customers])
    )
    now = clock()
    short = len(customers) < campaign.page_size
    first_id = customers[0].customer_id if customers else None
    with engine.begin() as conn:
        if not campaigns.claim_page(
            conn, campaign_id, page_no, row_count=len(customers), first_customer_id=first_id, now=now
        ):
            return PageResult("skipped")
        if first_id is not None and _page_repeats_another(conn, campaign_id, page_no, first_id):
            error = f"page {page_no} starts like another page: the server seems to ignore $skip"
            campaigns.transition(
                conn,
                campaign_id,
                from_states=frozenset({CampaignState.INGESTING}),
                to_state=CampaignState.FAILED,
                now=now,
                error=error,
            )
            log.error("paging broken", extra={"campaign_id": campaign_id, "page_no": page_no})
            return PageResult("failed_skip_ignored")
        counts = audience.write_page(conn, campaign_id, page_no, decisions)
        approvals = 0
        if campaign.mode == CampaignMode.AUTO:
            approvals = audience.enqueue_page_approvals(
                conn, campaign_id, page_no, deadline=campaign.clearance_required_by, now=now
            )
        next_pages = (
            []
            if short
            else campaigns.create_pages(
                conn, campaign_id, range(page_no + 1, page_no + 1 + config.page_window), now=now
            )
        )
        # Last statement before commit: it locks the campaign row, serialising the end-of-ingest check.
        campaigns.add_page_counters(
            conn,
            campaign_id,
            rows=counts.rows,
            eligible=counts.eligible,
            scrubbed=counts.scrubbed,
            last_page=page_no if short else None,
            now=now,
        )
        finish_ingest_if_complete(conn, campaign_id, now=now)
    for next_page in next_pages:
        dispatcher.ingest_page(campaign_id, next_page)
    return PageResult("ingested", counts.rows, counts.eligible, counts.scrubbed, approvals, len(next_pages))


def finish_ingest_if_complete(conn: Connection, campaign_id: int, *, now: datetime) -> bool:
    """Close ingest once pages 0..last_page are all done; auto campaigns move on to approving."""
    campaign = campaigns.get_campaign(conn, campaign_id, for_update=True)
    if campaign is None or campaign.state != CampaignState.INGESTING or campaign.last_page is None:
        return False
    if campaigns.count_done_pages_through(conn, campaign_id, campaign.last_page) != campaign.last_page + 1:
        return False
    if campaign.mode == CampaignMode.CLAIM:
        target = CampaignState.READY
    elif outbox.pending_count(conn, campaign_id) == 0:
        target = CampaignState.APPROVED
    else:
        target = CampaignState.APPROVING
    extra = {"approvals_finished_at": now} if target == CampaignState.APPROVED else {}
    done = campaigns.transition(
        conn,
        campaign_id,
        from_states=frozenset({CampaignState.INGESTING}),
        to_state=target,
        now=now,
        ingest_finished_at=now,
        **extra,
    )
    if done:
        log.info("campaign ingested", extra={"campaign_id": campaign_id, "state": target.value})
    return done


def _candidate(customer: CampaignCustomer) -> Candidate:
    return Candidate(customer.customer_id, customer.promo_code, customer.action_id, customer.attributes)


def _operator_flags(engine: Engine, customer_ids: list[str]) -> dict[str, OperatorFlags]:
    if not customer_ids:
        return {}
    with engine.connect() as conn:
        if not operator_data.has_flags(conn):
            return {}
        return operator_data.flags_for(conn, customer_ids)


def _page_repeats_another(conn: Connection, campaign_id: int, page_no: int, first_id: str) -> bool:
    return (
        conn.execute(
            select(campaign_pages.c.page_no)
            .where(
                campaign_pages.c.campaign_id == campaign_id,
                campaign_pages.c.page_no != page_no,
                campaign_pages.c.first_customer_id == first_id,
            )
            .limit(1)
        ).first()
        is not None
    )
