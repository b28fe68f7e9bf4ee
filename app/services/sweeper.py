"""Sweepers: dispatch stored work whose task never ran or was lost, and watch deadlines.

PostgreSQL is the source of truth and the broker only a doorbell: anything recorded as to-do
but not done after `stale_after` is dispatched again. Tasks are idempotent, so a duplicate
dispatch costs a little work and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.campaigns import ACTIVE_STATES, ApprovalBudget, CampaignMode, is_at_risk
from app.services.claim_recovery import reconcile_claims
from app.services.ports import Dispatcher
from app.services.unit_of_work import UnitOfWorkFactory
from app.services.validation import ValidationDoorbell

log = logging.getLogger(__name__)
DISPATCH_BATCH = 200


def dispatch_inbox(
    uow_factory: UnitOfWorkFactory,
    dispatcher: Dispatcher,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Dispatch inbox events never dispatched, or dispatched more than `stale_after` ago and unprocessed."""
    now = clock()
    with uow_factory() as uow:
        ids = uow.inbox.claim_for_dispatch(now=now, stale_before=now - stale_after, limit=DISPATCH_BATCH)
        uow.commit()
    for event_id in ids:
        dispatcher.start_campaign(event_id)
    return len(ids)


def redispatch_stale_pages(
    uow_factory: UnitOfWorkFactory,
    dispatcher: Dispatcher,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Dispatch again the pages of ingesting campaigns whose task looks lost."""
    now = clock()
    with uow_factory() as uow:
        pages = uow.pages.claim_stale(now=now, stale_before=now - stale_after, limit=DISPATCH_BATCH)
        uow.commit()
    for campaign_id, page_no in pages:
        log.warning("re-dispatching a stale page", extra={"campaign_id": campaign_id, "page_no": page_no})
        dispatcher.ingest_page(campaign_id, page_no)
    return len(pages)


@dataclass(frozen=True, slots=True)
class DeadlineWatch:
    """How the deadline risk is judged."""

    budget: ApprovalBudget
    batch_size: int
    safety_margin: timedelta


def flag_campaigns_at_risk(
    uow_factory: UnitOfWorkFactory, watch: DeadlineWatch, *, clock: Callable[[], datetime] = utcnow
) -> list[int]:
    """Flag (and log) active auto campaigns whose pending approvals may miss ClearanceRequiredBy."""
    now = clock()
    flagged = []
    with uow_factory() as uow:
        for campaign in uow.campaigns.in_states(ACTIVE_STATES):
            if campaign.mode != CampaignMode.AUTO or campaign.at_risk_since is not None:
                continue
            pending = uow.outbox.pending_count(campaign.id)
            if campaign.ingest_finished_at is None:
                # Not yet ingested: count what is still to come as well, pessimistically.
                pending = max(pending, campaign.page_size)
            at_risk = is_at_risk(
                now=now,
                deadline=campaign.clearance_required_by,
                pending_rows=pending,
                batch_size=watch.batch_size,
                budget=watch.budget,
                safety_margin=watch.safety_margin,
            )
            if at_risk and uow.campaigns.mark_at_risk(campaign.id, now=now):
                flagged.append(campaign.id)
                deadline = campaign.clearance_required_by
                log.error(
                    "campaign at risk of missing ClearanceRequiredBy",
                    extra={
                        "campaign_id": campaign.id,
                        "pending_approvals": pending,
                        "deadline": deadline.isoformat() if deadline else None,
                    },
                )
        uow.commit()
    return flagged


@dataclass(frozen=True, slots=True)
class SweepResult:
    """What one sweep re-dispatched or flagged."""

    pages: int
    claims: int
    at_risk: int

    @property
    def busy(self) -> bool:
        """Whether the sweep found any work."""
        return self.pages + self.claims > 0


def sweep_stale_work(
    uow_factory: UnitOfWorkFactory,
    dispatcher: Dispatcher,
    doorbell: ValidationDoorbell,
    watch: DeadlineWatch,
    *,
    stale_after: timedelta,
    claim_stale_after: timedelta,
) -> SweepResult:
    """The periodic sweep the relay process and beat both run: stale pages and claims, deadline risk."""
    pages = redispatch_stale_pages(uow_factory, dispatcher, stale_after=stale_after)
    claims = reconcile_claims(uow_factory, doorbell, stale_after=claim_stale_after)
    return SweepResult(pages, claims, len(flag_campaigns_at_risk(uow_factory, watch)))
