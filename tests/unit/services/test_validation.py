"""Validating claims: one validator per (campaign, promo code) fills calls while claims are pending."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.claims import NOT_ELIGIBLE, ClaimState
from app.domain.optimove_errors import OptimoveAuthError, OptimoveServerError
from app.services.validation import (
    ValidationConfig,
    ValidationDoorbell,
    ValidationStep,
    flight_key,
    validate_pending,
)
from tests.fakes.clock import FixedClock
from tests.fakes.optimove import FakePromotionValidator
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import CAMPAIGN, PROMO, claim_states, pending_claims

CONFIG = ValidationConfig(max_contexts=100, lease=timedelta(seconds=60), max_attempts=3)
KEY = flight_key(CAMPAIGN, PROMO)


class Ticking:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float = 0.0) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def validate(
    uow: FakeUnitOfWorkFactory,
    validator: FakePromotionValidator,
    doorbell: ValidationDoorbell,
    *,
    promo_code: str | None = PROMO,
    config: ValidationConfig = CONFIG,
    clock: FixedClock | None = None,
    monotonic: Ticking | None = None,
    slept: list[float] | None = None,
) -> ValidationStep:
    return validate_pending(
        uow,
        validator,
        doorbell,
        config,
        CAMPAIGN,
        promo_code,
        clock=clock or FixedClock(),
        monotonic=monotonic or Ticking(),
        sleep=(slept if slept is not None else []).append,
    )


def test_one_turn_validates_every_claim_pending_for_its_campaign_and_promo_code_in_one_call(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    alice, bob, carol = pending_claims(uow, "alice", "bob", "carol")
    [other_code] = pending_claims(uow, "dave", promo_code="AUTUMN")
    [other_campaign] = pending_claims(uow, "erin", campaign_id=2)
    validator = FakePromotionValidator(tier="gold", reward_type="bonus", reward=Decimal("12.5"))

    step = validate(uow, validator, doorbell)

    assert step == ValidationStep("validated", calls=1, validated=3, rejected=0)
    [(promo_code, contexts, campaign_id)] = validator.calls
    assert (promo_code, campaign_id) == (PROMO, CAMPAIGN)
    assert [(c.customer_id, dict(c.session_properties)) for c in contexts] == [
        ("alice", {"country": "MT"}), ("bob", {"country": "MT"}), ("carol", {"country": "MT"})
    ]  # fmt: skip
    assert (
        claim_states(uow, [alice, bob, carol, other_code, other_campaign])
        == [ClaimState.VALIDATED] * 3 + [ClaimState.PENDING] * 2
    )
    with uow() as u:
        claim = u.claims.get(alice)
    assert claim is not None and (claim.tier, claim.reward_type, claim.reward_amount) == (
        "gold",
        "bonus",
        Decimal("12.5"),
    )
    assert list(dispatcher.activations) == [[alice, bob, carol]]
    assert not dispatcher.validations, "nothing left pending for this promo code: no ring"


def test_ineligible_claims_are_rejected_with_optipromos_reason_or_not_eligible(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    alice, bob, carol = pending_claims(uow, "alice", "bob", "carol")
    validator = FakePromotionValidator(refusals={"bob": "budget_exhausted", "carol": None})

    step = validate(uow, validator, doorbell)

    assert step == ValidationStep("validated", calls=1, validated=1, rejected=2)
    assert claim_states(uow, [alice, bob, carol]) == [
        ClaimState.VALIDATED,
        ClaimState.REJECTED,
        ClaimState.REJECTED,
    ]
    with uow() as u:
        assert u.claims.counts_by_reason() == {"budget_exhausted": 1, NOT_ELIGIBLE: 1}
    assert list(dispatcher.activations) == [[alice]]


def test_a_call_where_nobody_is_eligible_rings_no_activation(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    pending_claims(uow, "alice")
    validator = FakePromotionValidator(refusals={"alice": "audience_cap"})

    assert validate(uow, validator, doorbell) == ValidationStep("validated", calls=1, validated=0, rejected=1)
    assert not dispatcher.activations


def test_calls_take_at_most_max_contexts_claims_oldest_first_until_none_is_pending(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    ids = pending_claims(uow, "a", "b", "c", "d", "e")
    validator = FakePromotionValidator()

    step = validate(uow, validator, doorbell, config=ValidationConfig(max_contexts=2))

    assert [[c.customer_id for c in contexts] for _, contexts, _ in validator.calls] == [
        ["a", "b"], ["c", "d"], ["e"]
    ]  # fmt: skip
    assert (step.calls, step.validated) == (3, 5)
    assert claim_states(uow, ids) == [ClaimState.VALIDATED] * 5


def test_a_turn_gives_its_worker_back_after_its_time_and_rings_for_what_is_left(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    ids = pending_claims(uow, "a", "b", "c", "d", "e")
    config = ValidationConfig(max_contexts=2, turn=timedelta(seconds=10))

    step = validate(uow, FakePromotionValidator(), doorbell, config=config, monotonic=Ticking(step=6.0))

    # Each call takes 6 s here: the second ends past the 10 s turn, and the turn with it.
    assert (step.calls, step.validated) == (2, 4)
    assert claim_states(uow, ids) == [ClaimState.VALIDATED] * 4 + [ClaimState.PENDING]
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)], "the rest wakes another turn"


def test_claims_arriving_while_waiting_for_the_budget_join_the_same_call(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    [alice] = pending_claims(uow, "alice")
    late: list[str] = []
    validator = FakePromotionValidator(
        while_waiting=lambda: late.extend(pending_claims(uow, "bob", "carol")) if not late else None
    )

    step = validate(uow, validator, doorbell, config=ValidationConfig(lease=timedelta(seconds=60)))

    assert step.validated == 3 and len(validator.calls) == 1
    assert validator.budget_waits == [30.0]  # at most half the lease, so the lease outlives the wait
    assert claim_states(uow, [alice, *late]) == [ClaimState.VALIDATED] * 3


@pytest.mark.parametrize(
    ("used", "arrivals", "calls", "polls"),
    [
        (0.9, [2, 2, 2], [[7]], 3),  # scarce: the call waits while claims arrive, until full (7)
        (0.9, [2, 0, 2], [[3]], 2),  # scarce: a poll that finds nothing new sends it
        (0.1, [2, 2, 2], [[1]], 0),  # budget to spare: at once
    ],
)
def test_under_a_scarce_budget_a_call_that_is_not_full_waits_while_claims_keep_arriving(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    used: float,
    arrivals: list[int],
    calls: list[list[int]],
    polls: int,
) -> None:
    pending_claims(uow, "c0")
    names = (f"c{n}" for n in range(1, 100))
    pending_arrivals = iter(arrivals)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        pending_claims(uow, *[next(names) for _ in range(next(pending_arrivals, 0))])

    validator = FakePromotionValidator(used=used)
    config = ValidationConfig(max_contexts=7, fill_when_budget_used=0.5)
    validate_pending(uow, validator, doorbell, config, CAMPAIGN, PROMO, clock=FixedClock(), sleep=sleep)

    assert [[len(contexts)] for _, contexts, _ in validator.calls][:1] == calls
    assert slept == [0.05] * polls


def test_a_transient_error_puts_the_claims_back_releases_the_lock_and_propagates(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    coordination: MemoryCoordination,
    dispatcher: RecordingDispatcher,
    clock: FixedClock,
) -> None:
    alice, bob = pending_claims(uow, "alice", "bob")
    validator = FakePromotionValidator()
    validator.failures.append(OptimoveServerError("503", endpoint="validateCustomers", status=503))

    with pytest.raises(OptimoveServerError):
        validate(uow, validator, doorbell, clock=clock)

    assert claim_states(uow, [alice, bob]) == [ClaimState.PENDING] * 2
    with uow() as u:
        claim = u.claims.get(bob)
    assert claim is not None and (claim.reason, claim.attempts) == (
        "validation retry: OptimoveServerError",
        1,
    )
    assert KEY not in coordination.held and not dispatcher.sent  # the task's retry is the wake-up

    assert validate(uow, validator, doorbell).validated == 2  # the retried task goes through
    assert validator.calls[1][1] == validator.calls[0][1]


def test_a_claim_that_took_part_in_max_attempts_failing_calls_fails(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    [alice] = pending_claims(uow, "alice")
    validator = FakePromotionValidator()
    for _ in range(CONFIG.max_attempts):
        validator.failures.append(OptimoveServerError("503", endpoint="validateCustomers", status=503))

    for attempt in range(1, CONFIG.max_attempts + 1):
        with pytest.raises(OptimoveServerError):
            validate(uow, validator, doorbell)
        expected = ClaimState.FAILED if attempt == CONFIG.max_attempts else ClaimState.PENDING
        assert claim_states(uow, [alice]) == [expected]

    assert validate(uow, validator, doorbell) == ValidationStep("skipped")
    assert len(validator.calls) == CONFIG.max_attempts


def test_a_call_refused_for_good_fails_its_claims_and_the_turn_goes_on(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    ids = pending_claims(uow, "a", "b", "c")
    validator = FakePromotionValidator()
    validator.failures.append(OptimoveAuthError("401", endpoint="validateCustomers", status=401))

    step = validate(uow, validator, doorbell, config=ValidationConfig(max_contexts=2))

    assert (step.calls, step.failed, step.validated) == (2, 2, 1)
    assert claim_states(uow, ids) == [ClaimState.FAILED, ClaimState.FAILED, ClaimState.VALIDATED]
    with uow() as u:
        claim = u.claims.get(ids[0])
    assert claim is not None and claim.reason is not None and claim.reason.startswith("OptimoveAuthError")


def test_with_nothing_pending_the_turn_neither_waits_for_the_budget_nor_calls(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    validator = FakePromotionValidator()

    assert validate(uow, validator, doorbell) == ValidationStep("skipped")
    assert not validator.calls and not validator.budget_waits


def test_a_validator_that_finds_the_lock_taken_leaves_the_door_to_the_holder(
    uow: FakeUnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    coordination: MemoryCoordination,
    dispatcher: RecordingDispatcher,
) -> None:
    [alice] = pending_claims(uow, "alice")
    token = coordination.acquire(KEY, 60)
    assert doorbell.ring(CAMPAIGN, PROMO) and not doorbell.ring(CAMPAIGN, PROMO)
    validator = FakePromotionValidator()

    assert validate(uow, validator, doorbell) == ValidationStep("busy")
    assert not validator.calls and claim_states(uow, [alice]) == [ClaimState.PENDING]
    assert not doorbell.ring(CAMPAIGN, PROMO), "still rung: the holder answers when its turn ends"
    assert coordination.held[KEY] == token and len(dispatcher.validations) == 1


def test_claims_arriving_during_a_turn_cost_no_message_and_the_holder_answers_when_it_ends(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    pending_claims(uow, "alice")
    assert doorbell.ring(CAMPAIGN, PROMO)  # alice's ring woke this validator
    dispatcher.validations.clear()
    arrivals = iter([["bob", "carol"]])  # while the holder waits for the budget

    def meanwhile() -> None:
        for customer in next(arrivals, []):
            pending_claims(uow, customer)
            doorbell.ring(CAMPAIGN, PROMO)

    validator = FakePromotionValidator(while_waiting=meanwhile)
    step = validate(uow, validator, doorbell)

    assert (step.calls, step.validated) == (1, 3)
    assert not dispatcher.validations, "every ring during the turn found the door still rung"
    assert doorbell.ring(CAMPAIGN, PROMO), "answered at the end: the next claim's ring publishes"


def test_claims_another_validator_leased_meanwhile_end_the_turn_without_a_call(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, doorbell: ValidationDoorbell, clock: FixedClock
) -> None:
    [alice] = pending_claims(uow, "alice")

    def another_worker_leases_it() -> None:  # one granted the lock while Redis was away
        with uow() as u:
            u.claims.lease_pending(
                campaign_id=CAMPAIGN, promo_code=PROMO, limit=10, lease=timedelta(minutes=1), now=clock()
            )
            u.commit()

    validator = FakePromotionValidator(while_waiting=another_worker_leases_it)

    assert validate(uow, validator, doorbell) == ValidationStep("skipped")
    assert not validator.calls and db.claims.rows[alice].state == ClaimState.VALIDATING


def test_claims_without_a_promo_code_are_validated_as_the_empty_code(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    coded, uncoded = pending_claims(uow, "alice"), pending_claims(uow, "bob", promo_code=None)
    validator = FakePromotionValidator()

    validate(uow, validator, doorbell, promo_code=None)

    assert [(code, [c.customer_id for c in contexts]) for code, contexts, _ in validator.calls] == [
        ("", ["bob"])
    ]
    assert claim_states(uow, coded + uncoded) == [ClaimState.PENDING, ClaimState.VALIDATED]


def test_a_doorbell_publishes_the_first_ring_only_unless_forced(
    doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    rang = [doorbell.ring(CAMPAIGN, PROMO), doorbell.ring(CAMPAIGN, PROMO), doorbell.ring(CAMPAIGN, "AUTUMN")]
    forced = doorbell.ring_all([(CAMPAIGN, PROMO), (CAMPAIGN, PROMO)], force=True)

    assert rang == [True, False, True] and forced == 1
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO), (CAMPAIGN, "AUTUMN"), (CAMPAIGN, PROMO)]
