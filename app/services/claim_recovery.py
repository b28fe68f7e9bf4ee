"""Claims that cannot go on alone: given up (failed), replayed, or found stuck and dispatched again."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.claims import ClaimState
from app.services import trail_steps
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from app.services.validation import ValidationDoorbell, validation_targets

log = logging.getLogger(__name__)
RECONCILE_BATCH = 1000


def fail_claims(
    uow_factory: UnitOfWorkFactory,
    claim_ids: Sequence[str],
    *,
    reason: str,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Give up on claims whose retries are used up: they land in `failed`, visible and replayable."""
    with uow_factory() as uow:
        failed = uow.claims.mark_failed(dict.fromkeys(claim_ids, reason), now=clock())
        if failed:
            uow.trail.append(
                trail_steps.claims_failed(
                    uow.claims.get_many(failed), dict.fromkeys(failed, reason), now=clock()
                )
            )
        uow.commit()
    if failed:
        log.error("claims failed", extra={"claims": failed, "reason": reason})
    return failed


def retry_failed(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    claim_ids: Sequence[str] | None = None,
    *,
    campaign_id: int | None = None,
    record: Callable[[UnitOfWork, list[str]], None] | None = None,
    replayed_by: str = "claims retry",
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Put failed claims back to pending (all of them, or a campaign's, when no ids are given) and
    ring their validators; `record` writes what was replayed (the console's audit) in the same
    transaction, and each customer's trail says who replayed it (`replayed_by`)."""
    with uow_factory() as uow:
        ids = list(claim_ids) if claim_ids else uow.claims.failed_ids(campaign_id=campaign_id)
        moved = uow.claims.reopen_failed(ids, now=clock())
        targets = validation_targets(uow, moved)
        if moved:
            uow.trail.append(
                trail_steps.claims_replayed(uow.claims.get_many(moved), by=replayed_by, now=clock())
            )
        if record is not None:
            record(uow, moved)
        uow.commit()
    doorbell.ring_all(targets, force=True)
    return moved


def reconcile_claims(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Dispatch again the claims stuck in a live state (their task was lost or their worker died)."""
    now = clock()
    with uow_factory() as uow:
        # A lease that ran out means its worker died mid-validation: those claims go again now,
        # not a staleness delay later (the lease already made them wait).
        expired = uow.claims.expire_leases(now=now)
        stale = uow.claims.stale(stale_before=now - stale_after, limit=RECONCILE_BATCH)
        stale += [(claim_id, ClaimState.PENDING) for claim_id in expired]
        uow.claims.mark_dispatched([claim_id for claim_id, _ in stale], now=now)
        targets = validation_targets(
            uow, [claim_id for claim_id, state in stale if state == ClaimState.PENDING]
        )
        uow.commit()
    # Forced: the wake-up these claims are waiting for may be the one that was lost.
    doorbell.ring_all(targets, force=True)
    dispatcher = doorbell.dispatcher
    validated = [claim_id for claim_id, state in stale if state == ClaimState.VALIDATED]
    if validated:
        dispatcher.activate_claims(validated)
    if any(state == ClaimState.ACTIVATED for _, state in stale):
        dispatcher.report_status()
    if stale:
        log.warning("re-dispatched stuck claims", extra={"claims": len(stale)})
    return len(stale)
