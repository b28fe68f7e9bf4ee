"""Sweepers: work whose task was lost is dispatched again; campaigns likely to miss a deadline are flagged."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.campaigns import ApprovalBudget, CampaignMode, CampaignState, NewCampaign
from app.domain.inbox import NewInboxEvent
from app.services.sweeper import (
    DeadlineWatch,
    SweepResult,
    dispatch_inbox,
    flag_campaigns_at_risk,
    redispatch_stale_pages,
    sweep_stale_work,
)
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import PROMO, pending_claims

STALE_AFTER = timedelta(minutes=2)
# Two calls per 10 s, 10 statuses a call, 30 s to spare: 70 pending statuses need 30 s of calls.
WATCH = DeadlineWatch(
    ApprovalBudget(limit=2, window_seconds=10), batch_size=10, safety_margin=timedelta(seconds=30)
)


def store_event(uow: FakeUnitOfWorkFactory, campaign_id: int) -> int:
    payload = {"EventTypeID": 5, "CampaignID": campaign_id}
    with uow() as u:
        u.inbox.store(NewInboxEvent("optimove", 5, campaign_id, "f", payload, json.dumps(payload), T0))
        u.commit()
    return max(uow.db.inbox_events.rows)


def auto_campaign(
    uow: FakeUnitOfWorkFactory,
    campaign_id: int,
    *,
    pending: int,
    deadline: datetime | None,
    ingested: bool = True,
    mode: CampaignMode = CampaignMode.AUTO,
    page_size: int = 10,
    at: datetime = T0,
) -> None:
    """A campaign with `pending` approvals waiting in the outbox."""
    with uow() as u:
        u.campaigns.add(NewCampaign(campaign_id, mode, deadline, None, page_size), now=at)
        if ingested:
            u.campaigns.finish_ingest(campaign_id, CampaignState.APPROVING, now=at)
        u.outbox.enqueue_statuses(campaign_id, [f"c{n}" for n in range(pending)], deadline=deadline, now=at)
        u.commit()


def test_inbox_events_never_dispatched_or_whose_task_was_lost_are_dispatched_until_processed(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    first, second = store_event(uow, 1), store_event(uow, 2)

    def dispatch() -> int:
        return dispatch_inbox(uow, dispatcher, stale_after=STALE_AFTER, clock=clock)

    assert dispatch() == 2 and list(dispatcher.started) == [first, second]
    assert dispatch() == 0
    with uow() as u:
        u.inbox.mark_processed(first, now=clock(), outcome="campaign_started")
        u.commit()
    clock.advance(minutes=2, seconds=1)
    assert dispatch() == 1 and list(dispatcher.started) == [first, second, second]


def test_pending_pages_of_ingesting_campaigns_are_dispatched_again_once_stale(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    with uow() as u:
        u.campaigns.add(NewCampaign(1, CampaignMode.AUTO, None, None, 10), now=T0)
        u.pages.create(1, range(3), now=T0)
        u.pages.claim(1, 0, row_count=10, first_customer_id="c0", now=T0)
        u.campaigns.add(NewCampaign(2, CampaignMode.AUTO, None, None, 10), now=T0)
        u.pages.create(2, [0], now=T0)
        u.campaigns.fail_ingest(2, error="401", now=T0)
        u.commit()

    def redispatch() -> int:
        return redispatch_stale_pages(uow, dispatcher, stale_after=STALE_AFTER, clock=clock)

    assert redispatch() == 0
    clock.advance(minutes=3)
    assert redispatch() == 2 and list(dispatcher.pages) == [(1, 1), (1, 2)]
    assert redispatch() == 0


def test_an_auto_campaign_whose_approvals_cannot_make_the_deadline_is_flagged_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    auto_campaign(uow, 1, pending=70, deadline=T0 + timedelta(seconds=60))  # 30 s of calls + 30 s margin: no
    auto_campaign(uow, 2, pending=60, deadline=T0 + timedelta(seconds=60))  # 20 s of calls: in time

    assert flag_campaigns_at_risk(uow, WATCH, clock=clock) == [1]
    assert flag_campaigns_at_risk(uow, WATCH, clock=clock) == []
    assert db.campaigns.rows[1].at_risk_since == T0 and db.campaigns.rows[2].at_risk_since is None


def test_a_campaign_still_ingesting_counts_at_least_a_page_still_to_come(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    auto_campaign(uow, 1, pending=0, deadline=T0 + timedelta(seconds=60), ingested=False, page_size=70)
    auto_campaign(uow, 2, pending=0, deadline=T0 + timedelta(seconds=60), ingested=True, page_size=70)

    assert flag_campaigns_at_risk(uow, WATCH, clock=clock) == [1]


def test_claim_campaigns_campaigns_without_a_deadline_and_finished_ones_are_never_flagged(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    auto_campaign(uow, 1, pending=500, deadline=T0, mode=CampaignMode.CLAIM)
    auto_campaign(uow, 2, pending=500, deadline=None)
    auto_campaign(uow, 3, pending=500, deadline=T0)
    with uow() as u:
        u.campaigns.cancel(3, now=T0)
        u.commit()

    assert flag_campaigns_at_risk(uow, WATCH, clock=clock) == []


def test_a_sweep_redispatches_stale_pages_and_claims_and_flags_campaigns_at_risk(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, doorbell: ValidationDoorbell
) -> None:
    an_hour_ago = utcnow() - timedelta(hours=1)  # the sweep reads the real clock
    auto_campaign(
        uow, 1, pending=70, deadline=utcnow() + timedelta(seconds=30), ingested=False, at=an_hour_ago
    )
    with uow() as u:
        u.pages.create(1, [0], now=an_hour_ago)
        u.commit()
    pending_claims(uow, "alice", "bob", campaign_id=1, at=an_hour_ago)

    result = sweep_stale_work(
        uow, dispatcher, doorbell, WATCH, stale_after=STALE_AFTER, claim_stale_after=STALE_AFTER
    )

    assert result == SweepResult(pages=1, claims=2, at_risk=1) and result.busy
    assert list(dispatcher.pages) == [(1, 0)] and list(dispatcher.validations) == [(1, PROMO)]
    assert not sweep_stale_work(
        uow, dispatcher, doorbell, WATCH, stale_after=STALE_AFTER, claim_stale_after=STALE_AFTER
    ).busy
