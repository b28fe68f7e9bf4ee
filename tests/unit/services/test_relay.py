"""The outbox relay: due batches, most urgent first; retries with backoff; dead letters; re-sends counted."""

from __future__ import annotations

import logging
import random
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from app.domain.audience import Candidate, Decision
from app.domain.backoff import Backoff
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ActivatedClaim, ClaimState
from app.domain.optimove import PromoStatus
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveConnectionError,
    OptimoveRateLimited,
    OptimoveServerError,
)
from app.domain.outbox import OutboxStats
from app.services.relay import RelayConfig, RelayResult, relay_once
from tests.fakes.clock import T0, FixedClock
from tests.fakes.optimove import FakeStatusSink
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.unit.services.arrange import claim_campaign, claim_states, validated_claims

CAMPAIGN = 1359
CONFIG = RelayConfig(batch_size=10, lease=timedelta(seconds=60), max_attempts=3, backoff=Backoff(1, 60))
ENDPOINT = "UpdateCustomerPromotionStatus"


def approving(
    uow: FakeUnitOfWorkFactory,
    customers: list[str],
    *,
    campaign_id: int = CAMPAIGN,
    deadline: datetime | None = T0 + timedelta(hours=1),
) -> None:
    """An auto campaign whose approvals wait in the outbox."""
    with uow() as u:
        u.campaigns.add(
            NewCampaign(campaign_id, CampaignMode.AUTO, deadline, None, 100, state=CampaignState.APPROVING),
            now=T0,
        )
        u.outbox.enqueue_statuses(campaign_id, customers, deadline=deadline, now=T0)
        u.commit()


def relay(
    uow: FakeUnitOfWorkFactory,
    sink: FakeStatusSink,
    clock: FixedClock,
    *,
    config: RelayConfig = CONFIG,
    rng: random.Random | None = None,
) -> RelayResult | None:
    return relay_once(uow, sink, config, clock=clock, rng=rng or random.Random(3))


def stats(uow: FakeUnitOfWorkFactory, campaign_id: int = CAMPAIGN) -> OutboxStats:
    with uow() as u:
        return u.outbox.stats(campaign_id)


def test_a_due_batch_is_sent_marked_sent_counted_and_the_campaign_approved_once_nothing_is_left(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving(uow, ["a", "b", "c"])
    sink = FakeStatusSink()
    clock.advance(seconds=5)

    result = relay(uow, sink, clock)

    assert result == RelayResult("sent", CAMPAIGN, 3)
    assert sink.accepted == [
        (CAMPAIGN, [PromoStatus("a", True), PromoStatus("b", True), PromoStatus("c", True)])
    ]
    assert stats(uow) == OutboxStats(pending=0, sent=3, dead=0, resent=0, oldest_pending_at=None)
    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.state, campaign.approvals_finished_at) == (CampaignState.APPROVED, clock.now)
    assert (campaign.approved_count, campaign.approval_calls) == (3, 1)
    assert relay(uow, sink, clock) is None and len(sink.accepted) == 1


