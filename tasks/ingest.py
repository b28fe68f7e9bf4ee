"""Ingest tasks: thin wrappers that take ids, call a service and own the retry policy."""

from __future__ import annotations

import logging

from celery import Task

from app.adapters.db import campaigns
from app.adapters.optimove.errors import PermanentOptimoveError, TransientOptimoveError
from app.clock import utcnow
from app.domain.campaigns import CampaignState
from app.services import ingest
from tasks.policy import backoff_countdown, promobridge_task
from tasks.runtime import dispatcher, runtime

log = logging.getLogger(__name__)

MAX_PAGE_RETRIES = 20


@promobridge_task("promobridge.ingest.start_campaign")
def start_campaign(inbox_event_id: int) -> str:
    """Act on a stored webhook event (start or cancel a campaign)."""
    rt = runtime()
    return ingest.process_inbox_event(rt.engine, dispatcher(), rt.ingest, inbox_event_id)


@promobridge_task("promobridge.ingest.ingest_page", bind=True, max_retries=MAX_PAGE_RETRIES)
def ingest_page(self: Task, campaign_id: int, page_no: int) -> str:  # type: ignore[type-arg]
    """Fetch, scrub and store one page of a campaign's audience."""
    rt = runtime()
    try:
        result = ingest.ingest_page(
            rt.engine, rt.client, rt.pipeline, dispatcher(), rt.ingest, campaign_id, page_no
        )
    except TransientOptimoveError as exc:
        countdown = backoff_countdown(self.request.retries, exc)
        _record_page_error(campaign_id, page_no, exc)
        # Past MAX_PAGE_RETRIES the page stays pending and the sweeper dispatches it again.
        raise self.retry(exc=exc, countdown=countdown) from exc
    except PermanentOptimoveError as exc:
        _fail_campaign(campaign_id, f"page {page_no}: {type(exc).__name__}: {exc}")
        return "failed"
    return result.outcome


def _record_page_error(campaign_id: int, page_no: int, exc: Exception) -> None:
    with runtime().engine.begin() as conn:
        campaigns.set_page_error(conn, campaign_id, page_no, f"{type(exc).__name__}: {exc}")
    log.warning(
        "page fetch failed, will retry",
        extra={"campaign_id": campaign_id, "page_no": page_no, "error": str(exc)},
    )


def _fail_campaign(campaign_id: int, error: str) -> None:
    with runtime().engine.begin() as conn:
        campaigns.transition(
            conn,
            campaign_id,
            from_states=frozenset({CampaignState.INGESTING}),
            to_state=CampaignState.FAILED,
            now=utcnow(),
            error=error[:2000],
        )
    log.error("campaign failed", extra={"campaign_id": campaign_id, "error": error})
