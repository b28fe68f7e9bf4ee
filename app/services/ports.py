"""The ports services depend on; adapters (Optimove client, Celery dispatcher) implement them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from app.adapters.optimove.models import CampaignCustomer, PromoStatus


class CampaignSource(Protocol):
    """Where a campaign's targeted customers come from (Optimove GetProcessedCampaignCustomers)."""

    def get_campaign_customers_page(
        self, campaign_id: int, *, top: int, skip: int, attributes: Sequence[str] = ()
    ) -> list[CampaignCustomer]:
        """One page of the campaign's customers."""
        ...


class StatusSink(Protocol):
    """Where promotion statuses are reported (Optimove UpdateCustomerPromotionStatus)."""

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """Sleep until a rate-limit slot is free (taking none)."""
        ...

    def update_customer_promotion_status(
        self, campaign_id: int, statuses: Sequence[PromoStatus], *, timestamp: datetime | None = None
    ) -> int:
        """Report the statuses; returns the number of calls made."""
        ...


class TaskDispatcher(Protocol):
    """Sends work to the workers. Called only after the transaction that recorded the work commits."""

    def start_campaign(self, inbox_event_id: int) -> None:
        """Process one stored webhook event."""
        ...

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        """Fetch and ingest one page of a campaign's audience."""
        ...
