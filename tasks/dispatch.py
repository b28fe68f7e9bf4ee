"""Sending tasks by name through Celery (the TaskDispatcher port's real adapter)."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

START_CAMPAIGN = "promobridge.ingest.start_campaign"
INGEST_PAGE = "promobridge.ingest.ingest_page"
VALIDATE_CLAIM = "promobridge.claims.validate"
ACTIVATE_CLAIMS = "promobridge.claims.activate"
REPORT_STATUS = "promobridge.claims.report_status"


class CeleryDispatcher:
    """Publishes tasks by name; routing to queues comes from `task_routes` in celeryconfig.

    It implements both the ingest and the claims dispatcher ports.
    """

    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app

    def start_campaign(self, inbox_event_id: int) -> None:
        """Queue the processing of one stored webhook event."""
        self.celery_app.send_task(START_CAMPAIGN, args=[inbox_event_id])

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        """Queue one audience page."""
        self.celery_app.send_task(INGEST_PAGE, args=[campaign_id, page_no])

    def validate_claim(self, claim_id: str) -> None:
        """Queue the validation of a pending claim (it validates its whole micro-batch)."""
        self.celery_app.send_task(VALIDATE_CLAIM, args=[claim_id])

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Queue the activation of validated claims."""
        self.celery_app.send_task(ACTIVATE_CLAIMS, args=[list(claim_ids)])

    def report_status(self) -> None:
        """Queue a round of the outbox relay on the status queue."""
        self.celery_app.send_task(REPORT_STATUS)
