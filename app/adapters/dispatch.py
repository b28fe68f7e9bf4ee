"""The one dispatcher: rings the workers' doorbell through Celery, by task name.

The task names live here, once: the task definitions (`tasks/`), the routes (`celeryconfig`) and
this dispatcher all read them. Publishing never raises: it happens after the transaction that
recorded the work committed, PostgreSQL is the source of truth, and the sweepers dispatch again
whatever was recorded but not picked up, so a broker outage only delays work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery

log = logging.getLogger(__name__)

START_CAMPAIGN = "promobridge.ingest.start_campaign"
INGEST_PAGE = "promobridge.ingest.ingest_page"
VALIDATE_PENDING = "promobridge.claims.validate_pending"
# Until 2026-11: one message per claim, args [claim_id]. Still consumed, so that messages queued
# across an upgrade wake their claim's validator instead of failing.
VALIDATE_CLAIM_LEGACY = "promobridge.claims.validate"
ACTIVATE_CLAIMS = "promobridge.claims.activate"
REPORT_STATUS = "promobridge.claims.report_status"
SUBMIT_CLAIM_V1 = "promobridge.claims.submit.v1"
MAINTENANCE_SWEEP = "promobridge.maintenance.sweep"

# Queue of each task (celeryconfig's task_routes); anything else goes to the default queue.
QUEUES = {
    START_CAMPAIGN: "ingest",
    INGEST_PAGE: "ingest",
    SUBMIT_CLAIM_V1: "claims",
    VALIDATE_PENDING: "validate",
    VALIDATE_CLAIM_LEGACY: "validate",
    ACTIVATE_CLAIMS: "activate",
    REPORT_STATUS: "status",
}
# One quick retry of a publish (a reconnect); past it, the sweepers are the safety net.
PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.1}


class CeleryDispatcher:
    """Publishes tasks by name on `celery_app` (the ``app.services.ports.Dispatcher`` port)."""

    def __init__(self, celery_app: Celery) -> None:
        self.celery_app = celery_app

    def _send(self, name: str, args: list[Any]) -> None:
        try:
            self.celery_app.send_task(name, args=args, retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        except Exception as exc:  # the broker being down must not fail work whose data is committed
            log.warning("could not publish task; the sweepers will", extra={"task": name, "error": repr(exc)})

    def start_campaign(self, inbox_event_id: int) -> None:
        """Process one stored webhook event."""
        self._send(START_CAMPAIGN, [inbox_event_id])

    def ingest_page(self, campaign_id: int, page_no: int) -> None:
        """Fetch and ingest one page of a campaign's audience."""
        self._send(INGEST_PAGE, [campaign_id, page_no])

    def validate_pending(self, campaign_id: int, promo_code: str | None) -> None:
        """Wake the validator of a campaign's promo code (it validates every claim pending there)."""
        self._send(VALIDATE_PENDING, [campaign_id, promo_code])

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Grant the rewards of validated claims."""
        self._send(ACTIVATE_CLAIMS, [list(claim_ids)])

    def report_status(self) -> None:
        """Run a status-update round of the outbox relay."""
        self._send(REPORT_STATUS, [])


def publisher_app() -> Celery:
    """A client-only Celery app on promobridge's broker, for processes that publish but run no task."""
    import celeryconfig

    celery_app = Celery("promobridge-publisher")
    celery_app.config_from_object(celeryconfig)
    return celery_app


def submit_claim_via_broker(
    celery_app: Celery,
    *,
    campaign_id: int,
    customer_id: str,
    session_properties: dict[str, object] | None = None,
    idempotency_key: str | None = None,
) -> str:
    """For app backends that share promobridge's broker: enqueue a claim job; returns the message id.

    Task `promobridge.claims.submit.v1(campaign_id, customer_id, session_properties, idempotency_key)`.
    The job writes the claim idempotently (the same job twice is one claim). This path is only as
    durable as the broker: use the HTTP API when a claim must never be lost.
    """
    result = celery_app.send_task(
        SUBMIT_CLAIM_V1,
        args=[campaign_id, customer_id, session_properties or {}, idempotency_key],
        queue=QUEUES[SUBMIT_CLAIM_V1],
    )
    return str(result.id)
