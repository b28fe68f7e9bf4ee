"""Validating claims: all pending for the promo code in one call; the ineligible rejected with reasons."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.domain.claims import NOT_ELIGIBLE, ClaimState
from app.domain.optimove_errors import OptimoveServerError
from app.services.validation import ValidationConfig, ValidationStep, validate_pending
from tests.fakes.clock import FixedClock
from tests.fakes.optimove import FakePromotionValidator
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import CAMPAIGN, PROMO, claim_states, pending_claims

CONFIG = ValidationConfig(max_contexts=100, lease=timedelta(seconds=60))


def validate(
    uow: FakeUnitOfWorkFactory,
    validator: FakePromotionValidator,
    dispatcher: RecordingDispatcher,
    claim_id: str,
    *,
    config: ValidationConfig = CONFIG,
    clock: FixedClock | None = None,
) -> ValidationStep:
    return validate_pending(uow, validator, dispatcher, config, claim_id, clock=clock or FixedClock())


def test_a_claim_is_validated_in_one_call_with_every_claim_pending_for_its_campaign_and_promo_code(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    alice, bob, carol = pending_claims(uow, "alice", "bob", "carol")
    [other_code] = pending_claims(uow, "dave", promo_code="AUTUMN")
    [other_campaign] = pending_claims(uow, "erin", campaign_id=2)
    validator = FakePromotionValidator(tier="gold", reward_type="bonus", reward=Decimal("12.5"))

    step = validate(uow, validator, dispatcher, bob)

    assert step == ValidationStep("validated", validated=3, rejected=0)
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


def test_ineligible_claims_are_rejected_with_optipromos_reason_or_not_eligible(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    alice, bob, carol = pending_claims(uow, "alice", "bob", "carol")
    validator = FakePromotionValidator(refusals={"bob": "budget_exhausted", "carol": None})

    step = validate(uow, validator, dispatcher, alice)

    assert step == ValidationStep("validated", validated=1, rejected=2)
    assert claim_states(uow, [alice, bob, carol]) == [
        ClaimState.VALIDATED,
        ClaimState.REJECTED,
        ClaimState.REJECTED,
    ]
    with uow() as u:
        assert u.claims.counts_by_reason() == {"budget_exhausted": 1, NOT_ELIGIBLE: 1}
    assert list(dispatcher.activations) == [[alice]]


def test_a_batch_where_nobody_is_eligible_rings_no_activation(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    [alice] = pending_claims(uow, "alice")
    validator = FakePromotionValidator(refusals={"alice": "audience_cap"})

    assert validate(uow, validator, dispatcher, alice) == ValidationStep("validated", validated=0, rejected=1)
    assert not dispatcher.activations


def test_a_batch_takes_at_most_max_contexts_claims_oldest_first_and_leaves_the_rest_pending(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    ids = pending_claims(uow, "a", "b", "c", "d", "e")
    validator = FakePromotionValidator()

    step = validate(uow, validator, dispatcher, ids[4], config=ValidationConfig(max_contexts=2))

    assert step.validated == 2 and [c.customer_id for c in validator.calls[0][1]] == ["a", "b"]
    assert claim_states(uow, ids) == [ClaimState.VALIDATED] * 2 + [ClaimState.PENDING] * 3


def test_claims_arriving_while_waiting_for_the_budget_join_the_same_call(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    [alice] = pending_claims(uow, "alice")
    late: list[str] = []
    validator = FakePromotionValidator(while_waiting=lambda: late.extend(pending_claims(uow, "bob", "carol")))

    step = validate(uow, validator, dispatcher, alice, config=ValidationConfig(lease=timedelta(seconds=60)))

    assert step.validated == 3 and len(validator.calls) == 1
    assert validator.budget_waits == [30.0]  # at most half the lease, so the lease outlives the wait
    assert claim_states(uow, [alice, *late]) == [ClaimState.VALIDATED] * 3


def test_a_transient_error_puts_the_lease_back_and_propagates(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    alice, bob = pending_claims(uow, "alice", "bob")
    validator = FakePromotionValidator()
    validator.failures.append(OptimoveServerError("503", endpoint="validateCustomers", status=503))

    with pytest.raises(OptimoveServerError):
        validate(uow, validator, dispatcher, alice, clock=clock)

    assert claim_states(uow, [alice, bob]) == [ClaimState.PENDING] * 2
    with uow() as u:
        claim = u.claims.get(bob)
    assert claim is not None and (claim.reason, claim.attempts) == (
        "validation retry: OptimoveServerError",
        1,
    )
    assert not dispatcher.sent

    assert validate(uow, validator, dispatcher, alice).validated == 2  # the retried task goes through
    assert validator.calls[1][1] == validator.calls[0][1]


def test_a_claim_no_longer_pending_is_skipped_without_calling_optipromo(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    [alice] = pending_claims(uow, "alice")
    validator = FakePromotionValidator()
    validate(uow, validator, dispatcher, alice)

    assert validate(uow, validator, dispatcher, alice) == ValidationStep("skipped")  # a redelivered task
    assert validate(uow, validator, dispatcher, "no-such-claim") == ValidationStep("skipped")
    assert len(validator.calls) == 1 and validator.budget_waits == [30.0]


def test_a_claim_whose_batch_another_worker_took_meanwhile_is_skipped(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    [alice] = pending_claims(uow, "alice")

    def another_worker_leases_it() -> None:
        with uow() as u:
            u.claims.lease_pending(
                campaign_id=CAMPAIGN, promo_code=PROMO, limit=10, lease=timedelta(minutes=1), now=clock()
            )
            u.commit()

    validator = FakePromotionValidator(while_waiting=another_worker_leases_it)

    assert validate(uow, validator, dispatcher, alice) == ValidationStep("skipped")
    assert not validator.calls and db.claims.rows[alice].state == ClaimState.VALIDATING


def test_claims_without_a_promo_code_are_validated_as_the_empty_code(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    coded, uncoded = pending_claims(uow, "alice"), pending_claims(uow, "bob", promo_code=None)
    validator = FakePromotionValidator()

    validate(uow, validator, dispatcher, uncoded[0])

    assert [(code, [c.customer_id for c in contexts]) for code, contexts, _ in validator.calls] == [
        ("", ["bob"])
    ]
    assert claim_states(uow, coded + uncoded) == [ClaimState.PENDING, ClaimState.VALIDATED]
