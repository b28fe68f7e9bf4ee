"""Flow A: from a stored EventTypeID 5/4 event to an ingested, scrubbed, segmented audience.

The campaign-started step creates the campaign and its first pages; each page is then its own
task. Optimove does not say how many customers a campaign has, so pages are fanned out
speculatively: the start creates pages 0..`page_window`-1, every full page creates the page
`page_window` after it (so the next `page_window` pages always exist), and the first short page
marks the end. Every step is idempotent: a page is claimed (pending → done) in the
same unit of work that writes its rows, so a redelivered or duplicated task changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from app.clock import utcnow
from app.domain.audience import CustomerPage
from app.domain.campaigns import (
    EVENT_CAMPAIGN_CANCELED,
    EVENT_SCHEDULED_CONDITIONAL,
    PAGE_PENDING,
    CampaignMode,
    CampaignState,
    NewCampaign,
)
from app.domain.optimove import InvalidCampaignEvent
from app.domain.safeguards import Safeguards
from app.policies.base import PolicyPipeline
from app.services import trail_steps
from app.services.operator_control import (
    ControlConfig,
    TripRecorder,
    defers_approvals,
    effective_for,
    hold_if_over_audience,
    mode_at_creation,
    needs_settling,
    no_metrics,
    queue_all_approvals,
    settle_first_page,
)
from app.services.ports import CampaignSource, Dispatcher, EventContract
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class IngestConfig:
    """What ingest needs to know from the settings."""

    page_size: int
    page_window: int
    attributes: tuple[str, ...]
    default_mode: CampaignMode
    mode_overrides: dict[int, CampaignMode]
    # The environment's safeguards and the trip counter (mode defaults are the two fields above).
    safeguards: Safeguards = field(default_factory=Safeguards)
    on_trip: TripRecorder = field(default=no_metrics)

    @property
    def control(self) -> ControlConfig:
        """The fallbacks of the run-time settings, as the operator-control service takes them."""
        return ControlConfig(self.default_mode, self.mode_overrides, self.safeguards, self.on_trip)


def process_inbox_event(
    uow_factory: UnitOfWorkFactory,
    dispatcher: Dispatcher,
    contract: EventContract,
    config: IngestConfig,
    event_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> str:
    """Act on one stored webhook event exactly once; returns what happened."""
    now = clock()
    new_pages: list[int] = []
    with uow_factory() as uow:
        event = uow.inbox.get(event_id)
        if event is None or event.processed:
            return "skipped"
        campaign_id = event.campaign_id
        try:
            parsed = contract.parse(event.payload)
        except InvalidCampaignEvent as exc:
            outcome = f"invalid: {exc}"[:64]
        else:
            if parsed.event_type_id == EVENT_SCHEDULED_CONDITIONAL:
                mode, mode_from = mode_at_creation(uow, config.control, parsed.campaign_id)
                created = uow.campaigns.add(
                    NewCampaign(
                        id=parsed.campaign_id,
                        mode=mode,
                        clearance_required_by=parsed.clearance_required_by,
                        event_timestamp=parsed.timestamp,
                        page_size=config.page_size,
                        mode_from=mode_from,
                    ),
                    now=now,
                )
                if created:
                    new_pages = uow.pages.create(parsed.campaign_id, range(config.page_window), now=now)
                outcome = "campaign_started" if created else "campaign_already_known"
            elif parsed.event_type_id == EVENT_CAMPAIGN_CANCELED:
                outcome = _cancel(uow, parsed.campaign_id, now)
            else:
                outcome = "ignored_event_type"
        if not uow.inbox.mark_processed(event_id, now=now, outcome=outcome):
            return "skipped"  # a concurrent run got there first; this one's changes roll back
        uow.commit()
    log.info(
        "inbox event processed", extra={"event_id": event_id, "outcome": outcome, "campaign_id": campaign_id}
    )
    for page_no in new_pages:
        dispatcher.ingest_page(campaign_id, page_no)
    return outcome


def _cancel(uow: UnitOfWork, campaign_id: int, now: datetime) -> str:
    canceled = uow.campaigns.cancel(campaign_id, now=now)
    stopped = uow.outbox.cancel_campaign(campaign_id, now=now, reason="campaign canceled (EventTypeID 4)")
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
    uow_factory: UnitOfWorkFactory,
    source: CampaignSource,
    pipeline: PolicyPipeline,
    dispatcher: Dispatcher,
    config: IngestConfig,
    campaign_id: int,
    page_no: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> PageResult:
    """Fetch one page from Optimove, run the policies on it and store it, at most once.

    Optimove errors propagate (the task decides whether to retry); the page stays pending.
    """
    with uow_factory() as uow:
        campaign = uow.campaigns.get(campaign_id)
        state = uow.pages.state(campaign_id, page_no)
        has_flags = uow.operator_data.has_any()
    if campaign is None or campaign.state != CampaignState.INGESTING or state != PAGE_PENDING:
        return PageResult("skipped")
    if campaign.last_page is not None and page_no > campaign.last_page:
        return PageResult("skipped_past_end")

    customers = source.get_customer_page(
        campaign_id, top=campaign.page_size, skip=page_no * campaign.page_size, attributes=config.attributes
    )
    short = len(customers) < campaign.page_size
    first_id = customers.customer_ids[0] if customers else None
    flags = {}
    if has_flags and customers:  # most operators keep no flags: no transaction for them
        with uow_factory() as uow:
            flags = uow.operator_data.flags_for(customers.customer_ids)
    decided = pipeline.decide_page(customers, flags)
    now = clock()
    promo_code = _promo_code(customers)
    if needs_settling(campaign, promo_code):  # its first pages: a rule may match the promo code
        # In a transaction of its own: the page's transaction must take the campaign row last (its
        # counters), after the page rows it creates, as every other page's does, or two pages
        # written at once deadlock (seen: a page retried and fetched again, 106 calls for 101).
        with uow_factory() as uow:
            campaign = settle_first_page(uow, config.control, campaign, promo_code, now=now)
            uow.commit()
    with uow_factory() as uow:
        if not uow.pages.claim(
            campaign_id, page_no, row_count=len(customers), first_customer_id=first_id, now=now
        ):
            return PageResult("skipped")
        if first_id is not None and uow.pages.repeats_another_page(campaign_id, page_no, first_id):
            error = f"page {page_no} starts like another page: the server seems to ignore $skip"
            uow.campaigns.fail_ingest(campaign_id, error=error, now=now)
            uow.commit()
            log.error("paging broken", extra={"campaign_id": campaign_id, "page_no": page_no})
            return PageResult("failed_skip_ignored")
        counts = uow.audience.write_page(campaign_id, page_no, decided)
        # Only the scrubbed customers have a trail event at ingest: no object for the eligible ones.
        scrubbed = list(decided.scrubbed())
        uow.trail.append(trail_steps.page_ingested(campaign_id, page_no, scrubbed, flags, pipeline, now=now))
        # Read once for the page: whether approvals wait for the end of ingest, and the audience cap.
        settings = effective_for(uow, config.control, campaign_id, promo_code=campaign.promo_code)
        approvals = 0
        if campaign.mode == CampaignMode.AUTO and not defers_approvals(
            uow, config.control, campaign, settings=settings
        ):
            approvals = uow.outbox.enqueue_page_approvals(
                campaign_id,
                page_no,
                deadline=campaign.clearance_required_by,
                now=now,
                eligible=counts.eligible,
            )
        # The page `page_window` ahead: each page is created by exactly one page (pages 0..window-1
        # by the campaign's start), so no two page transactions insert the same page row. When each
        # created the next `page_window`, they did, and every page's transaction waited at that
        # INSERT for the previous one to commit (sampled: 43 of 140 busy backends at that wait).
        next_pages = [] if short else uow.pages.create(campaign_id, [page_no + config.page_window], now=now)
        # Last writes before commit: they lock the campaign row, serialising the end-of-ingest check.
        uow.campaigns.add_page_counters(
            campaign_id,
            rows=counts.rows,
            eligible=counts.eligible,
            scrubbed=counts.scrubbed,
            last_page=page_no if short else None,
            now=now,
        )
        hold_if_over_audience(uow, config.control, campaign_id, added=counts.rows, now=now, settings=settings)
        finish_ingest_if_complete(uow, campaign_id, now=now, control=config.control)
        uow.commit()
    for next_page in next_pages:
        dispatcher.ingest_page(campaign_id, next_page)
    return PageResult("ingested", counts.rows, counts.eligible, counts.scrubbed, approvals, len(next_pages))


def finish_ingest_if_complete(
    uow: UnitOfWork, campaign_id: int, *, now: datetime, control: ControlConfig | None = None
) -> bool:
    """Close ingest once pages 0..last_page are all done; auto campaigns move on to approving.

    An auto campaign whose approvals waited for the end of ingest (it has a maximum audience) queues
    them now, unless it is held: releasing it queues them then.
    """
    campaign = uow.campaigns.get(campaign_id, lock=True)
    if campaign is None or campaign.state != CampaignState.INGESTING or campaign.last_page is None:
        return False
    if uow.pages.count_done_through(campaign_id, campaign.last_page) != campaign.last_page + 1:
        return False
    if campaign.hold is None and control is not None and defers_approvals(uow, control, campaign):
        queue_all_approvals(uow, campaign, now=now)
    if campaign.mode == CampaignMode.CLAIM:
        target = CampaignState.READY
    elif campaign.hold is not None:
        target = CampaignState.APPROVING  # its approvals wait for the release
    elif uow.outbox.pending_count(campaign_id) == 0:
        target = CampaignState.APPROVED
    else:
        target = CampaignState.APPROVING
    done = uow.campaigns.finish_ingest(campaign_id, target, now=now)
    if done:
        log.info("campaign ingested", extra={"campaign_id": campaign_id, "state": target.value})
    return done


def record_page_failure(uow_factory: UnitOfWorkFactory, campaign_id: int, page_no: int, error: str) -> None:
    """Keep a page's last fetch error (the page stays pending and is retried)."""
    with uow_factory() as uow:
        uow.pages.record_error(campaign_id, page_no, error)
        uow.commit()
    log.warning(
        "page fetch failed, will retry",
        extra={"campaign_id": campaign_id, "page_no": page_no, "error": error},
    )


def fail_campaign(
    uow_factory: UnitOfWorkFactory, campaign_id: int, error: str, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """An ingesting campaign failed for good (Optimove refused its pages): it stops, with the reason."""
    with uow_factory() as uow:
        uow.campaigns.fail_ingest(campaign_id, error=error, now=clock())
        uow.commit()
    log.error("campaign failed", extra={"campaign_id": campaign_id, "error": error})


def _promo_code(customers: CustomerPage) -> str | None:
    """The promo code a page's rules match: its first customer's (a campaign has one per action)."""
    return next((code for code in customers.promo_codes if code), None)
