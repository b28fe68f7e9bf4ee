"""Flow A on the real databases against the simulator over HTTP: webhook to scrubbed audience."""

from __future__ import annotations

from sqlalchemy import Engine, func, select

from app.adapters.db import campaigns
from app.adapters.db.tables import campaign_audience
from app.clock import utcnow
from app.domain.audience import OperatorFlags
from app.domain.campaigns import CampaignMode, CampaignState
from simulator.server import SimulatorServer
from tests.support.flow import InProcessFlow, ingest_config, simulator_client, webhook_payload
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import reading, writing


def _campaign(engine: Engine, campaign_id: int) -> campaigns.Campaign:
    with reading(engine) as uow:
        found = uow.campaigns.get(campaign_id)
    assert found is not None
    return found


def test_scheduled_campaign_is_ingested_scrubbed_and_approvals_queued(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(2500, no_consent_rate=0.1, fraud_rate=0.05)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000))

    assert flow.receive(webhook_payload(campaign_id)) is True
    assert flow.dispatch() == 1
    flow.drain()

    campaign = _campaign(any_engine, campaign_id)
    truth = {c["customer_id"]: expected_scrub_reason(c["attributes"]) for c in sim.customers(campaign_id)}
    expected_eligible = {cid for cid, reason in truth.items() if reason is None}
    assert campaign.state == CampaignState.APPROVING
    assert (campaign.rows_ingested, campaign.last_page) == (2500, 2)
    assert campaign.eligible_count == len(expected_eligible)
    assert campaign.scrubbed_count == 2500 - len(expected_eligible)
    with reading(any_engine) as uow:
        assert uow.audience.customer_ids(campaign_id, eligible=True) == expected_eligible
        reasons = uow.audience.scrub_breakdown(campaign_id)
        assert uow.outbox.stats(campaign_id).pending == len(expected_eligible)
    assert reasons == {
        reason: sum(1 for r in truth.values() if r == reason) for reason in {"no_consent", "fraud_flagged"}
    }
    assert min(reasons.values()) > 0


def test_each_page_is_fetched_once_and_the_window_stops_after_the_short_page(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(2500)["campaign_id"]
    flow = InProcessFlow(
        pg_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000, window=2)
    )
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()

    ingested = sorted(r.rows for r in flow.page_results if r.outcome == "ingested")
    assert [rows for rows in ingested if rows] == [500, 1000, 1000]
    # Speculative pages past the end cost at most `window` extra calls; none is fetched twice.
    assert len(ingested) <= 3 + 2
    assert sim.state()["requests"]["GetProcessedCampaignCustomers"] == len(ingested)


def test_duplicate_webhook_starts_one_ingest(any_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(1200)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config())

    assert flow.receive(webhook_payload(campaign_id)) is True
    assert flow.receive(webhook_payload(campaign_id)) is False
    flow.dispatch()
    flow.drain()
    assert flow.receive(webhook_payload(campaign_id)) is False
    assert flow.dispatch() == 0

    with reading(any_engine) as uow:
        assert uow.inbox.count() == 1
    assert _campaign(any_engine, campaign_id).rows_ingested == 1200


def test_a_page_processed_twice_changes_nothing(any_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(1500)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000))
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    before = _campaign(any_engine, campaign_id)

    flow.dispatcher.ingest_page(campaign_id, 0)
    flow.dispatcher.ingest_page(campaign_id, 1)
    flow.drain()

    after = _campaign(any_engine, campaign_id)
    assert [r.outcome for r in flow.page_results[-2:]] == ["skipped", "skipped"]
    assert (after.rows_ingested, after.eligible_count, after.pages_done) == (
        before.rows_ingested,
        before.eligible_count,
        before.pages_done,
    )
    with reading(any_engine) as uow:
        assert (
            uow.connection.execute(select(func.count()).select_from(campaign_audience)).scalar_one() == 1500
        )


def test_a_duplicated_page_write_is_idempotent_at_the_row_level(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(300)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000))
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    customers = flow.client.get_campaign_customers_page(
        campaign_id, top=1000, skip=0, attributes=("Consent",)
    )
    from app.domain.audience import Candidate

    decisions = flow.pipeline.decide_all(
        (Candidate(c.customer_id, c.promo_code, c.action_id, c.attributes) for c in customers), {}
    )
    with writing(any_engine) as uow:
        counts = uow.audience.write_page(campaign_id, 0, decisions)
        uow.outbox.enqueue_page_approvals(campaign_id, 0, deadline=None, now=utcnow())
    assert counts.rows == 300
    eligible = _campaign(any_engine, campaign_id).eligible_count
    with reading(any_engine) as uow:
        assert uow.connection.execute(select(func.count()).select_from(campaign_audience)).scalar_one() == 300
        assert uow.outbox.stats(campaign_id).pending == eligible


def test_an_audience_that_fills_its_last_page_ends_on_an_empty_page(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(2000)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000))
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    campaign = _campaign(any_engine, campaign_id)
    assert (campaign.state, campaign.rows_ingested, campaign.last_page) == (CampaignState.APPROVING, 2000, 2)


def test_a_server_that_ignores_skip_fails_the_campaign(pg_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(2500)["campaign_id"]
    sim.set_faults(ignore_skip=True)
    flow = InProcessFlow(
        pg_engine, simulator_client(simulator.optimove_url), ingest_config(page_size=1000, window=1)
    )
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    campaign = _campaign(pg_engine, campaign_id)
    assert campaign.state == CampaignState.FAILED
    assert campaign.error is not None and "$skip" in campaign.error


def test_claim_mode_campaign_queues_no_approvals(any_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(800)["campaign_id"]
    flow = InProcessFlow(
        any_engine, simulator_client(simulator.optimove_url), ingest_config(mode=CampaignMode.CLAIM)
    )
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    assert _campaign(any_engine, campaign_id).state == CampaignState.READY
    with reading(any_engine) as uow:
        assert uow.outbox.stats(campaign_id).pending == 0


def test_operator_data_withdraws_consent_and_flags_fraud(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(100, no_consent_rate=0.0, fraud_rate=0.0)["campaign_id"]
    first, second = (c["customer_id"] for c in sim.customers(campaign_id)[:2])
    with writing(any_engine) as uow:
        uow.operator_data.save(
            [(first, OperatorFlags(consent=False)), (second, OperatorFlags(fraud=True))], now=utcnow()
        )
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config())
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    with reading(any_engine) as uow:
        assert uow.audience.scrub_breakdown(campaign_id) == {"consent_withdrawn": 1, "fraud_flagged": 1}


def test_cancel_event_stops_pending_approvals(any_engine: Engine, simulator: SimulatorServer) -> None:
    sim = SimControl(simulator.url)
    campaign_id = sim.create_campaign(500)["campaign_id"]
    flow = InProcessFlow(any_engine, simulator_client(simulator.optimove_url), ingest_config())
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    flow.receive(webhook_payload(campaign_id, event_type_id=4))
    flow.dispatch()
    flow.drain()
    assert _campaign(any_engine, campaign_id).state == CampaignState.CANCELED
    with reading(any_engine) as uow:
        stats = uow.outbox.stats(campaign_id)
    assert stats.pending == 0 and stats.dead > 0