def test_approvals_go_in_batches_and_the_campaign_stays_approving_until_the_last(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving(uow, ["a", "b", "c", "d", "e"])
    sink = FakeStatusSink()
    config = RelayConfig(batch_size=2, max_attempts=3)

    first = relay(uow, sink, clock, config=config)
    assert first is not None and first.customers == 2
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVING

    while relay(uow, sink, clock, config=config) is not None:
        pass
    assert [len(statuses) for _, statuses in sink.accepted] == [2, 2, 1]
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVED


def test_with_nothing_due_no_call_is_made_after_waiting_for_the_budget(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    sink = FakeStatusSink()
    assert relay(uow, sink, clock) is None
    assert not sink.accepted and sink.budget_waits == [30.0]


def test_statuses_of_claims_complete_them_once_optimove_accepts_them(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow, campaign_id=CAMPAIGN)
    alice, bob = validated_claims(uow, "alice", "bob")
    with uow() as u:
        u.claims.mark_activated([ActivatedClaim(alice, Decimal(10))], now=clock())
        u.outbox.enqueue_statuses(CAMPAIGN, ["alice"], deadline=None, now=clock())
        u.commit()

    assert relay(uow, FakeStatusSink(), clock) == RelayResult("sent", CAMPAIGN, 1)

    assert claim_states(uow, [alice, bob]) == [ClaimState.COMPLETED, ClaimState.VALIDATED]


def test_a_transient_error_gives_the_batch_back_for_a_retry_after_the_backoff(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    approving(uow, ["a", "b"])
    sink = FakeStatusSink()
    sink.failures.append(OptimoveConnectionError("refused", endpoint=ENDPOINT, ambiguous=False))

    result = relay(uow, sink, clock, rng=random.Random(3))

    assert result is not None and (result.outcome, result.customers) == ("retry", 2)
    assert result.error == "OptimoveConnectionError: refused"
    delay = timedelta(seconds=CONFIG.backoff.delay(1, rng=random.Random(3)))
    assert relay(uow, sink, FixedClock(T0 + delay - timedelta(microseconds=1))) is None
    assert relay(uow, sink, FixedClock(T0 + delay)) == RelayResult("sent", CAMPAIGN, 2)
    assert stats(uow).resent == 0  # the failed call never reached Optimove


def test_a_rate_limit_is_retried_no_sooner_than_the_retry_after_optimove_asked_for(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    approving(uow, ["a"])
    sink = FakeStatusSink()
    sink.failures.append(OptimoveRateLimited("429", endpoint=ENDPOINT, retry_after=30))

    assert relay(uow, sink, clock) is not None
    assert relay(uow, sink, FixedClock(T0 + timedelta(seconds=29))) is None
    assert relay(uow, sink, FixedClock(T0 + timedelta(seconds=30))) is not None


def test_a_call_that_may_have_landed_is_counted_as_a_resend_when_sent_again(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving(uow, ["a", "b", "c"])
    sink = FakeStatusSink()
    sink.failures.append(OptimoveServerError("502", endpoint=ENDPOINT, status=502, ambiguous=True))
    relay(uow, sink, clock)

    assert relay(uow, sink, FixedClock(T0 + timedelta(minutes=2))) == RelayResult("sent", CAMPAIGN, 3)

    assert stats(uow).resent == 3 and db.campaigns.rows[CAMPAIGN].resent_count == 3


def test_a_permanent_error_dead_letters_the_batch_at_once_and_records_it_on_the_campaign(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving(uow, ["a", "b"])
    sink = FakeStatusSink()
    sink.failures.append(OptimoveAuthError("key disabled", endpoint=ENDPOINT, status=401))

    result = relay(uow, sink, clock)

    assert result is not None and result.outcome == "dead"
    assert stats(uow) == OutboxStats(pending=0, sent=0, dead=2, resent=0, oldest_pending_at=None)
    campaign = db.campaigns.rows[CAMPAIGN]
    assert campaign.error == "approvals dead-lettered: OptimoveAuthError: key disabled"
    assert campaign.state == CampaignState.APPROVING and relay(uow, sink, clock) is None


def test_a_batch_out_of_attempts_is_dead_lettered_even_on_a_transient_error(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    approving(uow, ["a"])
    sink = FakeStatusSink()
    sink.failures.extend(OptimoveServerError("503", endpoint=ENDPOINT, status=503) for _ in range(3))

    outcomes = []
    for _ in range(3):
        result = relay(uow, sink, clock)
        assert result is not None
        outcomes.append(result.outcome)
        clock.advance(minutes=5)

    assert outcomes == ["retry", "retry", "dead"] and stats(uow).dead == 1


def test_the_campaign_with_the_earliest_deadline_is_sent_first(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    approving(uow, ["r1"], campaign_id=1, deadline=T0 + timedelta(hours=3))
    approving(uow, ["u1"], campaign_id=2, deadline=T0 + timedelta(minutes=20))
    approving(uow, ["n1"], campaign_id=3, deadline=None)
    sink = FakeStatusSink()

    while relay(uow, sink, clock) is not None:
        pass

    assert [campaign_id for campaign_id, _ in sink.accepted] == [2, 1, 3]


def test_approvals_sent_after_the_deadline_are_still_recorded_and_logged_as_late(
    uow: FakeUnitOfWorkFactory, clock: FixedClock, caplog: pytest.LogCaptureFixture
) -> None:
    approving(uow, ["a"], deadline=T0 + timedelta(minutes=1))
    clock.advance(minutes=2)

    with caplog.at_level(logging.ERROR, logger="app.services.relay"):
        assert relay(uow, FakeStatusSink(), clock) == RelayResult("sent", CAMPAIGN, 1)

    assert [r.getMessage() for r in caplog.records] == ["approvals sent after ClearanceRequiredBy"]


def approving_pages(uow: FakeUnitOfWorkFactory, *pages: list[str]) -> None:
    """An auto campaign whose ingested pages wait in the outbox, one row each."""
    with uow() as u:
        u.campaigns.add(
            NewCampaign(CAMPAIGN, CampaignMode.AUTO, None, None, 100, state=CampaignState.APPROVING), now=T0
        )
        for page_no, customers in enumerate(pages):
            u.audience.write_page(
                CAMPAIGN,
                page_no,
                [Decision(Candidate(c, "P", 1, {}), True, None, None) for c in customers]
                + [Decision(Candidate(f"x{page_no}", "P", 1, {}), False, "no_consent", None)],
            )
            u.outbox.enqueue_page_approvals(CAMPAIGN, page_no, deadline=None, now=T0)
        u.commit()


def test_an_auto_campaigns_pages_go_out_in_full_calls_each_customer_once_and_counted_per_customer(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    pages = [[f"p{p}-{i:02d}" for i in range(7)] for p in range(4)]
    approving_pages(uow, *pages)
    sink = FakeStatusSink()

    results = [relay(uow, sink, clock) for _ in range(4)]

    assert [r.customers if r else None for r in results] == [10, 10, 8, None]
    reported = [s.customer_id for _, call in sink.accepted for s in call]
    assert sorted(reported) == sorted(c for page in pages for c in page)
    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.state, campaign.approved_count, campaign.approval_calls) == (
        CampaignState.APPROVED,
        28,
        3,
    )
    assert stats(uow) == OutboxStats(0, 28, 0, 0, None)


def test_a_pages_call_that_may_have_landed_is_sent_again_and_counted_for_its_customers_alone(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving_pages(uow, [f"a{i}" for i in range(6)], [f"b{i}" for i in range(6)])
    sink = FakeStatusSink()
    sink.failures.append(OptimoveServerError("502", endpoint=ENDPOINT, status=502, ambiguous=True))

    assert relay(uow, sink, clock) == RelayResult("retry", CAMPAIGN, 10, "OptimoveServerError: 502")
    later = FixedClock(T0 + timedelta(minutes=2))
    while relay(uow, sink, later) is not None:
        pass

    times = {s.customer_id: sink.times_reported(CAMPAIGN, s.customer_id) for _, c in sink.accepted for s in c}
    assert len(times) == 12 and set(times.values()) == {1}  # the failed call is not in `accepted`
    assert stats(uow).resent == 10 and db.campaigns.rows[CAMPAIGN].resent_count == 10
    assert db.campaigns.rows[CAMPAIGN].approved_count == 12


def test_while_the_budget_is_scarce_and_an_auto_campaign_still_ingests_approvals_wait_to_fill_a_call(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving_pages(uow, [f"a{i}" for i in range(7)])
    with uow() as u:
        u.campaigns.add(NewCampaign(CAMPAIGN + 1, CampaignMode.AUTO, None, None, 100), now=T0)
        u.commit()
    sink = FakeStatusSink(used=0.8)
    lingering = replace(CONFIG, linger=timedelta(seconds=10))

    assert relay(uow, sink, clock, config=lingering) is None  # 7 of 10, and more pages are coming
    sink.used = 0.2
    assert relay(uow, sink, clock, config=lingering) == RelayResult("sent", CAMPAIGN, 7)  # budget to spare


def test_an_auto_campaign_still_ingesting_fills_its_calls_even_with_budget_to_spare(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, clock: FixedClock
) -> None:
    approving_pages(uow, [f"a{i}" for i in range(7)])
    db.campaigns.rows[CAMPAIGN] = replace(db.campaigns.rows[CAMPAIGN], state=CampaignState.INGESTING)
    sink = FakeStatusSink(used=0.0)
    lingering = replace(CONFIG, linger=timedelta(seconds=10))

    assert relay(uow, sink, clock, config=lingering) is None  # 7 of 10 while its pages keep coming
    later = FixedClock(T0 + timedelta(seconds=10))
    assert relay(uow, sink, later, config=lingering) == RelayResult("sent", CAMPAIGN, 7)  # the linger is over
    more = [f"b{i}" for i in range(3)]
    with uow() as u:
        u.audience.write_page(
            CAMPAIGN, 1, [Decision(Candidate(c, "P", 1, {}), True, None, None) for c in more]
        )
        u.outbox.enqueue_page_approvals(CAMPAIGN, 1, deadline=None, now=later.now)
        u.campaigns.finish_ingest(CAMPAIGN, CampaignState.APPROVING, now=later.now)
        u.commit()
    assert relay(uow, sink, later, config=lingering) == RelayResult("sent", CAMPAIGN, 3)  # ingest is over
