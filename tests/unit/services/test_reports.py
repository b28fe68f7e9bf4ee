"""The campaign report adds up: audience, scrub reasons, segments, approvals, re-sends, conflicts, timings."""

from __future__ import annotations

import json
import random
from datetime import timedelta
from zoneinfo import ZoneInfo

from app.adapters.optimove.contract import OptimoveEventContract
from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.optimove import CampaignCustomer
from app.domain.optimove_errors import OptimoveRequestRejected, OptimoveServerError
from app.policies.base import PolicyPipeline
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation
from app.services.ingest import IngestConfig, ingest_page, process_inbox_event
from app.services.relay import RelayConfig, relay_once
from app.services.reports import campaign_report, recent_campaigns
from app.services.webhooks import receive_optimove_event
from tests.fakes.clock import T0, FixedClock
from tests.fakes.optimove import FakeCampaignSource, FakeStatusSink
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher

CAMPAIGN = 1359
CONTRACT = OptimoveEventContract(ZoneInfo("UTC"))
ENDPOINT = "UpdateCustomerPromotionStatus"


def customer(n: int) -> CampaignCustomer:
    consent = "0" if n in (3, 17) else "1"
    fraud = "1" if n == 8 else "0"
    return CampaignCustomer(
        f"c{n}", n, "SPRING", {"Consent": consent, "FraudFlag": fraud, "VIPLevel": str(n % 3)}
    )


def receive(uow: FakeUnitOfWorkFactory, clock: FixedClock, deadline: str) -> None:
    body = {"EventTypeID": 5, "CampaignID": CAMPAIGN, "ClearanceRequiredBy": deadline}
    receive_optimove_event(uow, CONTRACT, body, json.dumps(body), clock=clock)


def run_campaign(uow: FakeUnitOfWorkFactory, clock: FixedClock) -> None:
    """25 customers (3 scrubbed) ingested in auto mode, approvals relayed: one batch re-sent, one dead."""
    receive(uow, clock, "2026-11-25 10:00:00")
    receive(uow, clock, "2026-11-25 11:00:00")  # differs from the first: a conflict, never acted on
    dispatcher = RecordingDispatcher()
    config = IngestConfig(10, 2, ("Consent", "FraudFlag", "VIPLevel"), CampaignMode.AUTO, {})
    process_inbox_event(uow, dispatcher, CONTRACT, config, 1, clock=clock)
    source = FakeCampaignSource({CAMPAIGN: [customer(n) for n in range(25)]})
    pipeline = PolicyPipeline([ConsentScrub(), FraudCheck(), VipSegmentation()])
    for _ in range(4):  # pages 0 to 3; the fourth finds the campaign ingested
        clock.advance(seconds=2)
        ingest_page(uow, source, pipeline, dispatcher, config, *dispatcher.pages.popleft(), clock=clock)
    assert not dispatcher.pages
    sink = FakeStatusSink()
    sink.failures.append(OptimoveServerError("502", endpoint=ENDPOINT, status=502, ambiguous=True))
    relay = RelayConfig(batch_size=10)
    relay_once(uow, sink, relay, clock=clock, rng=random.Random(1))
    clock.advance(minutes=5)
    relay_once(uow, sink, relay, clock=clock)
    relay_once(uow, sink, relay, clock=clock)
    sink.failures.append(OptimoveRequestRejected("400", endpoint=ENDPOINT, status=400, body="bad id"))
    relay_once(uow, sink, relay, clock=clock)


def test_a_campaign_report_adds_up(uow: FakeUnitOfWorkFactory) -> None:
    clock = FixedClock()
    run_campaign(uow, clock)

    report = campaign_report(uow, CAMPAIGN, clock=clock)

    assert report is not None
    assert (report.mode, report.state, report.pages_done, report.last_page) == ("auto", "approving", 3, 2)
    assert (report.rows_ingested, report.eligible, report.scrubbed) == (25, 22, 3)
    assert report.scrubbed_by_reason == {"no_consent": 2, "fraud_flagged": 1}
    assert sum(report.segments.values()) == report.eligible and set(report.segments) == {
        "standard",
        "silver",
        "gold",
    }
    assert (report.approvals_pending, report.approvals_sent, report.approvals_dead) == (0, 20, 2)
    assert (report.approval_calls, report.resent) == (2, 10)
    assert report.error == "approvals dead-lettered: OptimoveRequestRejected: 400"
    assert report.ingest_seconds == 6.0 and report.webhook_to_last_approval_seconds is None
    assert report.seconds_to_deadline == (T0 + timedelta(hours=1) - clock.now).total_seconds()
    assert report.event_conflicts == 1 and not report.at_risk
    [conflict] = report.recent_event_conflicts
    assert conflict["event_id"] != conflict["first_event_id"] == 1
    assert conflict["payload"]["ClearanceRequiredBy"] == "2026-11-25 11:00:00"


def test_a_report_reads_as_json_with_its_datetimes_in_iso_format(uow: FakeUnitOfWorkFactory) -> None:
    clock = FixedClock()
    run_campaign(uow, clock)
    report = campaign_report(uow, CAMPAIGN, clock=clock)
    assert report is not None

    data = json.loads(json.dumps(report.as_json()))

    assert data["clearance_required_by"] == "2026-11-25T10:00:00+00:00"
    assert data["recent_event_conflicts"][0]["received_at"] == T0.isoformat()


def test_an_unknown_campaign_has_no_report(uow: FakeUnitOfWorkFactory) -> None:
    assert campaign_report(uow, 404) is None


def test_recent_campaigns_come_newest_first(uow: FakeUnitOfWorkFactory) -> None:
    with uow() as u:
        for n in range(3):
            u.campaigns.add(NewCampaign(n, CampaignMode.CLAIM, None, None, 10), now=T0 + timedelta(minutes=n))
        u.commit()

    assert [c.id for c in recent_campaigns(uow)] == [2, 1, 0]
    assert [c.id for c in recent_campaigns(uow, limit=1)] == [2]
