"""Sending tasks by name through Celery (the TaskDispatcher port's real adapter)."""

from __future__ import annotations

from celery import Celery

START_CAMPAIGN = "promobridge.ingest.start_campaign"
INGEST_PAGE = "promobridge.ingest.ingest_page"


class CeleryDispatcher:
    """Publishes tasks by name; routing to queues comes from `task_routes` in celeryconfig."""

    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app

    def start_campaign(self, inbox_event_id: int) -> None:
        """Queue the processing of one stored webhook event."""
        self.celery_app.send_task(START_CAMPAIGN, args=[inbox_event_id])

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        """Queue one audience page."""
        self.celery_app.send_task(INGEST_PAGE, args=[campaign_id, page_no])
