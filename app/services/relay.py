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
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.backoff import Backoff
from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.optimove_errors import OptimoveError, OptimoveRateLimited, TransientOptimoveError
from app.domain.outbox import PAGE_APPROVALS, ClaimedBatch
from app.domain.trail import CALL_AMBIGUOUS, CALL_DEAD, CALL_RETRY, CALL_SENT
from app.services import trail_steps
from app.services.ports import StatusSink
from app.services.switches import is_paused
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RelayConfig:
    """Batching, leasing and retry policy of the relay."""

    batch_size: int = 10_000
    lease: timedelta = timedelta(seconds=60)
    max_attempts: int = 12
    backoff: Backoff = field(default_factory=Backoff)
    # While the budget is scarce (this share of its window spent) and more statuses are on their
    # way (claims, or an auto campaign still ingesting), hold statuses until the oldest is `linger`
    # old or a full batch waits: one call then carries many. Otherwise (budget to spare, or nothing
    # more coming) they go at once, but for the approvals of an auto campaign still ingesting, which
    # always wait so: no customer waits on them, and a call spent on part of a batch is one fewer
    # for its pages.
    linger: timedelta = timedelta(0)
    linger_when_budget_used: float = 0.5


@dataclass(frozen=True, slots=True)
class RelayResult:
    """What one relay step did."""

    outcome: str  # "sent", "retry", "dead"
    campaign_id: int
    customers: int
    error: str | None = None


def relay_once(
    uow_factory: UnitOfWorkFactory,
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
    scarce = bool(config.linger) and sink.budget_used() >= config.linger_when_budget_used
    with uow_factory() as uow:
        linger = config.linger if scarce and _more_on_the_way(uow) else timedelta(0)
        # Held campaigns send nothing; the pause holds auto approvals back (read per batch).
        batch = uow.outbox.claim_batch(
            now=clock(),
            limit=config.batch_size,
            lease=config.lease,
            linger=linger,
            approvals_paused=is_paused(uow),
            # An auto campaign's pages keep queueing approvals while it ingests: whatever the budget,
            # each call carries a full batch (sampled with budget to spare: 50 of 97 calls did not).
            approvals_linger=config.linger,
        )
        uow.commit()
    if batch is None:
        return None
    try:
        sink.update_customer_promotion_status(batch.campaign_id, batch.statuses())
    except OptimoveError as exc:
        return _handle_failure(uow_factory, batch, exc, config, clock(), rng or random.Random())
    now = clock()
    with uow_factory() as uow:
        call_id = uow.trail.record_status_call(batch, outcome=CALL_SENT, error=None, now=now)
        marked = uow.outbox.mark_sent(batch, now=now, call_id=call_id)
        if batch.kind != PAGE_APPROVALS:  # pages are an auto campaign's, whose mode no longer changes
            campaign = uow.campaigns.get(batch.campaign_id)
            if campaign is not None and campaign.mode == CampaignMode.CLAIM:
                uow.claims.mark_completed(batch.campaign_id, [c for c, _ in batch.customers], now=now)
        uow.campaigns.add_approvals_sent(
            batch.campaign_id, customers=marked, resent=batch.previously_sent, now=now
        )
        finish_approvals_if_complete(uow, batch.campaign_id, now=now)
        uow.commit()
    if batch.deadline is not None and now > batch.deadline:
        log.error(
            "approvals sent after ClearanceRequiredBy",
            extra={"campaign_id": batch.campaign_id, "customers": marked},
        )
    return RelayResult("sent", batch.campaign_id, marked)


def _more_on_the_way(uow: UnitOfWork) -> bool:
    """Whether statuses will join the outbox soon: claims on their way, or an auto campaign still
    ingesting (each page it writes queues its approvals)."""
    if uow.claims.any_on_the_way():
        return True
    ingesting = uow.campaigns.in_states(frozenset({CampaignState.INGESTING}))
    return any(campaign.mode == CampaignMode.AUTO for campaign in ingesting)


def _handle_failure(
    uow_factory: UnitOfWorkFactory,
    batch: ClaimedBatch,
    exc: OptimoveError,
    config: RelayConfig,
    now: datetime,
    rng: random.Random,
) -> RelayResult:
    error = f"{type(exc).__name__}: {exc}"
    with uow_factory() as uow:
        attempts = uow.outbox.attempts_of(batch)
        if isinstance(exc, TransientOptimoveError) and attempts < config.max_attempts:
            retry_after = exc.retry_after if isinstance(exc, OptimoveRateLimited) else None
            delay = config.backoff.delay(max(attempts, 1), retry_after=retry_after, rng=rng)
            uow.outbox.release_for_retry(
                batch,
                available_at=now + timedelta(seconds=delay),
                error=error,
                maybe_applied=exc.ambiguous,
            )
            outcome = CALL_AMBIGUOUS if exc.ambiguous else CALL_RETRY
            call_id = uow.trail.record_status_call(batch, outcome=outcome, error=error, now=now)
            uow.trail.append(trail_steps.status_call_failed(batch, call_id, error, outcome, delay, now=now))
            uow.commit()
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
        uow.outbox.mark_dead(batch, now=now, error=error)
        call_id = uow.trail.record_status_call(batch, outcome=CALL_DEAD, error=error, now=now)
        uow.trail.append(trail_steps.status_call_failed(batch, call_id, error, CALL_DEAD, None, now=now))
        uow.campaigns.record_error(batch.campaign_id, f"approvals dead-lettered: {error}", now=now)
        uow.commit()
    log.error(
        "status update gave up", extra={"campaign_id": batch.campaign_id, "attempt": attempts, "error": error}
    )
    return RelayResult("dead", batch.campaign_id, len(batch.customers), error)


def finish_approvals_if_complete(uow: UnitOfWork, campaign_id: int, *, now: datetime) -> bool:
    """Move an auto campaign from approving to approved once nothing is left to send."""
    if uow.outbox.pending_count(campaign_id) != 0:
        return False
    return uow.campaigns.finish_approvals(campaign_id, now=now)
