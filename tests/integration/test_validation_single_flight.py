"""Single-flight validation per (campaign, promo code), on PostgreSQL against the simulator over HTTP.

One wake-up per burst, one validator at a time, full calls under a scarce budget, and no claim left
behind when a validator finds the lock taken, fails, or dies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from app.adapters.optimove.optipromo import OptiPromoClient
from app.adapters.ratelimit import UnlimitedLimiter
from app.clock import utcnow
from app.domain.claims import ClaimState
from app.domain.optimove import ValidationContext, ValidationResult
from app.domain.optimove_errors import OptimoveServerError
from app.services.claim_recovery import reconcile_claims
from app.services.validation import ValidationStep, flight_key, validate_pending
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading


def _eligible(sim: SimControl, campaign_id: int) -> list[str]:
    return [
        c["customer_id"] for c in sim.customers(campaign_id) if expected_scrub_reason(c["attributes"]) is None
    ]


def _states(engine: Engine, claim_ids: Sequence[str]) -> dict[ClaimState, int]:
    with reading(engine) as uow:
        claims = uow.claims.get_many(claim_ids)
    counts: dict[ClaimState, int] = {}
    for claim in claims:
        counts[claim.state] = counts.get(claim.state, 0) + 1
    return counts


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimControl:
    return SimControl(simulator.url)


def test_a_burst_rings_once_and_one_turn_fills_whole_calls(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 300, no_consent_rate=0, fraud_rate=0)
    customers = _eligible(sim, campaign_id)[:250]
    run = InProcessClaims(pg_engine, simulator, max_contexts=100)

    claims = [run.submit(campaign_id, customer).claim.id for customer in customers]

    assert len(run.dispatcher.validations) == 1, "250 claims, one wake-up: nobody answered the door yet"
    step = run.validate(run.dispatcher.validations.popleft())
    assert (step.outcome, step.calls, step.validated) == ("validated", 3, 250)
    assert sim.state()["requests"]["validateCustomers"] == 3  # 100 + 100 + 50
    assert _states(pg_engine, claims) == {ClaimState.VALIDATED: 250}
    assert not run.dispatcher.validations, "nothing was left pending, so nothing rang again"


def test_a_validator_that_finds_the_lock_taken_leaves_and_the_holder_takes_its_claims(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    first, late = _eligible(sim, campaign_id)[:2]
    run = InProcessClaims(pg_engine, simulator)
    first_claim = run.submit(campaign_id, first).claim
    target = run.dispatcher.validations.popleft()
    late_claims: list[str] = []

    class SubmitsWhileValidating:
        """The holder's call is in flight when another claim arrives and its validator runs."""

        def __init__(self, inner: OptiPromoClient) -> None:
            self.inner = inner
            self.busy: list[ValidationStep] = []

        def wait_for_budget(self, *, max_seconds: float) -> float:
            return 0.0

        def budget_used(self) -> float:
            return 0.0

        def validate_customers(
            self, promo_code: str, contexts: Sequence[ValidationContext], *, campaign_id: int
        ) -> list[ValidationResult]:
            if not late_claims:
                late_claims.append(run.submit(campaign_id, late).claim.id)
                assert not run.dispatcher.validations, (
                    "the door is still rung: the late claim costs no message"
                )
                self.busy.append(run.validate(target))  # a wake-up the holder's turn overlaps (a redelivery)
            return self.inner.validate_customers(promo_code, contexts, campaign_id=campaign_id)

    holder = SubmitsWhileValidating(run.optipromo)
    step = validate_pending(run.uow, holder, run.doorbell, run.validation, *target)

    assert [s.outcome for s in holder.busy] == ["busy"]
    assert (step.calls, step.validated) == (2, 2), "the holder looked again and took the late claim"
    assert _states(pg_engine, [first_claim.id, *late_claims]) == {ClaimState.VALIDATED: 2}
    assert flight_key(*target) not in run.coordination.held


