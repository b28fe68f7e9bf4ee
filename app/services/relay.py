"""The outbox relay: drains approvals to Optimove in batches per campaign, most urgent first.

Several relays may run: each claims a disjoint batch (SKIP LOCKED + lease). A transient failure
puts the batch back with exponential backoff and jitter (at least Optimove's Retry-After); a
permanent one, or too many attempts, marks it dead and visible. A call that failed ambiguously
(timeout, reset, 5xx: Optimove may have applied it) is counted, so re-sends are reported.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine

from app.adapters.db import campaigns, outbox
from app.adapters.db import claims as claim_rows
from app.adapters.optimove.errors import OptimoveError, OptimoveRateLimited, TransientOptimoveError
from app.adapters.optimove.models import PromoStatus
from app.clock import utcnow
from app.domain.campaigns import CampaignMode, CampaignState
from app.services.ports import StatusSink

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Batching, leasing and retry policy of the relay."""

    batch_size: int = 10_000
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 12
    backoff_base_seconds: float = 1.0
    backoff_max_seconds: float = 60.0
    # Hold statuses until the oldest is this old or a full batch waits (0: send at once).
    linger: timedelta = timedelta(0)


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What one relay step did."""

    outcome: str  # "sent", "retry", "dead"
    campaign_id: int
    customers: int
    error: str | None = None


def backoff_seconds(
    attempt: int, config: RelayConfig, *, retry_after: float | None, rng: random.Random
) -> float:
    """Exponential backoff with jitter, never shorter than the server's Retry-After."""
    ceiling = min(config.backoff_max_seconds, config.backoff_base_seconds * 2 ** max(attempt - 1, 0))
    delay = rng.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


def relay_once(
    engine: Engine,
    sink: StatusSink,
    config: RelayConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
) -> RelayResult | None:
    """Send one batch if one is due; None when the outbox has nothing to send now.

    It waits for the rate budget before building the batch: under a tight budget, rows that arrive
    during the wait go out in the same call instead of in many small ones.
    """
    sink.wait_for_budget(max_seconds=config.lease.total_seconds() / 2)
    with engine.begin() as conn:
        batch = outbox.claim_batch(
            conn, now=clock(), limit=config.batch_size, lease=config.lease, linger=config.linger
        )
    if batch is None:
        return None
    statuses = [PromoStatus(customer_id, status) for customer_id, status in batch.customers]
    try:
        sink.update_customer_promotion_status(batch.campaign_id, statuses)
    except OptimoveError as exc:
        return _handle_failure(engine, batch, exc, config, clock(), rng or random.Random())
    now = clock()
    with engine.begin() as conn:
        marked = outbox.mark_sent(conn, batch, now=now)
        campaign = campaigns.get_campaign(conn, batch.campaign_id)
        if campaign is not None and campaign.mode == CampaignMode.CLAIM:
            claim_rows.complete_for_customers(
                conn, batch.campaign_id, [c for c, _ in batch.customers], now=now
            )
        campaigns.add_approvals_sent(
            conn, batch.campaign_id, customers=marked, resent=batch.previously_sent, now=now
        )
        finish_approvals_if_complete(conn, batch.campaign_id, now=now)
    if batch.deadline is not None and now > batch.deadline:
        log.error(
            "approvals sent after ClearanceRequiredBy",
            extra={"campaign_id": batch.campaign_id, "customers": marked},
        )
    return RelayResult("sent", batch.campaign_id, marked)


def _handle_failure(
    engine: Engine,
    batch: outbox.ClaimedBatch,
    exc: OptimoveError,
    config: RelayConfig,
    now: datetime,
    rng: random.Random,
) -> RelayResult:
    error = f"{type(exc).__name__}: {exc}"
    with engine.begin() as conn:
        attempts = outbox.attempts_of_lease(conn, batch)
        if isinstance(exc, TransientOptimoveError) and attempts < config.max_attempts:
            retry_after = exc.retry_after if isinstance(exc, OptimoveRateLimited) else None
            delay = backoff_seconds(attempts, config, retry_after=retry_after, rng=rng)
            outbox.release_for_retry(
                conn,
                batch,
                available_at=now + timedelta(seconds=delay),
                error=error,
                maybe_applied=exc.ambiguous,
            )
            log.warning(
                "status update failed, will retry",
                extra={
                    "campaign_id": batch.campaign_id,
                    "attempt": attempts,
                    "retry_in_s": round(delay, 2),
                    "error": error,
                },
            )
            return RelayResult("retry", batch.campaign_id, len(batch.customers), error)
        outbox.mark_dead(conn, batch, now=now, error=error)
        campaigns.set_error(conn, batch.campaign_id, f"approvals dead-lettered: {error}", now=now)
    log.error(
        "status update gave up", extra={"campaign_id": batch.campaign_id, "attempt": attempts, "error": error}
    )
    return RelayResult("dead", batch.campaign_id, len(batch.customers), error)


def finish_approvals_if_complete(conn: Connection, campaign_id: int, *, now: datetime) -> bool:
    """Move an auto campaign from approving to approved once nothing is left to send."""
    if outbox.pending_count(conn, campaign_id) != 0:
        return False
    return campaigns.transition(
        conn,
        campaign_id,
        from_states=frozenset({CampaignState.APPROVING}),
        to_state=CampaignState.APPROVED,
        now=now,
        approvals_finished_at=now,
    )
