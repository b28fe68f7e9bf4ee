"""Reconciliation: rewards granted against statuses reported, each discrepancy found, only safe fixes made."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import ActivatedClaim, ClaimState, new_claim_id
from app.domain.rewards import RewardGrant
from app.services.reconciliation import (
    DEAD_LETTERED,
    FAILED_CLAIMS,
    REPORTED_NOT_REWARDED,
    REWARDED_MORE_THAN_ONCE,
    REWARDED_STATUS_DEAD,
    REWARDED_STATUS_LATE,
    REWARDED_STATUS_MISSING,
    STUCK_CLAIMS,
    ReconcileConfig,
    ReconciliationReport,
    Repair,
    reconcile_campaign,
    repair_campaign,
)
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import (
    CAMPAIGN,
    PROMO,
    claim_campaign,
    claim_states,
    pending_claims,
    validated_claims,
)

CONFIG = ReconcileConfig(late_after=timedelta(minutes=15), stale_after=timedelta(seconds=60), examples=2)


def rewarded(
    uow: FakeUnitOfWorkFactory, *customers: str, amount: str = "10", report: bool = True
) -> list[str]:
    """Claims granted as the wallet activator grants them (activated, recorded, credited), their
    statuses queued with them unless `report` is False."""
    ids = validated_claims(uow, *customers)
    grants = [
        RewardGrant(i, CAMPAIGN, c, PROMO, "gold", "bonus", Decimal(amount))
        for i, c in zip(ids, customers, strict=True)
    ]
    with uow() as u:
        u.claims.mark_activated([ActivatedClaim(i, Decimal(amount)) for i in ids], now=T0)
        u.activations.record([(g, None) for g in grants], activator="wallet", now=T0)
        u.activations.credit_wallets(grants, now=T0)
        if report:
            u.outbox.enqueue_statuses(CAMPAIGN, list(customers), deadline=None, now=T0)
        u.commit()
    return ids


def approvals(uow: FakeUnitOfWorkFactory, *customers: str, end: str | None = "sent") -> None:
    """Statuses queued for these customers, then sent, dead-lettered (end="dead") or left queued (None).

    Every status of the campaign still due is in the batch: call with end=None last.
    """
    with uow() as u:
        u.outbox.enqueue_statuses(CAMPAIGN, list(customers), deadline=None, now=T0)
        if end is not None:
            batch = u.outbox.claim_batch(now=T0, limit=10_000, lease=timedelta(minutes=1))
            assert batch is not None
            if end == "sent":
                u.outbox.mark_sent(batch, now=T0)
            else:
                u.outbox.mark_dead(batch, now=T0, error="OptimoveAuthError: 401")
        u.commit()


def credit_without_claim(uow: FakeUnitOfWorkFactory, customer: str, amount: str = "10") -> None:
    with uow() as u:
        u.activations.credit_wallets(
            [RewardGrant(new_claim_id(), CAMPAIGN, customer, PROMO, None, "bonus", Decimal(amount))], now=T0
        )
        u.commit()


def counts(report: ReconciliationReport) -> dict[str, int]:
    return {finding.kind: finding.count for finding in report.findings}


def examples(report: ReconciliationReport, kind: str) -> tuple[str, ...]:
    finding = report.finding(kind)
    assert finding is not None
    return finding.examples


def test_a_campaign_whose_every_reward_was_reported_once_has_nothing_to_reconcile(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice", "bob", amount="12.5", report=False)
    approvals(uow, "alice", "bob")
    clock.advance(hours=2)

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.discrepancies == 0
    assert set(counts(report).values()) == {0}
    assert (report.totals.rewarded_customers, report.totals.credits, report.totals.amount_granted) == (
        2,
        2,
        Decimal("25"),
    )
    assert (report.totals.statuses_sent, report.totals.statuses_waiting, report.totals.statuses_dead) == (
        2,
        0,
        0,
    )
    assert (report.mode, report.state, report.checked_at) == ("claim", "ready", T0 + timedelta(hours=2))


def test_every_kind_of_discrepancy_is_found_with_its_count_and_a_few_ids(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow, eligible=[f"c{n}" for n in range(20)])
    rewarded(uow, "missing-1", "missing-2", "missing-3", report=False)
    rewarded(uow, "dead-1", "sent-1", report=False)
    approvals(uow, "sent-1", "unrewarded-sent")
    approvals(uow, "dead-1", "unrewarded-dead", end="dead")
    rewarded(uow, "twice")  # queued now, at T0: late by the time we look
    credit_without_claim(uow, "twice")
    [stuck] = pending_claims(uow, "c1")
    [failed] = pending_claims(uow, "c2", promo_code="OTHER")
    with uow() as u:
        u.claims.lease_pending(
            campaign_id=CAMPAIGN, promo_code="OTHER", limit=1, lease=timedelta(minutes=1), now=clock()
        )
        u.claims.mark_failed({failed: "activation_unconfirmed: 503 after 9 attempts"}, now=clock())
        u.commit()
    clock.advance(minutes=20)

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None
    assert counts(report) == {
        REWARDED_STATUS_MISSING: 3,
        REWARDED_STATUS_DEAD: 1,
        REWARDED_STATUS_LATE: 1,
        REPORTED_NOT_REWARDED: 1,
        DEAD_LETTERED: 1,
        REWARDED_MORE_THAN_ONCE: 1,
        STUCK_CLAIMS: 1,
        FAILED_CLAIMS: 1,
    }
    assert report.discrepancies == 10
    assert examples(report, REWARDED_STATUS_MISSING) == ("missing-1", "missing-2")  # at most 2, in order
    assert examples(report, REWARDED_STATUS_DEAD) == ("dead-1",)
    assert examples(report, REWARDED_STATUS_LATE) == ("twice",)
    assert examples(report, REPORTED_NOT_REWARDED) == ("unrewarded-sent",)
    assert examples(report, DEAD_LETTERED) == ("unrewarded-dead",)
    assert examples(report, REWARDED_MORE_THAN_ONCE) == ("twice",)
    assert examples(report, STUCK_CLAIMS) == (stuck,)
    assert examples(report, FAILED_CLAIMS) == (failed,)
    failed_finding = report.finding(FAILED_CLAIMS)
    assert failed_finding is not None and failed_finding.by_reason == {
        "activation_unconfirmed: 503 after 9 attempts": 1
    }
    assert (report.totals.rewarded_customers, report.totals.credits, report.totals.amount_granted) == (
        6,
        7,
        Decimal("70"),
    )
    assert (report.totals.statuses_sent, report.totals.statuses_waiting, report.totals.statuses_dead) == (
        2,
        1,
        2,
    )


def test_statuses_waiting_and_claims_resting_within_their_allowance_are_not_discrepancies(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice")
    pending_claims(uow, "bob")
    clock.advance(seconds=59)

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.discrepancies == 0 and report.totals.statuses_waiting == 1


def test_an_auto_campaign_counts_dead_approvals_but_never_asks_approvals_for_a_reward(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow, mode=CampaignMode.AUTO, state=CampaignState.APPROVING)
    approvals(uow, "alice", "bob")
    approvals(uow, "carol", end="dead")
    approvals(uow, "dave", end=None)

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.finding(REPORTED_NOT_REWARDED) is None
    assert report.discrepancies == 1 and examples(report, DEAD_LETTERED) == ("carol",)
    assert (report.totals.statuses_sent, report.totals.statuses_waiting, report.totals.statuses_dead) == (
        2,
        1,
        1,
    )
    assert report.totals.rewarded_customers == 0


def test_re_sent_statuses_are_counted_for_finance_and_are_no_fault(
    uow: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice", "bob")
    with uow() as u:
        batch = u.outbox.claim_batch(now=T0, limit=10, lease=timedelta(minutes=1))
        assert batch is not None
        u.outbox.release_for_retry(batch, available_at=T0, error="timeout", maybe_applied=True)
        again = u.outbox.claim_batch(now=T0, limit=10, lease=timedelta(minutes=1))
        assert again is not None
        u.outbox.mark_sent(again, now=T0)
        u.commit()

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.discrepancies == 0
    assert (report.totals.statuses_resent, report.totals.resent_examples) == (2, ("alice", "bob"))


def test_an_unknown_campaign_has_no_report(uow: FakeUnitOfWorkFactory) -> None:
    assert reconcile_campaign(uow, 404, CONFIG) is None


def test_the_report_reads_as_json(uow: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice", amount="1.5", report=False)

    report = reconcile_campaign(uow, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None
    data = json.loads(json.dumps(report.as_json()))
    assert data["discrepancies"] == 1 and data["checked_at"] == T0.isoformat()
    assert data["totals"]["amount_granted"] == "1.5000"
    assert data["findings"][0] == {
        "kind": REWARDED_STATUS_MISSING,
        "title": "rewarded, no status queued for Optimove",
        "count": 1,
        "examples": ["alice"],
        "repair": "queue the status",
        "by_reason": {},
    }


def test_a_repair_queues_statuses_replays_failed_claims_redispatches_stuck_ones_and_pays_nobody_twice(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    claim_campaign(uow)
    [missing] = rewarded(uow, "missing", report=False)
    [dead] = rewarded(uow, "dead", report=False)
    approvals(uow, "dead", "unrewarded-dead", end="dead")
    approvals(uow, "unrewarded-sent")
    [stuck] = pending_claims(uow, "carol")
    [failed] = pending_claims(uow, "dave", promo_code="OTHER")
    with uow() as u:
        u.claims.lease_pending(
            campaign_id=CAMPAIGN, promo_code="OTHER", limit=1, lease=timedelta(minutes=1), now=clock()
        )
        u.claims.mark_failed({failed: "OptimoveServerError: 503"}, now=clock())
        u.commit()
    clock.advance(minutes=5)
    with uow() as u:
        credits_before = u.activations.credits_per_claim()

    report = repair_campaign(uow, doorbell, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.discrepancies_found == 6
    assert report.repairs == (
        Repair(REWARDED_STATUS_MISSING, "missing statuses of rewarded customers queued", 1),
        Repair(REWARDED_STATUS_DEAD, "dead-lettered statuses of rewarded customers queued again", 1),
        Repair(FAILED_CLAIMS, "failed claims replayed", 1),
        # The reconciler's sweep: the stuck claim, and the activated claims waiting for their status.
        Repair(STUCK_CLAIMS, "stuck claims dispatched again (of every campaign)", 3),
    )
    # What no repair can settle is left, and reported: a status without a reward, a dead approval.
    assert counts(report) | {REPORTED_NOT_REWARDED: 1, DEAD_LETTERED: 1} == counts(report)
    assert report.discrepancies == 2
    assert claim_states(uow, [missing, dead, stuck, failed]) == [
        ClaimState.ACTIVATED,
        ClaimState.ACTIVATED,
        ClaimState.PENDING,
        ClaimState.PENDING,
    ]
    with uow() as u:
        assert u.activations.credits_per_claim() == credits_before
        batch = u.outbox.claim_batch(now=clock(), limit=10, lease=timedelta(minutes=1))
    assert batch is not None and sorted(c for c, _ in batch.customers) == ["dead", "missing"]
    assert dispatcher.status_rounds == 2  # once for the statuses queued, once by the reconciler's sweep
    assert sorted(dispatcher.validations) == [(CAMPAIGN, "OTHER"), (CAMPAIGN, PROMO)]


def test_a_second_repair_finds_nothing_more_to_fix(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice", report=False)
    repair_campaign(uow, doorbell, CAMPAIGN, CONFIG, clock=clock)
    sent_before = list(dispatcher.sent)

    again = repair_campaign(uow, doorbell, CAMPAIGN, CONFIG, clock=clock)

    assert again is not None and (again.discrepancies_found, again.discrepancies, again.repairs) == (0, 0, ())
    assert dispatcher.sent == sent_before


def test_a_canceled_campaign_is_reconciled_but_never_repaired(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    claim_campaign(uow)
    rewarded(uow, "alice", report=False)
    with uow() as u:
        u.campaigns.cancel(CAMPAIGN, now=T0)
        u.commit()

    report = repair_campaign(uow, doorbell, CAMPAIGN, CONFIG, clock=clock)

    assert report is not None and report.repairs == () and report.discrepancies == 1
    assert report.note is not None and "canceled" in report.note
    assert dispatcher.sent == []
    with uow() as u:
        assert u.outbox.backlog(CAMPAIGN) == (0, None)
