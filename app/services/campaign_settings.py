"""Campaign settings the operator sets by campaign id, before or after Optimove announces the campaign.

A campaign's own settings (mode, safeguards, notes) win over the rules by promo code pattern, which
win over the environment. They can change at run time: every process reads them when it acts. The
mode is the one exception once work has started: changing it after approvals were queued or claims
taken would report customers twice or never, so it is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import Enum

from app.clock import utcnow
from app.domain.campaigns import (
    KIND_TRIGGERED,
    KINDS,
    Campaign,
    CampaignMode,
    CampaignSettings,
    CampaignState,
)
from app.domain.safeguards import (
    FROM_SETTINGS,
    EffectiveSettings,
    InvalidSetting,
    Safeguards,
    SettingsRule,
    check_limits,
    check_mode,
    check_pattern,
)
from app.services.operator_control import ControlConfig, effective_for, hold_over_audience
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory

log = logging.getLogger(__name__)
MAX_NOTES_CHARS = 2000


class SettingsRefused(ValueError):
    """Raised when a setting contradicts what the campaign already is, or is not a valid setting."""


class Keep(Enum):
    """A field left out of a change: it keeps its value (None clears it instead)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def set_campaign_settings(
    uow_factory: UnitOfWorkFactory,
    campaign_id: int,
    *,
    kind: str | None = None,
    notes: str | None = None,
    updated_by: str | None = None,
    mode: str | Keep | None = KEEP,
    max_audience: int | Keep | None = KEEP,
    max_rewards: int | Keep | None = KEEP,
    max_reward_amount: Decimal | Keep | None = KEEP,
    control: ControlConfig | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> CampaignSettings:
    """Store the given settings (KEEP leaves a field as it is, None clears it back to the rule or
    the environment); raises SettingsRefused on an invalid value or a contradiction, before writing."""
    if campaign_id <= 0 or campaign_id >= 2**63:
        raise SettingsRefused(f"campaign id {campaign_id} is out of range")
    if kind is not None and kind not in KINDS:
        raise SettingsRefused(f"kind must be one of {', '.join(KINDS)}")
    if notes is not None and len(notes) > MAX_NOTES_CHARS:
        raise SettingsRefused(f"notes are at most {MAX_NOTES_CHARS} characters")
    try:
        check_mode(None if mode is KEEP else mode)
        check_limits(
            None if max_audience is KEEP else max_audience,
            None if max_rewards is KEEP else max_rewards,
            None if max_reward_amount is KEEP else max_reward_amount,
        )
    except InvalidSetting as exc:
        raise SettingsRefused(str(exc)) from exc
    values: dict[str, object] = {}
    if kind is not None:
        values["kind"] = kind
    if notes is not None:
        values["notes"] = notes
    for name, value in (
        ("mode", mode),
        ("max_audience", max_audience),
        ("max_rewards", max_rewards),
        ("max_reward_amount", max_reward_amount),
    ):
        if value is not KEEP:
            values[name] = value
    control = control or ControlConfig()
    now = clock()
    with uow_factory() as uow:
        existing = uow.campaigns.get(campaign_id, lock=True)
        if kind is not None and existing is not None and existing.kind != kind:
            raise SettingsRefused(f"campaign {campaign_id} already exists as a {existing.kind} campaign")
        if existing is not None and isinstance(mode, str):
            _change_mode(uow, existing, CampaignMode(mode), now)
        uow.campaign_settings.save(campaign_id, now=now, updated_by=updated_by, **values)
        if existing is not None and "max_audience" in values:
            _hold_if_now_over_audience(uow, control, existing, now)
        stored = uow.campaign_settings.get(campaign_id)
        uow.commit()
    assert stored is not None
    log.info(
        "campaign settings changed",
        extra={"campaign_id": campaign_id, "fields": sorted(values), "by": updated_by},
    )
    return stored


def _change_mode(uow: UnitOfWork, campaign: Campaign, mode: CampaignMode, now: datetime) -> None:
    """Change a campaign's mode, or refuse when work has started in its current mode."""
    if campaign.mode == mode:
        return
    if campaign.kind == KIND_TRIGGERED:
        raise SettingsRefused(f"campaign {campaign.id} is a triggered campaign: it is always in claim mode")
    started = []
    if campaign.state != CampaignState.INGESTING:
        started.append(f"its audience is ingested ({campaign.state.value})")
    stats = uow.outbox.stats(campaign.id)
    if stats.pending + stats.sent + stats.dead:
        started.append(f"{stats.pending + stats.sent + stats.dead} approvals are queued or sent")
    claims = sum(uow.claims.counts_by_state(campaign.id).values())
    if claims:
        started.append(f"{claims} claims were taken")
    if started:
        raise SettingsRefused(
            f"campaign {campaign.id} runs in {campaign.mode.value} mode and {', '.join(started)}: "
            "its mode cannot change after approvals or claims have started"
        )
    uow.campaigns.change_mode(campaign.id, mode, mode_from=FROM_SETTINGS, now=now)


def _hold_if_now_over_audience(
    uow: UnitOfWork, control: ControlConfig, campaign: Campaign, now: datetime
) -> None:
    """Lowering the maximum under a live campaign's audience holds it at once."""
    limit = effective_for(uow, control, campaign.id).safeguards.max_audience
    if limit is not None and campaign.hold is None and campaign.rows_ingested > limit:
        hold_over_audience(uow, control, campaign, limit, now)


def campaign_settings_view(
    uow_factory: UnitOfWorkFactory, campaign_id: int, control: ControlConfig
) -> tuple[CampaignSettings | None, EffectiveSettings, Campaign | None]:
    """The campaign's own settings, what applies to it now, and the campaign (None if not announced)."""
    with uow_factory() as uow:
        return (
            uow.campaign_settings.get(campaign_id),
            effective_for(uow, control, campaign_id),
            uow.campaigns.get(campaign_id),
        )


# Rules by promo code pattern ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule to save: its pattern, priority, mode, safeguards and notes."""

    pattern: str
    priority: int = 0
    mode: str | None = None
    max_audience: int | None = None
    max_rewards: int | None = None
    max_reward_amount: Decimal | None = None
    notes: str | None = None


def set_rule(
    uow_factory: UnitOfWorkFactory,
    change: RuleChange,
    *,
    updated_by: str | None,
    clock: Callable[[], datetime] = utcnow,
) -> SettingsRule:
    """Create or replace the rule of a pattern; raises SettingsRefused on an invalid value."""
    try:
        check_pattern(change.pattern)
        check_mode(change.mode)
        check_limits(change.max_audience, change.max_rewards, change.max_reward_amount)
    except InvalidSetting as exc:
        raise SettingsRefused(str(exc)) from exc
    if not -(2**31) <= change.priority < 2**31:
        raise SettingsRefused("priority must fit in a 32-bit integer")
    if change.notes is not None and len(change.notes) > MAX_NOTES_CHARS:
        raise SettingsRefused(f"notes are at most {MAX_NOTES_CHARS} characters")
    rule = SettingsRule(
        pattern=change.pattern,
        priority=change.priority,
        mode=change.mode,
        safeguards=Safeguards(change.max_audience, change.max_rewards, change.max_reward_amount),
        notes=change.notes,
        updated_by=updated_by,
    )
    with uow_factory() as uow:
        uow.settings_rules.save(rule, now=clock())
        stored = next(r for r in uow.settings_rules.all() if r.pattern == change.pattern)
        uow.commit()
    log.info("settings rule saved", extra={"pattern": change.pattern, "by": updated_by})
    return stored


def list_rules(uow_factory: UnitOfWorkFactory) -> list[SettingsRule]:
    """Every rule, by pattern."""
    with uow_factory() as uow:
        return uow.settings_rules.all()


def delete_rule(uow_factory: UnitOfWorkFactory, pattern: str, *, updated_by: str | None) -> bool:
    """Remove the rule of a pattern; False when there was none."""
    with uow_factory() as uow:
        deleted = uow.settings_rules.delete(pattern)
        uow.commit()
    if deleted:
        log.info("settings rule deleted", extra={"pattern": pattern, "by": updated_by})
    return deleted
