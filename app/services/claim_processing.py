"""Flow C after submission: validate (micro-batched), activate, and hand the status to the outbox.

Each step takes claim ids, re-reads their state and moves them with state-guarded updates, so a
redelivered task does nothing. Validation is adaptive micro-batching: the task for one claim leases
every claim then pending for the same promo code and campaign (up to `max_contexts`) and validates
them in one OptiPromo call, so a lone claim goes at once and a burst fills batches.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Protocol

from sqlalchemy import Connection, Engine

from app.adapters.activators import GrantKind, GrantOutcome, RewardActivator, RewardGrant
from app.adapters.db import activations, campaigns
from app.adapters.db import claims as claim_rows
from app.adapters.optimove.optipromo import ValidationContext, ValidationResult
from app.clock import utcnow
from app.domain.backoff import Backoff
from app.domain.claims import (
    ACTIVATION_MISCONFIGURED,
    ACTIVATION_REFUSED,
    ACTIVATION_RETRY,
    ACTIVATION_UNCONFIRMED,
    ClaimState,
    Reward,
    RewardContext,
)
from app.policies.rewards import RewardPipeline

log = logging.getLogger(__name__)


class PromotionValidator(Protocol):
    """OptiPromo validateCustomers."""

    def wait_for_budget(self, *, max_seconds: float) -> float:
        """Sleep until a rate-limit slot is free (taking none)."""
        ...

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        """Validate each context; one result per context, in order."""
        ...


class ClaimDispatcher(Protocol):
    """Hands the next step of claims to the workers (after the transaction that recorded it)."""

    def validate_claim(self, claim_id: str) -> None:
        """Queue the validation of a pending claim."""
        ...

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        """Queue the activation of validated claims."""
        ...

    def report_status(self) -> None:
        """Queue a status-update round of the outbox relay."""
        ...


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """How validation batches and leases."""

    max_contexts: int = 100
    lease: timedelta = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step did, for logs and tests."""

    outcome: str
    moved: int = 0
    rejected: int = 0


