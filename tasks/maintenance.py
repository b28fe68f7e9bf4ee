"""Beat-driven maintenance: the same sweeps the relay runs, as a backstop when no relay is up."""

from __future__ import annotations

from datetime import timedelta

from app.services.sweeper import dispatch_inbox, sweep_stale_work
from tasks.policy import promobridge_task
from tasks.runtime import dispatcher, runtime


@promobridge_task("promobridge.maintenance.sweep")
def sweep() -> dict[str, int]:
    """Dispatch stale inbox events, pages and claims again, and flag campaigns at deadline risk."""
    rt = runtime()
    settings = rt.settings
    stale = timedelta(seconds=settings.sweep_stale_after_seconds)
    inbox = dispatch_inbox(rt.engine, dispatcher(), stale_after=stale)
    swept = sweep_stale_work(
        rt.engine,
        dispatcher(),
        rt.deadlines,
        stale_after=stale,
        claim_stale_after=timedelta(seconds=settings.claim_stale_after_seconds),
    )
    return {"inbox": inbox, "pages": swept.pages, "claims": swept.claims, "at_risk": swept.at_risk}
