"""Beat-driven maintenance: the same sweeps the relay runs, as a backstop when no relay is up."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import Task

from app.adapters.dispatch import MAINTENANCE_SWEEP
from app.services.sweeper import dispatch_inbox, sweep_stale_work
from tasks.policy import promobridge_task
from tasks.runtime import container


@promobridge_task(MAINTENANCE_SWEEP)
def sweep(self: Task[Any, Any]) -> dict[str, int]:
    """Dispatch stale inbox events, pages and claims again, and flag campaigns at deadline risk."""
    c = container()
    stale = timedelta(seconds=c.settings.sweep_stale_after_seconds)
    inbox = dispatch_inbox(c.uow, c.dispatcher, stale_after=stale)
    swept = sweep_stale_work(
        c.uow,
        c.dispatcher,
        c.validation_doorbell,
        c.deadlines,
        stale_after=stale,
        claim_stale_after=timedelta(seconds=c.settings.claim_stale_after_seconds),
    )
    return {"inbox": inbox, "pages": swept.pages, "claims": swept.claims, "at_risk": swept.at_risk}