def test_transient_failures_put_claims_back_until_their_attempts_run_out(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    run = InProcessClaims(pg_engine, simulator, max_retries=2)
    claims = [run.submit(campaign_id, customer).claim.id for customer in _eligible(sim, campaign_id)[:5]]
    target = run.dispatcher.validations.popleft()
    sim.set_faults(rate_5xx=1.0, endpoints=["validateCustomers"])

    for attempt in range(1, 4):
        with pytest.raises(OptimoveServerError):
            run.validate(target)
        expected = ClaimState.FAILED if attempt == 3 else ClaimState.PENDING
        assert _states(pg_engine, claims) == {expected: 5}, f"after attempt {attempt}"
        assert flight_key(*target) not in run.coordination.held, "the lock is given back on failure"

    with reading(pg_engine) as uow:
        reasons = {c.reason for c in uow.claims.get_many(claims)}
    assert len(reasons) == 1 and reasons.pop().startswith("OptimoveServerError")  # type: ignore[union-attr]
    assert run.validate(target).outcome == "skipped"


def test_a_call_refused_for_good_fails_its_claims_visibly(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    run = InProcessClaims(pg_engine, simulator)
    run.optipromo = OptiPromoClient(
        base_url=simulator.optipromo_url,
        api_key="not-our-key",
        rate_limiter=UnlimitedLimiter(),
        timeout_seconds=5,
    )
    claims = [run.submit(campaign_id, customer).claim.id for customer in _eligible(sim, campaign_id)[:3]]

    step = run.validate(run.dispatcher.validations.popleft())

    assert (step.outcome, step.calls, step.failed) == ("validated", 1, 3)
    assert _states(pg_engine, claims) == {ClaimState.FAILED: 3}


def test_under_a_scarce_budget_the_claims_that_arrive_during_the_wait_join_the_call(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 60, no_consent_rate=0, fraud_rate=0)
    customers = _eligible(sim, campaign_id)[:40]
    run = InProcessClaims(pg_engine, simulator)
    run.submit(campaign_id, customers[0])
    arriving = iter(customers[1:])

    def arrive(count: int) -> None:
        for customer in [next(arriving, None) for _ in range(count)]:
            if customer is not None:
                run.submit(campaign_id, customer)

    class ScarceBudget:
        """6 claims come in while a call is in flight, 7 more while the next waits for its slot."""

        def __init__(self, inner: OptiPromoClient) -> None:
            self.inner = inner

        def wait_for_budget(self, *, max_seconds: float) -> float:
            arrive(7)
            return 1.0

        def budget_used(self) -> float:
            return 0.0  # below the fill threshold: each call takes what is there

        def validate_customers(
            self, promo_code: str, contexts: Sequence[ValidationContext], *, campaign_id: int
        ) -> list[ValidationResult]:
            sizes.append(len(contexts))
            answers = self.inner.validate_customers(promo_code, contexts, campaign_id=campaign_id)
            arrive(6)
            return answers

    sizes: list[int] = []
    step = validate_pending(
        run.uow,
        ScarceBudget(run.optipromo),
        run.doorbell,
        run.validation,
        *run.dispatcher.validations.popleft(),
    )

    assert sizes == [8, 13, 13, 6], "every call carried all that arrived before its slot came"
    assert step.validated == 40


def test_a_validator_that_died_holding_a_lease_is_replaced_at_once_by_the_reconciler(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    run = InProcessClaims(pg_engine, simulator)
    claims = [run.submit(campaign_id, customer).claim.id for customer in _eligible(sim, campaign_id)[:4]]
    target = run.dispatcher.validations.popleft()
    with SqlAlchemyUnitOfWorkFactory(pg_engine)() as uow:  # the dead worker's lease, and its lock
        uow.claims.lease_pending(
            campaign_id=target[0], promo_code=target[1], limit=100, lease=timedelta(seconds=60), now=utcnow()
        )
        uow.commit()
    run.coordination.acquire(flight_key(*target), 60)
    run.coordination.ring(flight_key(*target), 5)  # the ring its claims made is still pending

    later = utcnow() + timedelta(seconds=61)
    run.coordination.expire(flight_key(*target))  # the lock's time-to-live ran out with the lease
    run.coordination.ring(flight_key(*target), 5)  # ...but a lost ring may still be remembered
    moved = reconcile_claims(run.uow, run.doorbell, stale_after=timedelta(minutes=10), clock=lambda: later)

    assert moved == 4
    assert list(run.dispatcher.validations) == [target], "forced: recovery does not trust an old ring"
    run.drain()
    assert _states(pg_engine, claims) == {ClaimState.COMPLETED: 4}


def test_with_coordination_unavailable_every_ring_publishes_and_claims_still_complete(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    run = InProcessClaims(pg_engine, simulator)
    run.coordination.unavailable = True
    claims = [run.submit(campaign_id, customer).claim.id for customer in _eligible(sim, campaign_id)[:6]]

    assert len(run.dispatcher.validations) == 6
    run.drain()

    assert _states(pg_engine, claims) == {ClaimState.COMPLETED: 6}
    assert [s.outcome for s in run.validation_results] == ["validated"] + ["skipped"] * 5


class Budget:
    """OptiPromo behind a budget whose window is `used` spent; records each call's size."""

    def __init__(self, inner: OptiPromoClient, used: float) -> None:
        self.inner, self.used, self.sizes = inner, used, list[int]()

    def wait_for_budget(self, *, max_seconds: float) -> float:
        return 0.0

    def budget_used(self) -> float:
        return self.used

    def validate_customers(
        self, promo_code: str, contexts: Sequence[ValidationContext], *, campaign_id: int
    ) -> list[ValidationResult]:
        self.sizes.append(len(contexts))
        return self.inner.validate_customers(promo_code, contexts, campaign_id=campaign_id)


@pytest.mark.parametrize(
    ("used", "arrivals_per_poll", "fill_wait_ms", "size", "polls"),
    [
        (0.9, [5, 5, 5, 5], 1000, 20, 3),  # scarce: the call waits while claims arrive, until full
        (0.9, [3, 0, 9], 1000, 8, 2),  # scarce: it goes as soon as a poll finds nothing new
        (0.9, [1] * 40, 200, 9, 4),  # scarce: never past the fill wait (200 ms: 4 polls of 50 ms)
        (0.1, [5, 5, 5, 5], 1000, 5, 0),  # budget to spare: the call goes at once
    ],
)
def test_under_a_scarce_budget_a_call_fills_up_while_claims_keep_arriving(
    pg_engine: Engine,
    simulator: SimulatorServer,
    sim: SimControl,
    used: float,
    arrivals_per_poll: list[int],
    fill_wait_ms: int,
    size: int,
    polls: int,
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 80, no_consent_rate=0, fraud_rate=0)
    customers = iter(_eligible(sim, campaign_id))
    run = InProcessClaims(pg_engine, simulator, max_contexts=20)
    run.validation = replace(run.validation, fill_wait=timedelta(milliseconds=fill_wait_ms))
    for customer in [next(customers) for _ in range(5)]:
        run.submit(campaign_id, customer)
    target = run.dispatcher.validations.popleft()
    arrivals, slept, clock = iter(arrivals_per_poll), list[float](), [0.0]

    def sleep(seconds: float) -> None:  # a poll interval passes, and some claims arrive during it
        slept.append(seconds)
        clock[0] += seconds
        for customer in [next(customers) for _ in range(next(arrivals, 0))]:
            run.submit(campaign_id, customer)

    budget = Budget(run.optipromo, used)
    step = validate_pending(
        run.uow, budget, run.doorbell, run.validation, *target, monotonic=lambda: clock[0], sleep=sleep
    )

    assert budget.sizes == [size] and step.validated == size
    assert len(slept) == polls
