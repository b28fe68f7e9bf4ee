"""Claims that cannot go on alone: stuck ones dispatched again, given-up ones failed and replayed."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from app.domain.claims import ActivatedClaim, ClaimState
from app.services.claim_recovery import fail_claims, reconcile_claims, retry_failed
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import (
    CAMPAIGN,
    PROMO,
    VALIDATED_PROMO,
    claim_states,
    pending_claims,
    validated_claims,
)

STALE_AFTER = timedelta(seconds=60)


def reconcile(uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, clock: FixedClock) -> int:
    return reconcile_claims(uow, doorbell, stale_after=STALE_AFTER, clock=clock)


def test_claims_whose_task_was_lost_are_dispatched_again_according_to_their_state(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    pending_claims(uow, "alice")
    validated, reported = validated_claims(uow, "bob", "carol")
    with uow() as u:
        u.claims.mark_activated([ActivatedClaim(reported, Decimal(10))], now=clock())
        u.commit()
    clock.advance(minutes=5)

    assert reconcile(uow, doorbell, clock) == 3

    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)]
    assert list(dispatcher.activations) == [[validated]]
    assert dispatcher.status_rounds == 1


def test_a_claim_dispatched_again_is_left_alone_until_it_looks_stuck_once_more(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    pending_claims(uow, "alice")
    clock.advance(minutes=5)
    reconcile(uow, doorbell, clock)

    clock.advance(seconds=59)
    assert reconcile(uow, doorbell, clock) == 0
    clock.advance(seconds=2)
    assert reconcile(uow, doorbell, clock) == 1
    # Forced both times: the earlier wake-up may be the one that was lost.
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)] * 2


def test_claims_touched_or_dispatched_recently_and_final_claims_are_left_alone(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    pending_claims(uow, "alice", at=clock.now - timedelta(seconds=30))
    [done] = validated_claims(uow, "bob", at=clock.now - timedelta(hours=1))
    with uow() as u:
        u.claims.mark_rejected(
            {done: "activation_refused: no"}, source=ClaimState.VALIDATED, now=clock.now - timedelta(hours=1)
        )
        u.commit()

    assert reconcile(uow, doorbell, clock) == 0 and not dispatcher.sent


def test_claims_whose_validation_lease_ran_out_are_validated_again_at_once(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    alice, bob = pending_claims(uow, "alice", "bob")
    with uow() as u:  # a worker leased them, then died mid-validation
        u.claims.lease_pending(
            campaign_id=CAMPAIGN, promo_code=PROMO, limit=10, lease=timedelta(seconds=30), now=clock()
        )
        u.commit()
    clock.advance(seconds=20)
    assert reconcile(uow, doorbell, clock) == 0

    clock.advance(seconds=11)  # the lease ran out; far less than the staleness delay since the lease

    assert reconcile(uow, doorbell, clock) == 2
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)]  # one validator takes both
    assert claim_states(uow, [alice, bob]) == [ClaimState.PENDING] * 2


def test_given_up_claims_fail_visibly_and_final_ones_stay_as_they_are(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    [live] = validated_claims(uow, "alice")
    [done] = validated_claims(uow, "bob")
    with uow() as u:
        u.claims.mark_rejected({done: "activation_refused: no"}, source=ClaimState.VALIDATED, now=clock())
        u.commit()

    assert fail_claims(uow, [live, done, "no-such-claim"], reason="retries exhausted", clock=clock) == [live]

    assert claim_states(uow, [live, done]) == [ClaimState.FAILED, ClaimState.REJECTED]
    with uow() as u:
        assert u.claims.counts_by_reason() == {"retries exhausted": 1, "activation_refused: no": 1}


def test_failed_claims_are_replayed_from_pending_with_a_fresh_budget_and_dispatched(
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    first, second, untouched = validated_claims(uow, "alice", "bob", "carol")
    with uow() as u:
        u.claims.reserve_activation_attempts([first, second], max_attempts=9, now=clock())
        u.commit()
    fail_claims(uow, [first, second], reason="misconfigured", clock=clock)

    assert retry_failed(uow, doorbell, [second, untouched], clock=clock) == [second]
    assert retry_failed(uow, doorbell, clock=clock) == [first]  # every failed claim left

    assert claim_states(uow, [first, second, untouched]) == [
        ClaimState.PENDING,
        ClaimState.PENDING,
        ClaimState.VALIDATED,
    ]
    assert list(dispatcher.validations) == [(CAMPAIGN, VALIDATED_PROMO)] * 2
    assert db.claims.rows[first].activation_attempts == 0 and db.claims.rows[first].reason is None
    assert retry_failed(uow, doorbell, clock=clock) == []
