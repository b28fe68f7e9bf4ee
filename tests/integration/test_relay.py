"""The outbox relay on real databases, sending to the simulator over HTTP."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from app.adapters.db.tables import campaigns as campaigns_table
from app.adapters.optimove.client import OptimoveClient
from app.clock import utcnow
from app.domain.backoff import Backoff
from app.domain.campaigns import CampaignState
from app.domain.claims import ClaimRequest, ClaimState
from app.domain.optimove import PromoStatus
from app.services.relay import RelayConfig, relay_once
from simulator.server import SimulatorServer
from tests.support.claims_flow import claim_mode_campaign, submit_directly
from tests.support.flow import InProcessFlow, ingest_config, simulator_client, webhook_payload
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

FAST_RETRY = RelayConfig(batch_size=1000, max_attempts=3, backoff=Backoff(0.01, 0.02))


def _ingested_campaign(engine: Engine, sim_server: SimulatorServer, size: int) -> int:
    sim = SimControl(sim_server.url)
    campaign_id = int(sim.create_campaign(size, no_consent_rate=0.1, fraud_rate=0.05)["campaign_id"])
    flow = InProcessFlow(engine, simulator_client(sim_server.optimove_url), ingest_config(page_size=1000))
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    return campaign_id


def _drain(engine: Engine, sim_server: SimulatorServer, config: RelayConfig = FAST_RETRY) -> list[str]:
    client = simulator_client(sim_server.optimove_url)
    outcomes = []
    for _ in range(100):
        result = relay_once(
            SqlAlchemyUnitOfWorkFactory(engine), client, config, clock=lambda: utcnow() + timedelta(hours=1)
        )
        if result is None:
            return outcomes
        outcomes.append(result.outcome)
    raise AssertionError("the relay did not drain the outbox")


def test_relay_approves_every_eligible_customer_once_in_batches(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = _ingested_campaign(any_engine, simulator, 2500)
    with reading(any_engine) as uow:
        eligible = uow.campaigns.get(campaign_id).eligible_count  # type: ignore[union-attr]

    outcomes = _drain(any_engine, simulator)

    assert outcomes == ["sent"] * 3  # 2,500 customers minus scrubbed, in batches of at most 1,000
    statuses = SimControl(simulator.url).statuses(campaign_id)
    assert len(statuses) == eligible
    assert all(s["status"] is True and s["times"] == 1 for s in statuses.values())
    with reading(any_engine) as uow:
        campaign = uow.campaigns.get(campaign_id)
        assert campaign is not None
        assert (campaign.state, campaign.approved_count, campaign.approval_calls) == (
            CampaignState.APPROVED,
            eligible,
            3,
        )


def test_transient_failures_are_retried_with_backoff_then_sent(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 500)
    sim = SimControl(simulator.url)
    sim.set_faults(rate_5xx=1.0, endpoints=["UpdateCustomerPromotionStatus"])
    client = simulator_client(simulator.optimove_url)
    config = RelayConfig(batch_size=1000, max_attempts=5, backoff=Backoff(30, 60))

    result = relay_once(SqlAlchemyUnitOfWorkFactory(pg_engine), client, config, rng=random.Random(1))
    assert result is not None and result.outcome == "retry"
    assert (
        relay_once(SqlAlchemyUnitOfWorkFactory(pg_engine), client, config) is None
    )  # backing off: nothing is due yet
    with reading(pg_engine) as uow:
        assert uow.outbox.stats(campaign_id).pending > 0

    sim.clear_faults()
    outcomes = _drain(pg_engine, simulator, config)
    assert outcomes == ["sent"]
    statuses = sim.statuses(campaign_id)
    assert all(s["times"] == 1 for s in statuses.values())


def test_ambiguous_failures_are_resent_and_counted(pg_engine: Engine, simulator: SimulatorServer) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 400)
    sim = SimControl(simulator.url)
    sim.set_faults(rate_applied_lost=1.0, endpoints=["UpdateCustomerPromotionStatus"])
    client = simulator_client(simulator.optimove_url)
    assert relay_once(SqlAlchemyUnitOfWorkFactory(pg_engine), client, FAST_RETRY).outcome == "retry"  # type: ignore[union-attr]
    sim.clear_faults()

    assert _drain(pg_engine, simulator) == ["sent"]

    statuses = sim.statuses(campaign_id)
    assert {s["times"] for s in statuses.values()} == {2}
    with reading(pg_engine) as uow:
        stats = uow.outbox.stats(campaign_id)
        campaign = uow.campaigns.get(campaign_id)
    assert stats.resent == len(statuses)
    assert campaign is not None and campaign.resent_count == len(statuses)


def test_permanent_errors_dead_letter_the_batch_without_retrying(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 300)
    wrong_key = simulator_client(simulator.optimove_url, api_key="revoked-key")

    result = relay_once(SqlAlchemyUnitOfWorkFactory(pg_engine), wrong_key, FAST_RETRY)

    assert result is not None and result.outcome == "dead"
    with reading(pg_engine) as uow:
        stats = uow.outbox.stats(campaign_id)
        campaign = uow.campaigns.get(campaign_id)
    assert stats.pending == 0 and stats.dead > 0
    assert campaign is not None and "OptimoveAuthError" in (campaign.error or "")


def test_two_relays_claim_disjoint_batches(pg_engine: Engine, simulator: SimulatorServer) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 2500)
    lease = timedelta(seconds=60)
    with reading(pg_engine) as first, reading(pg_engine) as second:  # two transactions open at once
        batch_a = first.outbox.claim_batch(now=utcnow(), limit=1000, lease=lease)
        batch_b = second.outbox.claim_batch(now=utcnow(), limit=1000, lease=lease)
        assert batch_a is not None and batch_b is not None
        ids_a = {c for c, _ in batch_a.customers}
        ids_b = {c for c, _ in batch_b.customers}
        assert ids_a and ids_b and not ids_a & ids_b
    assert batch_a.campaign_id == batch_b.campaign_id == campaign_id


def test_a_stale_lease_cannot_mark_rows_sent(pg_engine: Engine, simulator: SimulatorServer) -> None:
    _ingested_campaign(pg_engine, simulator, 200)
    with writing(pg_engine) as uow:
        stale = uow.outbox.claim_batch(now=utcnow(), limit=1000, lease=timedelta(seconds=1))
    assert stale is not None
    later = utcnow() + timedelta(seconds=5)
    with writing(pg_engine) as uow:
        fresh = uow.outbox.claim_batch(now=later, limit=1000, lease=timedelta(seconds=60))
    assert fresh is not None
    with writing(pg_engine) as uow:
        assert uow.outbox.mark_sent(stale, now=later) == 0
        assert uow.outbox.mark_sent(fresh, now=later) == len(fresh.customers)


@pytest.mark.parametrize("deadline_in", [timedelta(seconds=30), timedelta(hours=2)])
def test_the_most_urgent_campaign_is_sent_first(
    pg_engine: Engine, simulator: SimulatorServer, deadline_in: timedelta
) -> None:
    relaxed = _ingested_campaign(pg_engine, simulator, 100)
    urgent = _ingested_campaign(pg_engine, simulator, 100)
    with writing(pg_engine) as uow:
        uow.connection.execute(
            update(campaigns_table)
            .where(campaigns_table.c.id == urgent)
            .values(clearance_required_by=utcnow() + deadline_in)
        )
        uow.connection.execute(
            update(campaigns_table)
            .where(campaigns_table.c.id == relaxed)
            .values(clearance_required_by=utcnow() + timedelta(hours=3))
        )
    result = relay_once(
        SqlAlchemyUnitOfWorkFactory(pg_engine), simulator_client(simulator.optimove_url), FAST_RETRY
    )
    assert result is not None and result.campaign_id == urgent


def test_a_batch_whose_relay_died_mid_call_is_resent_and_counted(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 100)
    with writing(
        pg_engine
    ) as uow:  # a relay leases the batch, calls Optimove, and dies before marking it sent
        dead = uow.outbox.claim_batch(now=utcnow(), limit=1000, lease=timedelta(seconds=1))
    assert dead is not None
    client = simulator_client(simulator.optimove_url)
    from app.domain.optimove import PromoStatus

    client.update_customer_promotion_status(campaign_id, [PromoStatus(c, s) for c, s in dead.customers])

    outcomes = _drain(pg_engine, simulator)  # the lease expires; another relay sends the rows again

    assert outcomes == ["sent"]
    with reading(pg_engine) as uow:
        stats = uow.outbox.stats(campaign_id)
        campaign = uow.campaigns.get(campaign_id)
    assert stats.resent == len(dead.customers) == campaign.resent_count  # type: ignore[union-attr]
    assert {s["times"] for s in SimControl(simulator.url).statuses(campaign_id).values()} == {2}


class ScarceBudget:
    """The simulator's Optimove, behind a budget whose window is `used` spent."""

    def __init__(self, inner: OptimoveClient, used: float) -> None:
        self.inner, self.used = inner, used

    def wait_for_budget(self, *, max_seconds: float) -> float:
        return 0.0

    def budget_used(self) -> float:
        return self.used

    def update_customer_promotion_status(
        self, campaign_id: int, statuses: Sequence[PromoStatus], *, timestamp: datetime | None = None
    ) -> int:
        return self.inner.update_customer_promotion_status(campaign_id, statuses, timestamp=timestamp)


