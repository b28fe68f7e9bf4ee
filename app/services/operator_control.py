"""Operator control at run time: effective campaign settings, the safeguards, holds and the pause.

Every process reads these from the database when it acts (per page, per validation call, per
activation round, per relay batch), so a change made with the CLI or the admin API takes effect
in every process within one batch, with no restart and no cache to go stale.

The pause stops new validations, activations and auto-mode approvals (the bulk pre-clearance of
an audience). Webhooks and claims are still accepted and stored, ingest goes on, and statuses of
rewards already granted still reach Optimove: the money has moved, and holding back the status
that closes the loop would only risk the deadline and let Optimove offer the reward again.
Resuming wakes everything that waited at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.campaigns import Campaign, CampaignMode, CampaignState
from app.domain.safeguards import (
    FROM_ENVIRONMENT,
    MAX_AUDIENCE,
    PAUSE_SWITCH,
    EffectiveSettings,
    Safeguards,
    ServiceSwitch,
    effective_settings,
    rule_for,
)
from app.services.claim_recovery import reconcile_claims
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from app.services.validation import ValidationDoorbell

log = logging.getLogger(__name__)

TripRecorder = Callable[[str, int], None]
WAKE_AHEAD = timedelta(seconds=1)


def no_metrics(_safeguard: str, _count: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class ControlConfig:
    """The environment's defaults (the last fallback) and where safeguard trips are counted."""

    default_mode: CampaignMode = CampaignMode.CLAIM
    mode_overrides: Mapping[int, CampaignMode] = field(default_factory=dict)
    safeguards: Safeguards = field(default_factory=Safeguards)
    on_trip: TripRecorder = no_metrics

    def environment_mode(self, campaign_id: int) -> CampaignMode:
        """DEFAULT_CAMPAIGN_MODE, or the campaign's entry in CAMPAIGN_MODES."""
        return self.mode_overrides.get(campaign_id, self.default_mode)


class UnknownCampaign(LookupError):
    """Raised when an operation names a campaign that does not exist."""


def effective_for(
    uow: UnitOfWork, config: ControlConfig, campaign_id: int, *, promo_code: str | None = None
) -> EffectiveSettings:
    """What applies to a campaign now: its own settings, else the rule matching its promo code
    (`promo_code`, else the one the campaign recorded), else the environment."""
    own = uow.campaign_settings.get(campaign_id)
    if promo_code is None:
        campaign = uow.campaigns.get(campaign_id)
        promo_code = campaign.promo_code if campaign is not None else None
    rule = rule_for(uow.settings_rules.all(), promo_code) if promo_code is not None else None
    return effective_settings(
        own_mode=own.mode if own is not None else None,
        own=Safeguards(own.max_audience, own.max_rewards, own.max_reward_amount)
        if own is not None
        else Safeguards(),
        rule=rule,
        environment_mode=config.environment_mode(campaign_id).value,
        environment=config.safeguards,
    )


def mode_at_creation(
    uow: UnitOfWork, config: ControlConfig, campaign_id: int
) -> tuple[CampaignMode, str | None]:
    """A new campaign's mode and where it came from; None when a rule may still decide it at the
    first page (its promo code is not known before)."""
    own = uow.campaign_settings.get(campaign_id)
    if own is not None and own.mode is not None:
        return CampaignMode(own.mode), "settings"
    if any(rule.mode is not None for rule in uow.settings_rules.all()):
        return config.environment_mode(campaign_id), None
    return config.environment_mode(campaign_id), FROM_ENVIRONMENT


def needs_settling(campaign: Campaign, promo_code: str | None) -> bool:
    """Whether a page must settle the campaign's mode, or record the promo code its rules match."""
    return campaign.mode_from is None or (campaign.promo_code is None and promo_code is not None)


def settle_first_page(
    uow: UnitOfWork, config: ControlConfig, campaign: Campaign, promo_code: str | None, *, now: datetime
) -> Campaign:
    """At a campaign's first page: record its promo code and settle its mode (a rule may match the
    promo code); the campaign as it now is. The first page to get here decides; the others read it."""
    settings = effective_for(uow, config, campaign.id, promo_code=promo_code)
    uow.campaigns.settle_first_page(
        campaign.id,
        mode=CampaignMode(settings.mode),
        mode_from=settings.mode_from,
        promo_code=promo_code,
        now=now,
    )
    settled = uow.campaigns.get(campaign.id)
    assert settled is not None
    if campaign.mode_from is None and settled.mode_from is not None:
        log.info(
            "campaign mode settled",
            extra={"campaign_id": campaign.id, "mode": settled.mode.value, "mode_from": settled.mode_from},
        )
    return settled


def trip(config: ControlConfig, safeguard: str, campaign_id: int, count: int = 1) -> None:
    """Log and count a safeguard trip (no personal data: ids and counts only)."""
    if count <= 0:
        return
    log.warning(
        "safeguard tripped", extra={"campaign_id": campaign_id, "safeguard": safeguard, "claims": count}
    )
    config.on_trip(safeguard, count)


