"""Flow A in memory: a stored event starts a campaign once; each page is claimed once; ingest ends right."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from zoneinfo import ZoneInfo

import pytest

from app.adapters.optimove.contract import OptimoveEventContract
from app.domain.audience import OperatorFlags
from app.domain.campaigns import PAGE_PENDING, CampaignMode, CampaignState
from app.domain.inbox import NewInboxEvent
from app.domain.optimove import CampaignCustomer, CampaignEvent
from app.domain.optimove_errors import OptimoveTimeout
from app.policies.base import PolicyPipeline
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation
from app.services.ingest import (
    IngestConfig,
    PageResult,
    fail_campaign,
    ingest_page,
    process_inbox_event,
    record_page_failure,
)
from tests.fakes.clock import T0, FixedClock
from tests.fakes.optimove import FakeCampaignSource
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import claim_campaign

CAMPAIGN = 1359
CONTRACT = OptimoveEventContract(ZoneInfo("UTC"))
POLICIES = PolicyPipeline([ConsentScrub(), FraudCheck(), VipSegmentation()])
ATTRIBUTES = ("Consent", "FraudFlag", "VIPLevel")
CLAIM_MODE = IngestConfig(10, 2, ATTRIBUTES, CampaignMode.CLAIM, {})
AUTO_MODE = IngestConfig(10, 2, ATTRIBUTES, CampaignMode.AUTO, {})


def customers(
    count: int, *, no_consent: tuple[int, ...] = (), fraud: tuple[int, ...] = ()
) -> list[CampaignCustomer]:
    """Customers c0, c1, …; VIP level 2 (gold) unless scrubbed by their attributes."""
    return [
        CampaignCustomer(f"c{n}", 100 + n, "SPRING", _attributes(n, no_consent, fraud)) for n in range(count)
    ]


def _attributes(n: int, no_consent: tuple[int, ...], fraud: tuple[int, ...]) -> dict[str, str | None]:
    return {
        "Consent": "0" if n in no_consent else "1",
        "FraudFlag": "1" if n in fraud else "0",
        "VIPLevel": "2",
    }


def stored_event(uow: FakeUnitOfWorkFactory, payload: dict[str, object], fingerprint: str = "f") -> int:
    """An event stored in the inbox as the webhook stores it; its id."""
    event_type_id = int(str(payload.get("EventTypeID", 5)))
    with uow() as u:
        u.inbox.store(
            NewInboxEvent("optimove", event_type_id, CAMPAIGN, fingerprint, payload, json.dumps(payload), T0)
        )
        u.commit()
    return max(uow.db.inbox_events.rows)


def scheduled(campaign_id: int = CAMPAIGN) -> dict[str, object]:
    return {"EventTypeID": 5, "CampaignID": campaign_id, "ClearanceRequiredBy": "2026-11-25 09:30:00"}


class Flow:
    """What the workers would do with each dispatched task, run by the test."""

    def __init__(self, uow: FakeUnitOfWorkFactory, source: FakeCampaignSource, config: IngestConfig) -> None:
        self.uow, self.source, self.config = uow, source, config
        self.dispatcher = RecordingDispatcher()
        self.results: list[tuple[int, PageResult]] = []

    def start(self, payload: dict[str, object]) -> str:
        event_id = stored_event(self.uow, payload)
        return process_inbox_event(
            self.uow, self.dispatcher, CONTRACT, self.config, event_id, clock=FixedClock()
        )

    def page(self, page_no: int, campaign_id: int = CAMPAIGN) -> PageResult:
        result = ingest_page(
            self.uow,
            self.source,
            POLICIES,
            self.dispatcher,
            self.config,
            campaign_id,
            page_no,
            clock=FixedClock(),
        )
        self.results.append((page_no, result))
        return result

    def drain(self, max_tasks: int = 50) -> None:
        """Run dispatched page tasks until none is left (paging that never ends fails the test)."""
        for _ in range(max_tasks):
            if not self.dispatcher.pages:
                return
            campaign_id, page_no = self.dispatcher.pages.popleft()
            self.page(page_no, campaign_id)
        raise AssertionError(f"ingest still dispatching pages after {max_tasks} tasks")


def test_a_scheduled_event_creates_the_campaign_once_and_dispatches_its_first_window_of_pages(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)

    assert flow.start(scheduled()) == "campaign_started"

    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.mode, campaign.state, campaign.page_size) == (
        CampaignMode.CLAIM,
        CampaignState.INGESTING,
        10,
    )
    assert campaign.clearance_required_by is not None and campaign.clearance_required_by.isoformat() == (
        "2026-11-25T09:30:00+00:00"
    )
    assert list(flow.dispatcher.pages) == [(CAMPAIGN, 0), (CAMPAIGN, 1)]
    [event] = db.inbox_events.rows.values()
    assert (event.processed_at, event.outcome) == (T0, "campaign_started")


def test_an_event_is_acted_on_once(uow: FakeUnitOfWorkFactory) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)
    event_id = stored_event(uow, scheduled())

    def process() -> str:
        return process_inbox_event(uow, flow.dispatcher, CONTRACT, CLAIM_MODE, event_id)

    assert [process(), process()] == ["campaign_started", "skipped"]
    assert len(flow.dispatcher.pages) == 2
    assert process_inbox_event(uow, flow.dispatcher, CONTRACT, CLAIM_MODE, 999) == "skipped"


def test_an_event_for_a_campaign_already_known_starts_nothing(uow: FakeUnitOfWorkFactory) -> None:
    claim_campaign(uow, campaign_id=CAMPAIGN)
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)

    assert flow.start(scheduled()) == "campaign_already_known"
    assert not flow.dispatcher.pages


def test_a_campaigns_mode_comes_from_its_override_or_the_default(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    overridden = IngestConfig(10, 2, ATTRIBUTES, CampaignMode.CLAIM, {CAMPAIGN: CampaignMode.AUTO})
    Flow(uow, FakeCampaignSource(), overridden).start(scheduled())
    assert db.campaigns.rows[CAMPAIGN].mode == CampaignMode.AUTO


class RacedContract:
    """The real contract, except that while this run reads the event, another run processes it to the end."""

    def __init__(self, other_run: Callable[[], object]) -> None:
        self.other_run: Callable[[], object] | None = other_run

    def parse(self, payload: Mapping[str, object]) -> CampaignEvent:
        other_run, self.other_run = self.other_run, None
        if other_run is not None:
            other_run()
        return CONTRACT.parse(payload)

    def fingerprint(self, event: CampaignEvent) -> str:
        return CONTRACT.fingerprint(event)

    def differences(self, first: CampaignEvent, other: CampaignEvent) -> dict[str, tuple[object, object]]:
        return CONTRACT.differences(first, other)


def test_of_two_runs_of_one_event_only_the_first_to_finish_acts_on_it(uow: FakeUnitOfWorkFactory) -> None:
    event_id = stored_event(uow, scheduled())
    first, second = RecordingDispatcher(), RecordingDispatcher()
    outcomes: list[str] = []
    contract = RacedContract(
        lambda: outcomes.append(process_inbox_event(uow, first, CONTRACT, CLAIM_MODE, event_id))
    )

    outcomes.append(process_inbox_event(uow, second, contract, CLAIM_MODE, event_id))

    assert outcomes == ["campaign_started", "skipped"]
    assert len(first.pages) == 2 and not second.sent


def test_a_stored_event_of_a_type_without_a_handler_is_processed_and_ignored(
    uow: FakeUnitOfWorkFactory,
) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)
    assert flow.start({"EventTypeID": 11, "CampaignID": CAMPAIGN}) == "ignored_event_type"
    assert not flow.dispatcher.sent


def test_a_cancel_event_cancels_the_campaign_and_stops_its_pending_approvals(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(5)})
    flow = Flow(uow, source, AUTO_MODE)
    flow.start(scheduled())
    flow.page(0)
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVING

    cancel = stored_event(uow, {"EventTypeID": 4, "CampaignID": CAMPAIGN})
    assert process_inbox_event(uow, flow.dispatcher, CONTRACT, AUTO_MODE, cancel) == "campaign_canceled"

    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.CANCELED
    with uow() as u:
        stats = u.outbox.stats(CAMPAIGN)
    assert (stats.pending, stats.dead) == (0, 5)


def test_a_cancel_for_a_campaign_unknown_or_finished_changes_nothing(uow: FakeUnitOfWorkFactory) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)
    assert flow.start({"EventTypeID": 4, "CampaignID": CAMPAIGN}) == "cancel_for_unknown_or_finished_campaign"


def test_a_stored_event_that_no_longer_parses_is_processed_as_invalid_and_starts_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)

    outcome = flow.start({"EventTypeID": 5, "CampaignID": CAMPAIGN, "ClearanceRequiredBy": "x" * 200})

    assert outcome.startswith("invalid: ClearanceRequiredBy") and len(outcome) == 64
    assert not db.campaigns.rows and not flow.dispatcher.pages


def test_a_page_is_scrubbed_and_segmented_by_the_policies_and_a_short_one_ends_a_claim_campaign_ready(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(5, no_consent=(0,), fraud=(1,))})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())

    result = flow.page(0)

    assert result == PageResult(
        "ingested", rows=5, eligible=3, scrubbed=2, approvals_enqueued=0, pages_dispatched=0
    )
    assert source.asked == [(CAMPAIGN, 10, 0, ATTRIBUTES)]
    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.state, campaign.last_page, campaign.rows_ingested, campaign.pages_done) == (
        CampaignState.READY, 0, 5, 1
    )  # fmt: skip
    with uow() as u:
        assert u.audience.scrub_breakdown(CAMPAIGN) == {"no_consent": 1, "fraud_flagged": 1}
        assert u.audience.segment_breakdown(CAMPAIGN) == {"gold": 3}
        assert u.outbox.pending_count(CAMPAIGN) == 0


def test_full_pages_fan_out_the_next_window_and_the_first_short_page_ends_ingest(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(25, no_consent=(3, 17))})
    flow = Flow(uow, source, AUTO_MODE)
    flow.start(scheduled())

    flow.drain()

    assert [(n, r.outcome, r.rows, r.pages_dispatched) for n, r in flow.results] == [
        (0, "ingested", 10, 1), (1, "ingested", 10, 1), (2, "ingested", 5, 0), (3, "skipped", 0, 0)
    ]  # fmt: skip
    assert [skip for _, _, skip, _ in source.asked] == [0, 10, 20]  # the page past the end is never fetched
    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.state, campaign.last_page, campaign.rows_ingested, campaign.eligible_count) == (
        CampaignState.APPROVING, 2, 25, 23
    )  # fmt: skip
    assert sum(r.approvals_enqueued for _, r in flow.results) == 23
    with uow() as u:
        assert u.outbox.pending_count(CAMPAIGN) == 23


def test_an_auto_campaign_with_nobody_eligible_is_approved_at_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(2, fraud=(0, 1))}), AUTO_MODE)
    flow.start(scheduled())
    flow.drain()
    campaign = db.campaigns.rows[CAMPAIGN]
    assert campaign.state == CampaignState.APPROVED and campaign.approvals_finished_at == T0


def test_an_empty_campaign_is_ingested_from_one_empty_page(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    flow = Flow(uow, FakeCampaignSource(), CLAIM_MODE)
    flow.start(scheduled())
    flow.drain()
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.READY
    assert [r.outcome for _, r in flow.results] == ["ingested", "skipped"]


def test_a_campaign_whose_server_ignores_skip_is_failed_instead_of_paging_forever(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(25)}, ignores_skip=True)
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())

    flow.drain()

    assert [r.outcome for _, r in flow.results] == ["ingested", "failed_skip_ignored", "skipped"]
    campaign = db.campaigns.rows[CAMPAIGN]
    assert campaign.state == CampaignState.FAILED and "ignore $skip" in (campaign.error or "")
    assert campaign.rows_ingested == 10 and len(source.asked) == 2


def test_a_redelivered_page_task_changes_nothing_and_fetches_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(25)})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())
    flow.page(0)

    assert flow.page(0) == PageResult("skipped")
    assert len(source.asked) == 1 and db.campaigns.rows[CAMPAIGN].rows_ingested == 10


def test_a_page_another_worker_ingested_while_this_one_fetched_it_is_written_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(25)})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())
    source.while_fetching = lambda: flow.page(0)  # a duplicated task, running at the same time

    assert flow.page(0) == PageResult("skipped")

    assert [r.outcome for _, r in flow.results] == ["ingested", "skipped"]
    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.rows_ingested, campaign.pages_done) == (10, 1) and len(source.asked) == 2


def test_a_page_past_the_last_one_is_not_fetched(uow: FakeUnitOfWorkFactory) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(15)})
    flow = Flow(uow, source, IngestConfig(10, 3, ATTRIBUTES, CampaignMode.CLAIM, {}))
    flow.start(scheduled())

    assert flow.page(1).outcome == "ingested"  # short: the last page
    assert flow.page(2) == PageResult("skipped_past_end")
    assert [skip for _, _, skip, _ in source.asked] == [10]


def test_the_operators_own_data_scrubs_and_segments_customers_optimove_lists(
    uow: FakeUnitOfWorkFactory,
) -> None:
    with uow() as u:
        u.operator_data.save([("c1", OperatorFlags(fraud=True)), ("c2", OperatorFlags(vip_level=3))], now=T0)
        u.commit()
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(3)}), CLAIM_MODE)
    flow.start(scheduled())

    flow.page(0)

    with uow() as u:
        assert u.audience.scrub_breakdown(CAMPAIGN) == {"fraud_flagged": 1}
        assert u.audience.segment_breakdown(CAMPAIGN) == {"gold": 1, "platinum": 1}


def test_a_failed_fetch_propagates_and_leaves_the_page_pending_with_its_error_for_a_retry(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(5)})
    source.failures.append(OptimoveTimeout("read timed out", endpoint="GetProcessedCampaignCustomers"))
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())

    with pytest.raises(OptimoveTimeout):
        flow.page(0)
    record_page_failure(uow, CAMPAIGN, 0, "OptimoveTimeout: read timed out")

    page = db.campaign_pages.rows[(CAMPAIGN, 0)]
    assert (page.state, page.error) == (PAGE_PENDING, "OptimoveTimeout: read timed out")
    assert flow.page(0).outcome == "ingested" and db.campaign_pages.rows[(CAMPAIGN, 0)].error is None


def test_a_campaign_failed_for_good_stops_ingesting(uow: FakeUnitOfWorkFactory, db: FakeDatabase) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(5)})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())

    fail_campaign(uow, CAMPAIGN, "OptimoveAuthError: 401", clock=FixedClock())

    assert db.campaigns.rows[CAMPAIGN].error == "OptimoveAuthError: 401"
    assert flow.page(0) == PageResult("skipped") and not source.asked
