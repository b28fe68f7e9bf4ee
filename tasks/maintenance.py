"""Beat-driven maintenance: the same sweeps the relay runs, as a backstop when no relay is up."""

from __future__ import annotations

from datetime import timedelta

from app.services.claim_processing import reconcile_claims
from app.services.sweeper import dispatch_inbox, flag_campaigns_at_risk, redispatch_stale_pages
from tasks.policy import promobridge_task
from tasks.runtime import dispatcher, runtime


@promobridge_task("promobridge.maintenance.sweep")
def sweep() -> dict[str, int]:
    """Dispatch stale inbox events, pages and claims again, and flag campaigns at deadline risk."""
    rt = runtime()
    settings = rt.settings
    stale = timedelta(seconds=settings.sweep_stale_after_seconds)
    return {
        "inbox": dispatch_inbox(rt.engine, dispatcher(), stale_after=stale),
        "pages": redispatch_stale_pages(rt.engine, dispatcher(), stale_after=stale),
        "claims": reconcile_claims(
            rt.engine, dispatcher(), stale_after=timedelta(seconds=settings.claim_stale_after_seconds)
        ),
        "at_risk": len(flag_campaigns_at_risk(rt.engine, rt.deadlines)),
    }
