"""Claims, step 1: validate pending claims with OptiPromo, single-flight per campaign and promo code.

While claims of a (campaign, promo code) are pending, one worker holds its lock and keeps filling
validateCustomers calls: it waits for the shared budget, leases up to `max_contexts` pending claims
(oldest first), validates them in one call, records each outcome with one set-based update, hands
the eligible to activation, and goes on until none is pending. Under a scarce budget the claims
that arrive during the wait join the next call, so the budget is spent on full calls.

Waking the validator costs one broker message per wake-up, not one per claim: a new claim rings
the doorbell (`ValidationDoorbell.ring`) and only the first ring since the doorbell was last
answered publishes. The holder answers once, when its turn ends: after releasing the lock it
answers, then looks for pending claims and rings for them. Why no claim is left behind: while the
doorbell is rung (unanswered), some holder is working or about to (the ring's message wakes one,
or finds one busy and leaves it to it), and that holder answers and then looks; a claim committed
before that look is found, and one committed after it rings a doorbell just answered, so its ring
publishes. Claims arriving during a turn therefore cost no message at all: the holder's next lease
takes them. A holder that dies leaves its lock and the ring to expire (the reconciler covers the
gap: expired leases at once, other pending claims after CLAIM_STALE_AFTER_SECONDS).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.claims import NOT_ELIGIBLE, ClaimState, ValidatedClaim
from app.domain.optimove import ValidationContext
from app.domain.optimove_errors import PermanentOptimoveError
from app.services import trail_steps
from app.services.ports import Coordination, Dispatcher, PromotionValidator
from app.services.switches import is_paused
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class ValidationConfig:
    """How validation batches, leases and takes turns."""

    max_contexts: int = 100
    lease: timedelta = timedelta(seconds=60)
    # Validation calls a claim may take part in (CLAIM_MAX_RETRIES + 1); past it, a transient
    # failure fails the claim instead of putting it back.
    max_attempts: int = 6
    # A holder gives its worker slot back after this long (and rings for what is left), so that one
    # busy promo code cannot keep activations and other promo codes waiting.
    turn: timedelta = timedelta(seconds=10)
    # A ring whose message was lost is forgotten after this long (the next claim rings again).
    ring_window: timedelta = timedelta(seconds=5)
    # Once this share of the budget's window is spent, a call that is not full waits (up to
    # `fill_wait`) while claims keep arriving: each call then buys `max_contexts` validations.
    # Below it, calls go at once, so a quiet period costs no latency.
    fill_when_budget_used: float = 0.2
    fill_wait: timedelta = timedelta(seconds=1)
    fill_poll: timedelta = timedelta(milliseconds=50)


def flight_key(campaign_id: int, promo_code: str | None) -> str:
    """The key of a (campaign, promo code)'s validator lock and doorbell."""
    return f"validate:{campaign_id}:{promo_code or ''}"


@dataclass(frozen=True, slots=True)
class ValidationDoorbell:
    """Wakes the validator of a (campaign, promo code), publishing only the first ring since it looked."""

    coordination: Coordination
    dispatcher: Dispatcher
    window: timedelta = timedelta(seconds=5)

    def ring(self, campaign_id: int, promo_code: str | None, *, force: bool = False) -> bool:
        """Ring; True when this ring published a wake-up. `force` publishes even if a ring is pending
        (recovery: the earlier wake-up may be the one that was lost)."""
        rang = self.coordination.ring(flight_key(campaign_id, promo_code), self.window.total_seconds())
        if not (rang or force):
            return False
        self.dispatcher.validate_pending(campaign_id, promo_code)
        return True

    def ring_all(self, targets: Iterable[tuple[int, str | None]], *, force: bool = False) -> int:
        """Ring for each (campaign, promo code); how many wake-ups were published."""
        return sum(
            self.ring(campaign_id, promo_code, force=force) for campaign_id, promo_code in set(targets)
        )


