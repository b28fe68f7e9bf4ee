"""Flow C in-process on PostgreSQL against the simulator over HTTP: submit, validate, activate, report."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.domain.claims import ClaimState
from app.services import claims as claim_service
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import reading


def _eligible_and_scrubbed(sim: SimControl, campaign_id: int) -> tuple[list[str], list[str]]:
    customers = sim.customers(campaign_id)
    eligible = [c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]) is None]
    scrubbed = [c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]) is not None]
    return eligible, scrubbed


def test_claims_are_validated_in_batches_rewarded_once_and_reported_once(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 400, no_consent_rate=0.1, fraud_rate=0.05)
    eligible, scrubbed = _eligible_and_scrubbed(sim, campaign_id)
    run = InProcessClaims(pg_engine, simulator, max_contexts=50)

    submitted = [run.submit(campaign_id, customer) for customer in eligible[:120]]
    rejected_at_once = run.submit(campaign_id, scrubbed[0])
    outsider = run.submit(campaign_id, "not-a-customer")
    run.drain()

    assert rejected_at_once.claim.state == ClaimState.REJECTED and rejected_at_once.claim.reason.startswith(
        "scrubbed:"
    )
    assert outsider.claim.state == ClaimState.REJECTED and outsider.claim.reason == "not_in_audience"
    with reading(pg_engine) as uow:
        final = {c.id: c for c in uow.claims.get_many([s.claim.id for s in submitted])}
        credits = uow.activations.credits_per_claim()
    assert {c.state for c in final.values()} == {ClaimState.COMPLETED}
    assert credits == dict.fromkeys(final, 1)
    # 120 pending claims went out in batches of at most 50 contexts, not 120 calls.
    state = sim.state()
    assert state["requests"]["validateCustomers"] == 3
    statuses = sim.statuses(campaign_id)
    assert set(statuses) == set(eligible[:120]) and all(s["times"] == 1 for s in statuses.values())
    assert not set(statuses) & {scrubbed[0], "not-a-customer"}
    gold = [c for c in final.values() if c.segment == "gold"]
    assert gold and all(
        c.granted_amount == (c.reward_amount * Decimal("1.5")).quantize(Decimal("0.01")) for c in gold
    )


def test_double_clicks_and_replays_produce_one_reward(pg_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 50, no_consent_rate=0, fraud_rate=0)
    customer = sim.customers(campaign_id)[0]["customer_id"]
    run = InProcessClaims(pg_engine, simulator)

    first = run.submit(campaign_id, customer, key="click-1")
    again_same_key = run.submit(campaign_id, customer, key="click-1")
    again_other_key = run.submit(campaign_id, customer, key="click-2")
    again_no_key = run.submit(campaign_id, customer)
    run.drain()
    replay_after = run.submit(campaign_id, customer, key="click-1")
    run.drain()

    ids = {s.claim.id for s in (first, again_same_key, again_other_key, again_no_key, replay_after)}
    assert ids == {first.claim.id} and first.created and not again_other_key.created
    with reading(pg_engine) as uow:
        assert uow.activations.credits_per_claim() == {first.claim.id: 1}
    assert sim.statuses(campaign_id)[customer]["times"] == 1


def test_an_idempotency_key_reused_for_another_body_is_a_conflict(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    first, second = (c["customer_id"] for c in sim.customers(campaign_id)[:2])
    run = InProcessClaims(pg_engine, simulator)
    run.submit(campaign_id, first, key="k1")
    with pytest.raises(claim_service.IdempotencyConflict):
        run.submit(campaign_id, second, key="k1")
    with pytest.raises(claim_service.IdempotencyConflict):
        run.submit(campaign_id, first, key="k1", session={"deposit_amount": 5})


def test_budget_exhausted_and_not_eligible_end_as_rejected_with_the_reason(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 30, no_consent_rate=0, fraud_rate=0)
    promo = sim.state()["campaigns"][str(campaign_id)]["promo_code"]
    sim._call("POST", "/promotions", json={"promocode_id": promo, "audience_cap": 2})
    customers = [c["customer_id"] for c in sim.customers(campaign_id)[:5]]
    run = InProcessClaims(pg_engine, simulator)
    submitted = [run.submit(campaign_id, customer) for customer in customers]
    run.drain()
    with reading(pg_engine) as uow:
        final = uow.claims.get_many([s.claim.id for s in submitted])
    assert sorted(c.state.value for c in final) == ["completed"] * 2 + ["rejected"] * 3
    assert {c.reason for c in final if c.state == ClaimState.REJECTED} == {"optipromo:audience_cap_reached"}


def test_each_refusal_of_optipromo_reaches_the_claim_in_promobridges_words(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 10, no_consent_rate=0, fraud_rate=0)
    promo = sim.state()["campaigns"][str(campaign_id)]["promo_code"]
    a, b, c, d, e = (customer["customer_id"] for customer in sim.customers(campaign_id)[:5])
    reward = {"type": "free_spins", "amount": 10}
    big_deposits = {"name": "big", "when": {"session": {"deposit_amount": {"gte": 10}}}, "reward": reward}
    run = InProcessClaims(pg_engine, simulator)

    def claim(customer: str, deposit: int, **promotion: object) -> str:
        sim._call("POST", "/promotions", json={"promocode_id": promo, **promotion})
        submitted = run.submit(campaign_id, customer, session={"deposit_amount": deposit})
        run.drain()
        with reading(pg_engine) as uow:
            stored = uow.claims.get(submitted.claim.id)
        assert stored is not None
        return f"{stored.state}: {stored.reason}"

    assert claim(a, 20, tiers=[big_deposits], audience_cap=1) == "completed: None"
    # The promotion is replaced below, so each refusal starts from fresh usage but the same rules.
    assert claim(b, 5, tiers=[big_deposits]) == "rejected: optipromo:not_eligible"
    assert claim(c, 20, tiers=[big_deposits], audience_cap=0) == "rejected: optipromo:audience_cap_reached"
    assert (
        claim(d, 20, tiers=[big_deposits], reward_budget=5) == "rejected: optipromo:reward_budget_exhausted"
    )
    assert claim(e, 20, tiers=[big_deposits], active=False) == "rejected: optipromo:promotion_inactive"


def test_claims_on_an_auto_or_unknown_campaign_are_refused_and_write_nothing(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    run = InProcessClaims(pg_engine, simulator)
    with pytest.raises(claim_service.UnknownCampaign):
        run.submit(424242, "someone")
    with reading(pg_engine) as uow:
        assert uow.claims.counts_by_state() == {}
