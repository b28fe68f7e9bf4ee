"""Runs flow A in-process (no Celery): what the workers would do, driven by a recording dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from app.adapters.optimove.client import OptimoveClient
from app.adapters.optimove.contract import OptimoveEventContract
from app.adapters.ratelimit import UnlimitedLimiter
from app.domain.campaigns import CampaignMode
from app.policies.base import build_pipeline
from app.services.ingest import IngestConfig, PageResult, ingest_page, process_inbox_event
from app.services.sweeper import dispatch_inbox
from app.services.webhooks import receive_optimove_event
from tests.support.dispatch import RecordingDispatcher
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

ATTRIBUTES = ("Consent", "FraudFlag", "VIPLevel", "Country")
DEFAULT_POLICIES = (
    "app.policies.consent:ConsentScrub",
    "app.policies.fraud:FraudCheck",
    "app.policies.segmentation:VipSegmentation",
)


def ingest_config(
    page_size: int = 1000, window: int = 2, mode: CampaignMode = CampaignMode.AUTO
) -> IngestConfig:
    return IngestConfig(
        page_size=page_size,
        page_window=window,
        attributes=ATTRIBUTES,
        default_mode=mode,
        mode_overrides={},
    )


def simulator_client(optimove_url: str, api_key: str = "sim-key") -> OptimoveClient:
    return OptimoveClient(
        base_url=optimove_url, api_key=api_key, rate_limiter=UnlimitedLimiter(), timeout_seconds=5
    )


def webhook_payload(
    campaign_id: int, clearance: str | None = None, event_type_id: int = 5
) -> dict[str, object]:
    if clearance is None:  # tomorrow 09:00: inside the accepted window, the same for every call today
        tomorrow = datetime.now(UTC) + timedelta(days=1)
        clearance = tomorrow.strftime("%Y-%m-%d 09:00:00")
    payload: dict[str, object] = {
        "EventTypeID": event_type_id,
        "TimeStamp": "2026-11-25 08:30",
        "CampaignID": campaign_id,
    }
    if event_type_id == 5:
        payload["ClearanceRequiredBy"] = clearance
    return payload


class InProcessFlow:
    """The webhook → inbox → campaign → pages path, with work executed by the test itself."""

    def __init__(self, engine: Engine, client: OptimoveClient, config: IngestConfig) -> None:
        self.engine = engine
        self.uow = SqlAlchemyUnitOfWorkFactory(engine)
        self.events = OptimoveEventContract(ZoneInfo("UTC"))
        self.client = client
        self.config = config
        self.dispatcher = RecordingDispatcher()
        self.pipeline = build_pipeline(DEFAULT_POLICIES, {})
        self.page_results: list[PageResult] = []

    def receive(self, payload: dict[str, object]) -> bool:
        import json

        return receive_optimove_event(self.uow, self.events, payload, json.dumps(payload)).new

    def dispatch(self) -> int:
        return dispatch_inbox(self.uow, self.dispatcher, stale_after=timedelta(minutes=2))

    def run_one_page(self) -> PageResult:
        campaign_id, page_no = self.dispatcher.pages.popleft()
        result = ingest_page(
            self.uow,
            self.client,
            self.pipeline,
            self.dispatcher,
            self.config,
            campaign_id,
            page_no,
        )
        self.page_results.append(result)
        return result

    def drain(self) -> None:
        """Run every dispatched task until none is left."""
        while self.dispatcher.started or self.dispatcher.pages:
            if self.dispatcher.started:
                process_inbox_event(
                    self.uow, self.dispatcher, self.events, self.config, self.dispatcher.started.popleft()
                )
            else:
                self.run_one_page()