@dataclass(frozen=True, slots=True)
class ValidationStep:
    """What one validator turn did, for logs and tests."""

    # "validated", "busy" (another holds the lock), "skipped" (nothing was pending), "paused" (the
    # global pause is on) or "held" (the campaign is held by a safeguard)
    outcome: str
    calls: int = 0
    validated: int = 0
    rejected: int = 0
    failed: int = 0


def validate_pending(
    uow_factory: UnitOfWorkFactory,
    validator: PromotionValidator,
    doorbell: ValidationDoorbell,
    config: ValidationConfig,
    campaign_id: int,
    promo_code: str | None,
    *,
    clock: Callable[[], datetime] = utcnow,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ValidationStep:
    """One validator turn for a (campaign, promo code). A call OptiPromo refuses for good fails its
    claims and the turn goes on; a transient error propagates after the claims are put back (the
    task retries with backoff)."""
    coordination, key = doorbell.coordination, flight_key(campaign_id, promo_code)
    token = coordination.acquire(key, config.lease.total_seconds())
    if token is None:
        return ValidationStep("busy")  # the holder answers and looks again when its turn ends
    calls = validated = rejected = failed = 0
    stopped: str | None = None
    ends_at = monotonic() + config.turn.total_seconds()
    try:
        while True:
            # Read per call, so a pause or a hold stops a turn in progress within one call.
            stopped, pending = _stopped_or_pending(uow_factory, campaign_id, promo_code, config.max_contexts)
            if stopped is not None or not pending:
                break
            # Waiting before leasing lets the claims that arrive meanwhile join this call.
            validator.wait_for_budget(max_seconds=config.lease.total_seconds() / 2)
            if pending < config.max_contexts and validator.budget_used() >= config.fill_when_budget_used:
                _fill(uow_factory, config, campaign_id, promo_code, pending, monotonic, sleep)
            moved = _validate_one_call(
                uow_factory, validator, doorbell.dispatcher, config, campaign_id, promo_code, clock
            )
            if moved is None:  # another validator (a lock granted while Redis was away) took them
                break
            calls, validated, rejected, failed = (
                calls + 1,
                validated + moved[0],
                rejected + moved[1],
                failed + moved[2],
            )
            coordination.refresh(key, token, config.lease.total_seconds())
            if monotonic() >= ends_at:
                break
    finally:
        coordination.release(key, token)
    coordination.answer(key)  # from here on a claim's ring publishes: see the module docstring
    if stopped is not None:
        # Paused or held: the claims wait, and resume or release rings for them (no ring here, or
        # the doorbell would loop).
        return ValidationStep(stopped if not calls else "validated", calls, validated, rejected, failed)
    if _pending(uow_factory, campaign_id, promo_code, 1):
        doorbell.ring(campaign_id, promo_code)
    return ValidationStep("validated" if calls else "skipped", calls, validated, rejected, failed)


def _validate_one_call(
    uow_factory: UnitOfWorkFactory,
    validator: PromotionValidator,
    dispatcher: Dispatcher,
    config: ValidationConfig,
    campaign_id: int,
    promo_code: str | None,
    clock: Callable[[], datetime],
) -> tuple[int, int, int] | None:
    """Lease, validate and record one call's worth of claims: (validated, rejected, failed); None if
    none was pending."""
    with uow_factory() as uow:
        lease = uow.claims.lease_pending(
            campaign_id=campaign_id,
            promo_code=promo_code,
            limit=config.max_contexts,
            lease=config.lease,
            now=clock(),
        )
        uow.commit()
    if not lease.claims:
        return None
    contexts = [ValidationContext(c.customer_id, c.session_properties) for c in lease.claims]
    try:
        answers = validator.validate_customers(promo_code or "", contexts, campaign_id=campaign_id)
    except PermanentOptimoveError as exc:
        # OptiPromo refused this call for good: its claims fail (visible, replayable), the rest go on.
        with uow_factory() as uow:
            failed = uow.claims.mark_failed(
                dict.fromkeys((c.id for c in lease.claims), _why(exc)), now=clock()
            )
            uow.trail.append(trail_steps.validation_failed(lease.claims, _why(exc), set(failed), now=clock()))
            uow.commit()
        return 0, 0, len(failed)
    except Exception as exc:
        # Transient (or unexpected): the claims go back to pending, but a claim that has taken part
        # in `max_attempts` calls fails instead, so a promo code that always errs cannot loop forever.
        spent = {c.id: _why(exc) for c in lease.claims if c.attempts >= config.max_attempts}
        with uow_factory() as uow:
            uow.claims.release_lease(
                lease.lease_id, reason=f"validation retry: {type(exc).__name__}", now=clock()
            )
            gave_up = uow.claims.mark_failed(spent, now=clock())
            uow.trail.append(
                trail_steps.validation_failed(lease.claims, _why(exc), set(gave_up), now=clock())
            )
            uow.commit()
        raise
    by_customer = {answer.customer_id: answer for answer in answers}
    eligible = [
        ValidatedClaim(c.id, r.tier, r.reward_type, r.reward_amount)
        for c in lease.claims
        if (r := by_customer[c.customer_id]).eligible
    ]
    not_eligible = {
        c.id: by_customer[c.customer_id].reason or NOT_ELIGIBLE
        for c in lease.claims
        if not by_customer[c.customer_id].eligible
    }
    now = clock()
    with uow_factory() as uow:
        validated = uow.claims.mark_validated(eligible, now=now)
        rejected = uow.claims.mark_rejected(not_eligible, source=ClaimState.VALIDATING, now=now)
        uow.trail.append(
            trail_steps.validation_answered(
                lease.claims, by_customer, {*validated, *rejected}, promo_code=promo_code, now=now
            )
        )
        uow.commit()
    if validated:
        dispatcher.activate_claims(validated)
    return len(validated), len(rejected), 0


def _why(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"


def _stopped_or_pending(
    uow_factory: UnitOfWorkFactory, campaign_id: int, promo_code: str | None, up_to: int
) -> tuple[str | None, int]:
    """("paused" or "held", 0) when validation must wait; else (None, the pending claims up to `up_to`)."""
    with uow_factory() as uow:
        if is_paused(uow):
            return "paused", 0
        campaign = uow.campaigns.get(campaign_id)
        if campaign is not None and campaign.hold is not None:
            return "held", 0
        return None, uow.claims.count_pending(campaign_id, promo_code, up_to=up_to)


def _pending(uow_factory: UnitOfWorkFactory, campaign_id: int, promo_code: str | None, up_to: int) -> int:
    with uow_factory() as uow:
        return uow.claims.count_pending(campaign_id, promo_code, up_to=up_to)


def _fill(
    uow_factory: UnitOfWorkFactory,
    config: ValidationConfig,
    campaign_id: int,
    promo_code: str | None,
    pending: int,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> None:
    """Under a scarce budget, wait for a full call while claims keep arriving (never past `fill_wait`)."""
    ends_at = monotonic() + config.fill_wait.total_seconds()
    while pending < config.max_contexts and monotonic() < ends_at:
        sleep(config.fill_poll.total_seconds())
        now_pending = _pending(uow_factory, campaign_id, promo_code, config.max_contexts)
        if now_pending <= pending:  # nothing arrived: waiting longer would only add latency
            return
        pending = now_pending


def validation_targets(uow: UnitOfWork, claim_ids: Sequence[str]) -> set[tuple[int, str | None]]:
    """The (campaign, promo code) of each pending claim among `claim_ids` (to ring their validators)."""
    if not claim_ids:
        return set()
    return {
        (c.campaign_id, c.promo_code) for c in uow.claims.get_many(claim_ids) if c.state == ClaimState.PENDING
    }