def hold_if_over_audience(
    uow: UnitOfWork,
    config: ControlConfig,
    campaign_id: int,
    *,
    added: int,
    now: datetime,
    settings: EffectiveSettings | None = None,
) -> bool:
    """Hold the campaign when the page that just added `added` customers took its audience over its
    maximum (only the page that crosses it: a campaign released by an operator stays released).
    `settings`: what applies to the campaign, when the caller has read it in this unit of work."""
    campaign = uow.campaigns.get(campaign_id)
    if campaign is None or campaign.hold is not None:
        return False
    limit = (settings or effective_for(uow, config, campaign_id)).safeguards.max_audience
    if limit is None or not campaign.rows_ingested - added <= limit < campaign.rows_ingested:
        return False
    return hold_over_audience(uow, config, campaign, limit, now)


def hold_over_audience(
    uow: UnitOfWork, config: ControlConfig, campaign: Campaign, limit: int, now: datetime
) -> bool:
    reason = (
        f"{MAX_AUDIENCE}: {campaign.rows_ingested} customers ingested, more than the maximum of {limit}; "
        f"release with `promobridge campaigns release {campaign.id}`"
    )
    held = uow.campaigns.hold(campaign.id, reason, now=now)
    if held:
        trip(config, MAX_AUDIENCE, campaign.id)
    return held


def defers_approvals(
    uow: UnitOfWork, config: ControlConfig, campaign: Campaign, *, settings: EffectiveSettings | None = None
) -> bool:
    """Whether an auto campaign's approvals wait for the end of ingest: with a maximum audience, no
    approval may leave before the audience is known to be within it. `settings`: as above."""
    if campaign.mode != CampaignMode.AUTO:
        return False
    return (settings or effective_for(uow, config, campaign.id)).safeguards.max_audience is not None


def queue_all_approvals(uow: UnitOfWork, campaign: Campaign, *, now: datetime) -> int:
    """Queue an approval for every eligible customer of an ingested auto campaign (idempotent)."""
    if campaign.last_page is None:
        return 0
    return sum(
        uow.outbox.enqueue_page_approvals(
            campaign.id, page_no, deadline=campaign.clearance_required_by, now=now
        )
        for page_no in range(campaign.last_page + 1)
    )


# The pause ---------------------------------------------------------------------------------------


def pause_state(uow_factory: UnitOfWorkFactory) -> ServiceSwitch:
    """The pause switch as stored (off when it was never set)."""
    with uow_factory() as uow:
        switch = uow.switches.get(PAUSE_SWITCH)
    return switch or ServiceSwitch(PAUSE_SWITCH, False, None, None, None)


def pause(
    uow_factory: UnitOfWorkFactory,
    *,
    by: str | None,
    reason: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[ServiceSwitch, bool]:
    """Turn the global pause on; the switch, and whether this call changed it."""
    with uow_factory() as uow:
        changed = uow.switches.set(PAUSE_SWITCH, on=True, by=by, reason=reason, now=clock())
        uow.commit()
    if changed:
        log.warning(
            "promobridge paused: no validation, activation or approval until resumed", extra={"by": by}
        )
    return pause_state(uow_factory), changed


def resume(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    *,
    by: str | None,
    clock: Callable[[], datetime] = utcnow,
) -> tuple[ServiceSwitch, bool]:
    """Turn the global pause off and wake every claim that waited; the switch, and whether this
    call changed it."""
    with uow_factory() as uow:
        changed = uow.switches.set(PAUSE_SWITCH, on=False, by=by, reason=None, now=clock())
        uow.commit()
    if changed:
        woken = wake_waiting_claims(uow_factory, doorbell, clock=clock)
        log.warning("promobridge resumed", extra={"by": by, "claims_woken": woken})
    return pause_state(uow_factory), changed


def wake_waiting_claims(
    uow_factory: UnitOfWorkFactory, doorbell: ValidationDoorbell, *, clock: Callable[[], datetime] = utcnow
) -> int:
    """Dispatch every live claim now (the reconciler with no staleness), instead of a sweep later."""
    # Stale "a second from now": a claim touched this very second is woken too.
    return reconcile_claims(uow_factory, doorbell, stale_after=-WAKE_AHEAD, clock=clock)


# Holds ---------------------------------------------------------------------------------------------


def release_campaign(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    campaign_id: int,
    *,
    by: str | None,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Release a held campaign: its approvals are queued (auto) and its claims woken. False when it
    was not held; raises UnknownCampaign for a campaign that does not exist."""
    now = clock()
    with uow_factory() as uow:
        campaign = uow.campaigns.get(campaign_id, lock=True)
        if campaign is None:
            raise UnknownCampaign(f"campaign {campaign_id} is unknown")
        released = uow.campaigns.release(campaign_id, now=now)
        queued = 0
        if released and campaign.mode == CampaignMode.AUTO and campaign.state == CampaignState.APPROVING:
            queued = queue_all_approvals(uow, campaign, now=now)
            if uow.outbox.pending_count(campaign_id) == 0:
                uow.campaigns.finish_approvals(campaign_id, now=now)
        uow.commit()
    if released:
        log.warning(
            "campaign released", extra={"campaign_id": campaign_id, "by": by, "approvals_queued": queued}
        )
        wake_waiting_claims(uow_factory, doorbell, clock=clock)
    return released