def validate_pending(
    engine: Engine,
    validator: PromotionValidator,
    dispatcher: ClaimDispatcher,
    config: ValidationConfig,
    claim_id: str,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> StepResult:
    """Validate the claim's batch; Optimove errors propagate after the batch is put back to pending."""
    with engine.connect() as conn:
        claim = claim_rows.get_claim(conn, claim_id)
    if claim is None or claim.state != ClaimState.PENDING:
        return StepResult("skipped")
    # Wait for the budget before building the batch: claims arriving meanwhile join this call.
    validator.wait_for_budget(max_seconds=config.lease.total_seconds() / 2)
    with engine.begin() as conn:
        lease_id, batch = claim_rows.lease_pending_batch(
            conn,
            promo_code=claim.promo_code,
            campaign_id=claim.campaign_id,
            limit=config.max_contexts,
            lease=config.lease,
            now=clock(),
        )
    if not batch:
        return StepResult("skipped")
    contexts = [ValidationContext(c.customer_id, c.session_properties) for c in batch]
    try:
        results = validator.validate_customers(
            claim.promo_code or "", contexts, campaign_id=claim.campaign_id
        )
    except Exception as exc:
        with engine.begin() as conn:
            claim_rows.release_lease(
                conn, lease_id, now=clock(), reason=f"validation retry: {type(exc).__name__}"
            )
        raise
    by_customer = {result.customer_id: result for result in results}
    now = clock()
    validated: list[str] = []
    rejected = 0
    with engine.begin() as conn:
        for c in batch:
            result = by_customer[c.customer_id]
            if result.eligible:
                validated += claim_rows.transition(
                    conn,
                    [c.id],
                    source=ClaimState.VALIDATING,
                    target=ClaimState.VALIDATED,
                    now=now,
                    lease_id=None,
                    lease_until=None,
                    tier=result.tier,
                    reward_type=result.reward_type,
                    reward_amount=result.reward_amount,
                    validated_at=now,
                    reason=None,
                )
            else:
                rejected += len(
                    claim_rows.transition(
                        conn,
                        [c.id],
                        source=ClaimState.VALIDATING,
                        target=ClaimState.REJECTED,
                        now=now,
                        lease_id=None,
                        lease_until=None,
                        reason=result.reason or "not_eligible",
                    )
                )
        claim_rows.mark_dispatched(conn, validated, now=now)
    if validated:
        dispatcher.activate_claims(validated)
    return StepResult("validated", moved=len(validated), rejected=rejected)


@dataclass(frozen=True, slots=True)
class ActivationConfig:
    """How activation retries: grant attempts per claim at most, and the wait between rounds."""

    max_attempts: int = 9  # CLAIM_MAX_RETRIES + 1
    backoff: Backoff = field(default_factory=Backoff)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    """What one activation round did, and what is left for the next round."""

    outcome: str  # "activated" (something was settled), "retry" (only retries left) or "skipped"
    activated: int = 0
    refused: int = 0
    failed: int = 0
    retry: tuple[str, ...] = ()  # claim ids to activate again, after `retry_in_seconds`
    retry_after: float | None = None  # the longest Retry-After the platform asked for
    retry_in_seconds: float = 0.0


@dataclass
class _Settlement:
    """Where each claim of a round goes, with its own reason."""

    granted: list[RewardGrant] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    misconfigured: dict[str, str] = field(default_factory=dict)
    unconfirmed: dict[str, str] = field(default_factory=dict)  # every attempt allowed was made
    retry: dict[str, str] = field(default_factory=dict)  # the last error of each claim to retry


def activate_validated(
    engine: Engine,
    activator: RewardActivator,
    rewards: RewardPipeline,
    dispatcher: ClaimDispatcher,
    claim_ids: Sequence[str],
    config: ActivationConfig = ActivationConfig(),
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
) -> ActivationResult:
    """One activation round: one grant attempt per validated claim, each outcome recorded on its own.

    In one transaction after the grants: granted → activated, with the activation record and the
    outbox row for its status; refused → rejected with the platform's reason; misconfigured →
    failed (logged at error level); not settled → still validated with its last error, the next
    round scheduled (the result says when), or failed once `config.max_attempts` attempts were
    made. Each attempt is counted before its POST, so the POSTs per claim never exceed
    `config.max_attempts`, whoever dispatches the claim.
    """
    with engine.connect() as conn:
        ready = [c for c in claim_rows.get_claims(conn, claim_ids) if c.state == ClaimState.VALIDATED]
        deadlines = {
            campaign_id: _deadline(conn, campaign_id) for campaign_id in {c.campaign_id for c in ready}
        }
    if not ready:
        return ActivationResult("skipped")
    with engine.begin() as conn:
        attempt_of = claim_rows.reserve_activation_attempts(
            conn, [c.id for c in ready], max_attempts=config.max_attempts, now=clock()
        )
        given_up = _give_up_exhausted(conn, [c for c in ready if c.id not in attempt_of], clock())
    grants = [_grant_for(c, rewards) for c in ready if c.id in attempt_of]
    outcomes = {o.claim_id: o for o in activator.grant(grants)} if grants else {}
    settlement = _settle(grants, outcomes, attempt_of, config.max_attempts)
    retry_after = max((outcomes[i].retry_after or 0.0 for i in settlement.retry), default=0.0) or None
    retry_in = 0.0
    if settlement.retry:
        last_attempt = max(attempt_of[i] for i in settlement.retry)
        retry_in = config.backoff.delay(last_attempt, retry_after=retry_after, rng=rng)
    now = clock()
    with engine.begin() as conn:
        kept = _record_granted(conn, activator, settlement.granted, outcomes, deadlines, now)
        refused = _reject(conn, settlement.refused, now)
        misconfigured = _fail(conn, settlement.misconfigured, now)
        unconfirmed = _fail(conn, settlement.unconfirmed, now) + given_up
        claim_rows.schedule_activation_retry(
            conn, settlement.retry, due_at=now + timedelta(seconds=retry_in), now=now
        )
    if kept:
        dispatcher.report_status()
    _log_round(kept, refused, misconfigured, unconfirmed, settlement, retry_in)
    failed = len(misconfigured) + len(unconfirmed)
    return ActivationResult(
        "activated" if kept or refused or failed or not settlement.retry else "retry",
        activated=len(kept),
        refused=len(refused),
        failed=failed,
        retry=tuple(settlement.retry),
        retry_after=retry_after,
        retry_in_seconds=retry_in,
    )


def _settle(
    grants: Sequence[RewardGrant],
    outcomes: dict[str, GrantOutcome],
    attempt_of: dict[str, int],
    max_attempts: int,
) -> _Settlement:
    """Sort a round's outcomes into what happens to each claim, each with its own reason."""
    settlement = _Settlement()
    for grant in grants:
        outcome = outcomes.get(grant.claim_id)
        if outcome is None:  # an activator that broke its contract: nothing is known of this grant
            outcome = GrantOutcome(grant.claim_id, GrantKind.RETRY, reason="the activator gave no outcome")
            outcomes[grant.claim_id] = outcome
        reason = outcome.reason or outcome.kind.value
        attempts = attempt_of[grant.claim_id]
        match outcome.kind:
            case GrantKind.GRANTED:
                settlement.granted.append(grant)
            case GrantKind.REFUSED:
                settlement.refused[grant.claim_id] = f"{ACTIVATION_REFUSED}: {reason}"
            case GrantKind.MISCONFIGURED:
                settlement.misconfigured[grant.claim_id] = f"{ACTIVATION_MISCONFIGURED}: {reason}"
            case GrantKind.RETRY if attempts >= max_attempts:
                settlement.unconfirmed[grant.claim_id] = (
                    f"{ACTIVATION_UNCONFIRMED}: {reason} after {attempts} attempts"
                )
            case GrantKind.RETRY:
                settlement.retry[grant.claim_id] = f"{ACTIVATION_RETRY}: {reason}"
    return settlement


def _give_up_exhausted(
    conn: Connection, exhausted: Sequence[claim_rows.ClaimRecord], now: datetime
) -> list[str]:
    """Fail validated claims that already used every attempt without an outcome being recorded.

    That happens when a worker died during the last attempt: the platform may hold the reward, so
    the reason says it is unconfirmed; a late confirmation still activates the claim.
    """
    reasons = {}
    for claim in exhausted:
        last = (claim.reason or "").removeprefix(f"{ACTIVATION_RETRY}: ") or "no outcome recorded"
        reasons[claim.id] = f"{ACTIVATION_UNCONFIRMED}: {last} after {claim.activation_attempts} attempts"
    return _fail(conn, reasons, now)


def _record_granted(
    conn: Connection,
    activator: RewardActivator,
    granted: Sequence[RewardGrant],
    outcomes: dict[str, GrantOutcome],
    deadlines: dict[int, datetime | None],
    now: datetime,
) -> list[RewardGrant]:
    """Activate the granted claims and queue their statuses; returns the grants whose claim moved.

    A claim given up meanwhile (failed) is activated too: the platform confirmed it holds the reward.
    """
    kept: list[RewardGrant] = []
    for g in granted:
        for source in (ClaimState.VALIDATED, ClaimState.FAILED):
            moved = claim_rows.transition(
                conn,
                [g.claim_id],
                source=source,
                target=ClaimState.ACTIVATED,
                now=now,
                granted_amount=g.amount,
                activated_at=now,
                reason=None,
            )
            if moved:
                kept.append(g)
                break
    activator.record(conn, kept, now)
    for g in kept:
        activations.record_activation(
            conn,
            claim_id=g.claim_id,
            activator=activator.name,
            external_ref=outcomes[g.claim_id].external_ref,
            amount=g.amount,
            now=now,
        )
    for campaign_id in {g.campaign_id for g in kept}:
        customers = [g.customer_id for g in kept if g.campaign_id == campaign_id]
        activations.enqueue_statuses(conn, campaign_id, customers, deadline=deadlines[campaign_id], now=now)
    return kept


def _reject(conn: Connection, reasons: dict[str, str], now: datetime) -> list[str]:
    """Reject validated claims whose reward the platform declined, each with its reason."""
    return _move(conn, reasons, ClaimState.REJECTED, now)


def _fail(conn: Connection, reasons: dict[str, str], now: datetime) -> list[str]:
    """Fail validated claims, each with its own reason; `promobridge claims retry` replays them."""
    return _move(conn, reasons, ClaimState.FAILED, now)


def _move(conn: Connection, reasons: dict[str, str], target: ClaimState, now: datetime) -> list[str]:
    moved: list[str] = []
    for claim_id, reason in reasons.items():
        moved += claim_rows.transition(
            conn, [claim_id], source=ClaimState.VALIDATED, target=target, now=now, reason=reason[:255]
        )
    return moved


def _log_round(
    kept: Sequence[RewardGrant],
    refused: Sequence[str],
    misconfigured: Sequence[str],
    unconfirmed: Sequence[str],
    settlement: _Settlement,
    retry_in: float,
) -> None:
    """One summary line per round, and an error line an operator will see for claims that failed."""
    if misconfigured:
        log.error(
            "reward activator misconfigured, claims failed: fix the endpoint or REWARD_ACTIVATOR_*, "
            "then replay them with `promobridge claims retry --all-failed`",
            extra={"claims": list(misconfigured), "reason": settlement.misconfigured[misconfigured[0]]},
        )
    if unconfirmed:
        log.error(
            "claims failed: their grant stayed unconfirmed after every attempt allowed",
            extra={"claims": list(unconfirmed)},
        )
    log.info(
        "claims activation round",
        extra={
            "activated": len(kept),
            "refused": len(refused),
            "failed": len(misconfigured) + len(unconfirmed),
            "retry": len(settlement.retry),
            "retry_in_s": round(retry_in, 2),
            "campaigns": sorted({g.campaign_id for g in kept}),
        },
    )


def _deadline(conn: Connection, campaign_id: int) -> datetime | None:
    campaign = campaigns.get_campaign(conn, campaign_id)
    return None if campaign is None else campaign.clearance_required_by


def _grant_for(claim: claim_rows.ClaimRecord, rewards: RewardPipeline) -> RewardGrant:
    base = Reward(claim.reward_type, claim.reward_amount if claim.reward_amount is not None else Decimal(0))
    context = RewardContext(
        claim.campaign_id, claim.customer_id, claim.segment, claim.tier, claim.session_properties
    )
    scaled = rewards.scale(base, context)
    return RewardGrant(
        claim.id,
        claim.campaign_id,
        claim.customer_id,
        claim.promo_code,
        claim.tier,
        scaled.type,
        scaled.amount,
    )


def fail_claims(
    engine: Engine, claim_ids: Sequence[str], *, reason: str, clock: Callable[[], datetime] = utcnow
) -> list[str]:
    """Give up on claims whose retries are used up: they land in `failed`, visible and replayable."""
    now = clock()
    failed: list[str] = []
    with engine.begin() as conn:
        for source in (ClaimState.PENDING, ClaimState.VALIDATING, ClaimState.VALIDATED):
            failed += claim_rows.transition(
                conn,
                claim_ids,
                source=source,
                target=ClaimState.FAILED,
                now=now,
                reason=reason[:255],
                lease_id=None,
                lease_until=None,
            )
    if failed:
        log.error("claims failed", extra={"claims": failed, "reason": reason})
    return failed


def retry_failed(
    engine: Engine,
    dispatcher: ClaimDispatcher,
    claim_ids: Sequence[str] | None = None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Put failed claims back to pending (all of them when no ids are given) and dispatch them."""
    now = clock()
    with engine.begin() as conn:
        ids = list(claim_ids) if claim_ids else claim_rows.failed_claim_ids(conn)
        moved = claim_rows.transition(
            conn,
            ids,
            source=ClaimState.FAILED,
            target=ClaimState.PENDING,
            now=now,
            reason=None,
            dispatched_at=now,
            # A replay is an operator's decision, after a fix: it gets a fresh budget of attempts.
            activation_attempts=0,
        )
    for claim_id in moved:
        dispatcher.validate_claim(claim_id)
    return moved


def reconcile_claims(
    engine: Engine,
    dispatcher: ClaimDispatcher,
    *,
    stale_after: timedelta,
    clock: Callable[[], datetime] = utcnow,
) -> int:
    """Dispatch again the claims stuck in a non-terminal state (their task was lost)."""
    now = clock()
    with engine.begin() as conn:
        claim_rows.expire_leases(conn, now=now)
        stale = claim_rows.stale_claims(conn, stale_before=now - stale_after, limit=1000)
        claim_rows.mark_dispatched(conn, [claim_id for claim_id, _ in stale], now=now)
    for claim_id, state in stale:
        if state == ClaimState.PENDING:
            dispatcher.validate_claim(claim_id)
    validated = [claim_id for claim_id, state in stale if state == ClaimState.VALIDATED]
    if validated:
        dispatcher.activate_claims(validated)
    if any(state == ClaimState.ACTIVATED for _, state in stale):
        dispatcher.report_status()
    if stale:
        log.warning("re-dispatched stuck claims", extra={"claims": len(stale)})
    return len(stale)