def _a_claim_on_its_way(engine: Engine, sim_server: SimulatorServer) -> None:
    claims_campaign = claim_mode_campaign(engine, sim_server, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(sim_server.url).customers(claims_campaign)[0]["customer_id"]
    assert (
        submit_directly(engine, ClaimRequest(claims_campaign, customer, {})).claim.state == ClaimState.PENDING
    )


def test_while_the_budget_is_scarce_and_claims_are_on_their_way_statuses_wait_for_a_full_batch_or_the_linger(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = _ingested_campaign(pg_engine, simulator, 300)  # about 250 eligible rows, fewer than a batch
    _a_claim_on_its_way(pg_engine, simulator)
    client = ScarceBudget(simulator_client(simulator.optimove_url), used=0.8)
    lingering = RelayConfig(batch_size=1000, linger=timedelta(seconds=30))
    uow = SqlAlchemyUnitOfWorkFactory(pg_engine)

    assert relay_once(uow, client, lingering) is None  # young rows, no full batch: hold them
    full_batch = RelayConfig(batch_size=100, linger=timedelta(seconds=30))
    sent = relay_once(uow, client, full_batch)  # a full batch is waiting: send it now
    assert sent is not None and sent.customers == 100
    later = relay_once(uow, client, lingering, clock=lambda: utcnow() + timedelta(seconds=31))
    assert later is not None and later.outcome == "sent"  # the linger is over
    with reading(pg_engine) as uow_:
        assert uow_.outbox.stats(campaign_id).pending == 0


@pytest.mark.parametrize(("used", "claim_on_its_way"), [(0.3, True), (0.8, False)])
def test_with_budget_to_spare_or_nothing_more_coming_statuses_go_at_once(
    pg_engine: Engine, simulator: SimulatorServer, used: float, claim_on_its_way: bool
) -> None:
    _ingested_campaign(pg_engine, simulator, 300)
    if claim_on_its_way:
        _a_claim_on_its_way(pg_engine, simulator)
    client = ScarceBudget(simulator_client(simulator.optimove_url), used=used)

    sent = relay_once(
        SqlAlchemyUnitOfWorkFactory(pg_engine), client, RelayConfig(linger=timedelta(seconds=30))
    )

    assert sent is not None and sent.outcome == "sent"
