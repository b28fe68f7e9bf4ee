"""Activation through the HTTP activator against the simulated operator platform, on PostgreSQL.

Each grant of a batch is settled on its own (granted, refused, retried, misconfigured); retries are
bounded per claim, whoever re-dispatches the claim; a misconfigured endpoint fails the claim visibly
and a replay completes it once the endpoint is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import Engine

from app.bootstrap import build_activator
from app.clock import utcnow
from app.config import Settings
from app.domain.claims import Claim, ClaimState
from app.domain.rewards import GrantOutcome, RewardGrant
from app.services.claim_recovery import fail_claims, reconcile_claims, retry_failed
from app.services.ports import RewardActivator
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading

MAX_RETRIES = 2
GRANT_OUTCOMES = "promobridge_reward_grants_total"


@pytest.fixture
def operator(simulator: SimulatorServer) -> Iterator[RewardActivator]:
    """The HTTP activator as the composition root builds it, pointed at the simulated platform."""
    settings = Settings(REWARD_ACTIVATOR="http", REWARD_ACTIVATOR_URL=simulator.operator_grants_url)
    activator = build_activator(settings)
    yield activator
    activator.close()


@pytest.fixture
def sim(simulator: SimulatorServer) -> SimControl:
    control = SimControl(simulator.url)
    control.set_operator_faults(latency_ms=0)
    return control


def _customers(
    sim: SimControl, engine: Engine, simulator: SimulatorServer, count: int
) -> tuple[int, list[str]]:
    campaign_id = claim_mode_campaign(engine, simulator, count, no_consent_rate=0, fraud_rate=0)
    return campaign_id, [c["customer_id"] for c in sim.customers(campaign_id)]


def _final(engine: Engine, claim_ids: list[str]) -> dict[str, Claim]:
    with reading(engine) as uow:
        return {c.id: c for c in uow.claims.get_many(claim_ids)}


def _grants_by_claim(sim: SimControl) -> dict[str, dict[str, Any]]:
    return dict(sim.operator_grants()["keys"])


def _grant_outcomes(outcome: str) -> float:
    return REGISTRY.get_sample_value(GRANT_OUTCOMES, {"outcome": outcome}) or 0.0


def test_a_batch_settles_each_grant_so_rewarded_claims_complete_and_only_failing_ones_fail(
    any_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    pg_engine = any_engine  # PostgreSQL, and SQLite for the embedded mode
    campaign_id, customers = _customers(sim, pg_engine, simulator, 10)
    failing = set(customers[2:5])
    sim.set_operator_faults(latency_ms=0, failing_customers=sorted(failing))
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)

    ids = {customer: run.submit(campaign_id, customer).claim.id for customer in customers}
    run.drain()

    final = _final(pg_engine, list(ids.values()))
    grants = _grants_by_claim(sim)
    for customer, claim_id in ids.items():
        claim, grant = final[claim_id], grants[claim_id]
        if customer in failing:
            assert claim.state == ClaimState.FAILED, claim
            assert claim.reason is not None and claim.reason.startswith("activation_unconfirmed: answered 50")
            status = claim.reason.split("answered ")[1][:3]
            assert status in grant["answers"], "the reason is this grant's own last answer"
            assert (grant["attempts"], grant["granted"]) == (MAX_RETRIES + 1, 0)
        else:
            assert claim.state == ClaimState.COMPLETED, claim
            assert (grant["attempts"], grant["granted"]) == (1, 1)
    statuses = sim.statuses(campaign_id)
    assert set(statuses) == set(customers) - failing
    assert all(s["times"] == 1 and s["status"] is True for s in statuses.values())


@pytest.mark.parametrize("status", [401, 403, 407, 302, 404, 400, 418])
def test_a_misconfigured_endpoint_fails_the_claim_visibly_and_a_replay_completes_it_once_fixed(
    pg_engine: Engine,
    simulator: SimulatorServer,
    sim: SimControl,
    operator: RewardActivator,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, force_status=status)
    counted_before = _grant_outcomes("misconfigured")
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)

    claim_id = run.submit(campaign_id, customers[0]).claim.id
    with caplog.at_level(logging.ERROR):
        run.drain()

    failed = _final(pg_engine, [claim_id])[claim_id]
    assert failed.state == ClaimState.FAILED
    assert failed.reason is not None and failed.reason.startswith(
        f"activation_misconfigured: answered {status}"
    )
    assert _grant_outcomes("misconfigured") == counted_before + 1
    assert any("misconfigured" in r.getMessage() and r.levelno == logging.ERROR for r in caplog.records)
    assert _grants_by_claim(sim)[claim_id]["attempts"] == 1, "no retry can change a misconfiguration"

    sim.set_operator_faults(latency_ms=0)
    assert retry_failed(SqlAlchemyUnitOfWorkFactory(pg_engine), run.doorbell, [claim_id]) == [claim_id]
    run.drain()

    assert _final(pg_engine, [claim_id])[claim_id].state == ClaimState.COMPLETED
    assert _grants_by_claim(sim)[claim_id]["granted"] == 1
    assert sim.statuses(campaign_id)[customers[0]]["times"] == 1


@pytest.mark.parametrize("status", [408, 409, 425, 429, 503, 202])
def test_a_transient_answer_is_retried_up_to_the_bound_and_never_counted_granted_nor_refused(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator, status: int
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, force_status=status)
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)

    claim_id = run.submit(campaign_id, customers[0]).claim.id
    run.drain()

    claim = _final(pg_engine, [claim_id])[claim_id]
    assert claim.state == ClaimState.FAILED
    assert claim.reason is not None and claim.reason.startswith(f"activation_unconfirmed: answered {status}")
    assert _grants_by_claim(sim)[claim_id]["attempts"] == MAX_RETRIES + 1
    assert sim.statuses(campaign_id) == {}


def test_a_409_while_the_same_key_is_in_flight_is_retried_and_the_claim_then_completes(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, force_status=409)
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)
    claim_id = run.submit(campaign_id, customers[0]).claim.id
    run.drain_validations_and_one_activation_round()

    assert _final(pg_engine, [claim_id])[claim_id].state == ClaimState.VALIDATED
    sim.set_operator_faults(latency_ms=0)
    run.drain()

    assert _final(pg_engine, [claim_id])[claim_id].state == ClaimState.COMPLETED
    grant = _grants_by_claim(sim)[claim_id]
    assert (grant["attempts"], grant["granted"], grant["answers"]) == (2, 1, {"409": 1, "201": 1})


def test_a_422_rejects_the_claim_with_the_platforms_reason_and_is_not_retried(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, rate_refuse=1.0)
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)

    claim_id = run.submit(campaign_id, customers[0]).claim.id
    run.drain()

    claim = _final(pg_engine, [claim_id])[claim_id]
    assert claim.state == ClaimState.REJECTED
    assert claim.reason == "activation_refused: refused by the simulated platform"
    assert _grants_by_claim(sim)[claim_id]["attempts"] == 1
    assert sim.statuses(campaign_id) == {}


def test_a_grant_is_posted_at_most_max_retries_plus_one_times_even_when_the_reconciler_keeps_redispatching(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 6)
    sim.set_operator_faults(latency_ms=0, failing_customers=[customers[0]], rate_applied_lost=0.3, seed=3)
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES, reconcile=True)

    ids = [run.submit(campaign_id, customer).claim.id for customer in customers]
    run.drain()

    grants = _grants_by_claim(sim)
    final = _final(pg_engine, ids)
    assert grants[ids[0]]["attempts"] == MAX_RETRIES + 1
    assert final[ids[0]].state == ClaimState.FAILED
    assert all(grants[claim_id]["attempts"] <= MAX_RETRIES + 1 for claim_id in ids)
    assert all(grants[claim_id]["granted"] <= 1 for claim_id in ids)
    completed = [claim_id for claim_id in ids[1:] if final[claim_id].state == ClaimState.COMPLETED]
    assert all(grants[claim_id]["granted"] == 1 for claim_id in completed)
    assert {final[claim_id].state for claim_id in ids[1:]} <= {ClaimState.COMPLETED, ClaimState.FAILED}
    statuses = sim.statuses(campaign_id)
    assert all(s["times"] == 1 for s in statuses.values())


def test_a_scheduled_retry_is_left_to_its_task_until_it_is_due_then_the_reconciler_takes_over(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, rate_5xx=1.0, retry_after_seconds=30)
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)
    claim_id = run.submit(campaign_id, customers[0]).claim.id

    result = run.drain_validations_and_one_activation_round()
    now = utcnow()

    assert result.retry == (claim_id,) and result.retry_after == 30
    assert 30 <= result.retry_in_seconds <= 60, "Retry-After is the floor, RETRY_BACKOFF_MAX_SECONDS the cap"
    claim = _final(pg_engine, [claim_id])[claim_id]
    assert (claim.state, claim.activation_attempts) == (ClaimState.VALIDATED, 1)
    assert claim.reason is not None and claim.reason.startswith("activation_retry: answered 50")
    stale = timedelta(seconds=60)
    before_due = now + stale + timedelta(seconds=1)
    after_due = now + timedelta(seconds=result.retry_in_seconds) + stale + timedelta(seconds=1)
    assert (
        reconcile_claims(
            SqlAlchemyUnitOfWorkFactory(pg_engine),
            run.doorbell,
            stale_after=stale,
            clock=lambda: before_due,
        )
        == 0
    )
    assert (
        reconcile_claims(
            SqlAlchemyUnitOfWorkFactory(pg_engine), run.doorbell, stale_after=stale, clock=lambda: after_due
        )
        == 1
    )


class WorkerDied(Exception):
    """Stands in for a worker killed after its grant request went out."""


class DiesAfterPosting:
    """Sends the grants for real, then dies before their outcomes can be recorded."""

    name = "http"

    def __init__(self, activator: RewardActivator) -> None:
        self.activator = activator

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        self.activator.grant(grants)
        raise WorkerDied

    def record(self, conn: Any, grants: Sequence[RewardGrant], now: datetime) -> None:
        """Nothing kept locally."""

    def close(self) -> None:
        """The wrapped activator is closed by its owner."""


def test_a_claim_whose_last_attempt_died_unrecorded_fails_without_another_post(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    sim.set_operator_faults(latency_ms=0, failing_customers=[customers[0]])
    run = InProcessClaims(pg_engine, simulator, activator=operator, max_retries=MAX_RETRIES)
    claim_id = run.submit(campaign_id, customers[0]).claim.id
    run.drain_validations_and_one_activation_round()
    for _ in range(MAX_RETRIES - 1):
        run.activate(run.dispatcher.activations.popleft())

    run.activator = DiesAfterPosting(operator)
    with pytest.raises(WorkerDied):
        run.activate(run.dispatcher.activations.popleft())
    run.activator = operator
    reconcile_claims(
        SqlAlchemyUnitOfWorkFactory(pg_engine),
        run.doorbell,
        stale_after=timedelta(0),
        clock=lambda: utcnow() + timedelta(hours=1),
    )
    run.drain()

    claim = _final(pg_engine, [claim_id])[claim_id]
    assert claim.state == ClaimState.FAILED
    assert claim.reason is not None and claim.reason.startswith("activation_unconfirmed: answered 50")
    assert claim.reason.endswith(f"after {MAX_RETRIES + 1} attempts")
    assert _grants_by_claim(sim)[claim_id]["attempts"] == MAX_RETRIES + 1


class GivenUpWhileGranting:
    """Grants for real, while another worker gives the same claims up (fails them) meanwhile."""

    name = "http"

    def __init__(self, activator: RewardActivator, engine: Engine) -> None:
        self.activator = activator
        self.engine = engine

    def grant(self, grants: Sequence[RewardGrant]) -> list[GrantOutcome]:
        outcomes = self.activator.grant(grants)
        fail_claims(
            SqlAlchemyUnitOfWorkFactory(self.engine),
            [g.claim_id for g in grants],
            reason="given up by another worker",
        )
        return outcomes

    def record(self, conn: Any, grants: Sequence[RewardGrant], now: datetime) -> None:
        """Nothing kept locally."""

    def close(self) -> None:
        """The wrapped activator is closed by its owner."""


def test_a_grant_confirmed_after_its_claim_was_given_up_still_activates_and_reports_it(
    pg_engine: Engine, simulator: SimulatorServer, sim: SimControl, operator: RewardActivator
) -> None:
    campaign_id, customers = _customers(sim, pg_engine, simulator, 3)
    run = InProcessClaims(pg_engine, simulator, activator=GivenUpWhileGranting(operator, pg_engine))

    claim_id = run.submit(campaign_id, customers[0]).claim.id
    run.drain()

    claim = _final(pg_engine, [claim_id])[claim_id]
    assert (claim.state, claim.reason) == (ClaimState.COMPLETED, None)
    assert sim.statuses(campaign_id)[customers[0]]["times"] == 1
