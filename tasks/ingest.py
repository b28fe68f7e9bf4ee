"""Ingest tasks: thin wrappers that take ids, call a service and own the retry policy."""

from __future__ import annotations

from typing import Any

from celery import Task

from app.adapters.dispatch import INGEST_PAGE, START_CAMPAIGN
from app.domain.optimove_errors import PermanentOptimoveError, TransientOptimoveError
from app.services import ingest
from tasks.policy import countdown, promobridge_task
from tasks.runtime import container

MAX_PAGE_RETRIES = 20


@promobridge_task(START_CAMPAIGN)
def start_campaign(self: Task[Any, Any], inbox_event_id: int) -> str:
    """Act on a stored webhook event (start or cancel a campaign)."""
    c = container()
    return ingest.process_inbox_event(c.uow, c.dispatcher, c.events, c.ingest, inbox_event_id)


@promobridge_task(INGEST_PAGE, max_retries=MAX_PAGE_RETRIES)
def ingest_page(self: Task[Any, Any], campaign_id: int, page_no: int) -> str:
    """Fetch, scrub and store one page of a campaign's audience."""
    c = container()
    try:
        result = ingest.ingest_page(
            c.uow, c.optimove, c.pipeline, c.dispatcher, c.ingest, campaign_id, page_no
        )
    except TransientOptimoveError as exc:
        ingest.record_page_failure(c.uow, campaign_id, page_no, f"{type(exc).__name__}: {exc}")
        # Past MAX_PAGE_RETRIES the page stays pending and the sweeper dispatches it again.
        raise self.retry(exc=exc, countdown=countdown(self.request.retries, exc)) from exc
    except PermanentOptimoveError as exc:
        ingest.fail_campaign(c.uow, campaign_id, f"page {page_no}: {type(exc).__name__}: {exc}")
        return "failed"
    return result.outcome
