"""Claims, step 2: grant the rewards of validated claims, each grant settled on its own.

One round makes one grant attempt per validated claim (counted first, so the POSTs per claim never
exceed `max_attempts` whoever dispatches it), then records every outcome in one unit of work:
granted → activated, with the activation record and the outbox row of its status; refused →
rejected with the platform's reason; misconfigured → failed (an error an operator sees); not
settled → still validated with its last error and the next round scheduled, or failed once every
attempt allowed was made. The caller (the activate task) is the one retry layer.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from app.clock import utcnow
from app.domain.backoff import Backoff
from app.domain.claims import (
    ACTIVATION_MISCONFIGURED,
    ACTIVATION_REFUSED,
    ACTIVATION_RETRY,
    ACTIVATION_UNCONFIRMED,
    ActivatedClaim,
    Claim,
    ClaimState,
    Reward,
    RewardContext,
)
from app.domain.rewards import GrantKind, GrantOutcome, RewardGrant
from app.domain.safeguards import RewardRequest, reserve_rewards
from app.policies.rewards import RewardPipeline
from app.services import trail_steps
from app.services.operator_control import ControlConfig, effective_for, trip
from app.services.ports import RewardActivator
from app.services.switches import is_paused
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ActivationConfig:
    """How activation retries: grant attempts per claim at most, and the wait between rounds."""

    max_attempts: int = 9  # CLAIM_MAX_RETRIES + 1
    backoff: Backoff = field(default_factory=Backoff)
    # The fallbacks of the safeguards (max_rewards, max_reward_amount) and where trips are counted.
    control: ControlConfig = field(default_factory=ControlConfig)


@dataclass(frozen=True, slots=True)
class ActivationResult:
    """What one activation round did, and what is left for the next round."""

    # "activated" (something was settled), "retry" (only retries left), "skipped" (nothing to do) or
    # "paused" (the global pause is on: the claims stay validated until resumed)
    outcome: str
    activated: int = 0
    refused: int = 0
    failed: int = 0
    stopped: int = 0  # rejected by a safeguard (max_rewards, max_reward_amount)
    retry: tuple[str, ...] = ()  # claim ids to activate again, after `retry_in_seconds`
    retry_after: float | None = None  # the longest Retry-After the platform asked for
    retry_in_seconds: float = 0.0


@dataclass
class Settlement:
    """Where each claim of a round goes, with its own reason."""

    granted: list[RewardGrant] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    misconfigured: dict[str, str] = field(default_factory=dict)
    unconfirmed: dict[str, str] = field(default_factory=dict)  # every attempt allowed was made
    retry: dict[str, str] = field(default_factory=dict)  # the last error of each claim to retry


def activate_validated(
    uow_factory: UnitOfWorkFactory,
    activator: RewardActivator,
    rewards: RewardPipeline,
    claim_ids: Sequence[str],
    config: ActivationConfig = ActivationConfig(),
    *,
    clock: Callable[[], datetime] = utcnow,
    rng: random.Random | None = None,
) -> ActivationResult:
    """One activation round for the claims still validated among `claim_ids`.

    Nothing happens while the global pause is on, nor for claims of a held campaign (they stay
    validated; resume or release dispatches them again). Each claim's reward is reserved within
    its campaign's limits first, under the campaign's row lock, so that concurrent rounds cannot
    grant past them; a claim beyond them is rejected with the safeguard's reason.
    """
    with uow_factory() as uow:
        if is_paused(uow):
            return ActivationResult("paused")
        ready = [c for c in uow.claims.get_many(claim_ids) if c.state == ClaimState.VALIDATED]
        if not ready:
            return ActivationResult("skipped")
        deadlines = _deadlines(uow, {c.campaign_id for c in ready})
        ready, stopped = _reserve_within_safeguards(uow, config.control, rewards, ready, clock())
        attempt_of = uow.claims.reserve_activation_attempts(
            [c.id for c in ready], max_attempts=config.max_attempts, now=clock()
        )
        exhausted = _exhausted([c for c in ready if c.id not in attempt_of])
        given_up = uow.claims.mark_failed(exhausted, now=clock())
        uow.trail.append(trail_steps.claims_failed(ready, {i: exhausted[i] for i in given_up}, now=clock()))
        uow.commit()
    for (campaign_id, safeguard), count in sorted(Counter(stopped.values()).items()):
        trip(config.control, safeguard, campaign_id, count)
    if not ready:
        return ActivationResult("activated" if stopped else "skipped", stopped=len(stopped))
    grants = [grant_for(c, rewards) for c in ready if c.id in attempt_of]
    outcomes = {o.claim_id: o for o in activator.grant(grants)} if grants else {}
    settlement = settle(grants, outcomes, attempt_of, config.max_attempts)
    retry_after = max((outcomes[i].retry_after or 0.0 for i in settlement.retry), default=0.0) or None
    retry_in = 0.0
    if settlement.retry:
        last_attempt = max(attempt_of[i] for i in settlement.retry)
        retry_in = config.backoff.delay(last_attempt, retry_after=retry_after, rng=rng)
    now = clock()
    with uow_factory() as uow:
        kept = _record_granted(uow, activator, settlement.granted, outcomes, deadlines, now)
        refused = uow.claims.mark_rejected(settlement.refused, source=ClaimState.VALIDATED, now=now)
        misconfigured = uow.claims.mark_failed(settlement.misconfigured, now=now)
        # Nothing was granted for these: their reservations go back to the campaign. An unconfirmed
        # grant keeps its reservation (the platform may hold the reward).
        uow.claims.release_reservations([*refused, *misconfigured], now=now)
        unconfirmed = uow.claims.mark_failed(settlement.unconfirmed, now=now) + given_up
        moved = {*misconfigured, *unconfirmed}
        uow.claims.schedule_activation_retry(
            settlement.retry, due_at=now + timedelta(seconds=retry_in), now=now
        )
        uow.trail.append(
            trail_steps.activation_round(
                {c.id: c for c in ready},
                kept,
                outcomes,
                attempt_of,
                refused={i: settlement.refused[i] for i in refused},
                failed={
                    i: r for i, r in (settlement.misconfigured | settlement.unconfirmed).items() if i in moved
                },
                retry=settlement.retry,
                activator=activator.name,
                retry_in_seconds=retry_in,
                now=now,
            )
        )
        uow.commit()
    # The statuses queued above wake the relay at commit (PostgreSQL NOTIFY): no broker message.
    _log_round(kept, refused, misconfigured, unconfirmed, settlement, retry_in)
    failed = len(misconfigured) + len(unconfirmed)
    return ActivationResult(
        "activated" if kept or refused or failed or not settlement.retry else "retry",
        activated=len(kept),
        refused=len(refused),
        failed=failed,
        stopped=len(stopped),
        retry=tuple(settlement.retry),
        retry_after=retry_after,
        retry_in_seconds=retry_in,
    )


def _reserve_within_safeguards(
    uow: UnitOfWork, control: ControlConfig, rewards: RewardPipeline, ready: list[Claim], now: datetime
) -> tuple[list[Claim], dict[str, tuple[int, str]]]:
    """Reserve each claim's reward within its campaign's limits, campaign by campaign (in id order,
    so that two rounds never wait on each other's locks); the claims to grant, and the claims a
    safeguard rejected with (campaign, safeguard). Claims of a held campaign are left out: they wait."""
    to_grant: list[Claim] = []
    stopped: dict[str, tuple[int, str]] = {}
    for campaign_id in sorted({c.campaign_id for c in ready}):
        claims = [c for c in ready if c.campaign_id == campaign_id]
        limits = effective_for(uow, control, campaign_id).safeguards
        # The row lock serialises the reservations of a campaign that has a reward limit; without
        # one, nothing can be refused, and the counters' own UPDATE keeps them exact.
        bounded = limits.max_rewards is not None or limits.max_reward_amount is not None
        campaign = uow.campaigns.get(campaign_id, lock=bounded)
        if campaign is None:
            to_grant += claims
            continue
        if campaign.hold is not None:
            continue
        unreserved = [c for c in claims if c.reserved_amount is None]
        reservation = reserve_rewards(
            limits,
            rewards_reserved=campaign.rewards_reserved,
            amount_reserved=campaign.amount_reserved,
            requests=[RewardRequest(c.id, grant_for(c, rewards).amount) for c in unreserved],
        )
        uow.claims.reserve_rewards(campaign_id, {r.claim_id: r.amount for r in reservation.granted}, now=now)
        rejected = uow.claims.mark_rejected(reservation.rejected, source=ClaimState.VALIDATED, now=now)
        stopped.update({claim_id: (campaign_id, reservation.rejected[claim_id]) for claim_id in rejected})
        reasons = {claim_id: reservation.rejected[claim_id] for claim_id in rejected}
        uow.trail.append(trail_steps.claims_stopped_by_safeguard(claims, reasons, now=now))
        to_grant += [c for c in claims if c.id not in reservation.rejected]
    kept = {c.id for c in to_grant}
    return [c for c in ready if c.id in kept], stopped


def settle(
    grants: Sequence[RewardGrant],
    outcomes: dict[str, GrantOutcome],
    attempt_of: dict[str, int],
    max_attempts: int,
) -> Settlement:
    """Sort a round's outcomes into what happens to each claim, each with its own reason."""
    settlement = Settlement()
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


def _exhausted(claims: Sequence[Claim]) -> dict[str, str]:
    """Why validated claims that used every attempt without a recorded outcome fail.

    That happens when a worker died during the last attempt: the platform may hold the reward, so
    the reason says it is unconfirmed; a late confirmation still activates the claim.
    """
    reasons = {}
    for claim in claims:
        last = (claim.reason or "").removeprefix(f"{ACTIVATION_RETRY}: ") or "no outcome recorded"
        reasons[claim.id] = f"{ACTIVATION_UNCONFIRMED}: {last} after {claim.activation_attempts} attempts"
    return reasons


def _record_granted(
    uow: UnitOfWork,
    activator: RewardActivator,
    granted: Sequence[RewardGrant],
    outcomes: dict[str, GrantOutcome],
    deadlines: dict[int, datetime | None],
    now: datetime,
) -> list[RewardGrant]:
    """Activate the granted claims, record the grants and queue their statuses; the grants whose claim moved.

    A claim given up meanwhile (failed) is activated too: the platform confirmed it holds the reward.
    """
    moved = set(uow.claims.mark_activated([ActivatedClaim(g.claim_id, g.amount) for g in granted], now=now))
    kept = [g for g in granted if g.claim_id in moved]
    activator.record(uow, kept, now)
    uow.activations.record(
        [(g, outcomes[g.claim_id].external_ref) for g in kept], activator=activator.name, now=now
    )
    for campaign_id in sorted({g.campaign_id for g in kept}):
        customers = [g.customer_id for g in kept if g.campaign_id == campaign_id]
        uow.outbox.enqueue_statuses(campaign_id, customers, deadline=deadlines.get(campaign_id), now=now)
    return kept


def _deadlines(uow: UnitOfWork, campaign_ids: set[int]) -> dict[int, datetime | None]:
    deadlines: dict[int, datetime | None] = {}
    for campaign_id in campaign_ids:
        campaign = uow.campaigns.get(campaign_id)
        deadlines[campaign_id] = None if campaign is None else campaign.clearance_required_by
    return deadlines


def grant_for(claim: Claim, rewards: RewardPipeline) -> RewardGrant:
    """The reward to grant for a validated claim: OptiPromo's offer, scaled by the reward policies."""
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


def _log_round(
    kept: Sequence[RewardGrant],
    refused: Sequence[str],
    misconfigured: Sequence[str],
    unconfirmed: Sequence[str],
    settlement: Settlement,
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
