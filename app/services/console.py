"""What the campaign console shows and does: campaign reports, a campaign's activity, audited actions.

The console runs no SQL of its own: its figures are the campaign report (the same one the API and
the CLI give) plus a few read-only repository operations, and its actions are the existing
services, with an audit entry written in the same unit of work as the action.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.clock import utcnow
from app.domain.budget import BudgetUsage
from app.domain.claims import Claim
from app.domain.console import DONE, REFUSED, AuditEntry, ConsoleUser, may_act
from app.domain.funnel import TimeBucket
from app.services import operator_control
from app.services.campaign_settings import KEEP, Keep, SettingsRefused, set_campaign_settings
from app.services.claim_recovery import retry_failed
from app.services.ports import BudgetLedger
from app.services.reports import CampaignReport, report_in
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from app.services.validation import ValidationDoorbell

log = logging.getLogger(__name__)

RECENT_MINUTES = 15
RECENT_BATCHES = 20
RECENT_FAILED = 20
RETRY_FAILED_CLAIMS = "retry_failed_claims"
PAUSE = "pause"
RESUME = "resume"
RELEASE_CAMPAIGN = "release_campaign"
CHANGE_SETTINGS = "change_campaign_settings"


class ActionRefused(Exception):
    """Raised when a user may not take an action (a viewer); the refusal is audited."""


@dataclass(frozen=True, slots=True)
class CampaignActivity:
    """One campaign's page: its report, how claims move, the outbox backlog, Optimove's budget."""

    report: CampaignReport
    claims_per_minute: list[TimeBucket]  # the last RECENT_MINUTES minutes, oldest first, zeros included
    validation_batches: list[TimeBucket]  # the latest batches, newest first
    failed_claims: list[Claim]  # the latest failed claims, newest first
    backlog: int  # status updates waiting for Optimove
    oldest_pending_seconds: float | None
    budget: BudgetUsage | None
    budget_note: str | None  # why the budget is not shown, when it is not


def _by(user: ConsoleUser) -> str:
    """Who changed something, as the operator-control services record it."""
    return f"console:{user.name}"


def campaign_exists(uow_factory: UnitOfWorkFactory, campaign_id: int) -> bool:
    """Whether promobridge knows the campaign (an action's target must exist)."""
    with uow_factory() as uow:
        return uow.campaigns.get(campaign_id) is not None


def campaign_activity(
    uow_factory: UnitOfWorkFactory,
    ledger: BudgetLedger,
    campaign_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> CampaignActivity | None:
    """Everything one campaign's page shows, or None for an unknown campaign."""
    now = clock()
    current_minute = now.replace(second=0, microsecond=0)
    first_minute = current_minute - timedelta(minutes=RECENT_MINUTES - 1)
    with uow_factory() as uow:
        campaign = uow.campaigns.get(campaign_id)
        if campaign is None:
            return None
        report = report_in(uow, campaign, now=now)
        minutes = uow.claims.per_minute(campaign_id, since=first_minute)
        batches = uow.claims.validation_batches(campaign_id, since=first_minute, limit=RECENT_BATCHES)
        failed = uow.claims.recent_failed(campaign_id, limit=RECENT_FAILED)
    budget, note = _budget(ledger)
    return CampaignActivity(
        report=report,
        claims_per_minute=_every_minute(minutes, first_minute, RECENT_MINUTES),
        validation_batches=batches,
        failed_claims=failed,
        backlog=report.approvals_pending,
        oldest_pending_seconds=report.oldest_pending_seconds,
        budget=budget,
        budget_note=note,
    )


def _every_minute(buckets: list[TimeBucket], first: datetime, count: int) -> list[TimeBucket]:
    by_minute = {b.at.replace(second=0, microsecond=0): b.claims for b in buckets}
    minutes = (first + timedelta(minutes=i) for i in range(count))
    return [TimeBucket(minute, by_minute.get(minute, 0)) for minute in minutes]


def _budget(ledger: BudgetLedger) -> tuple[BudgetUsage | None, str | None]:
    try:
        usage = ledger.usage()
    except Exception as exc:  # the page must show everything else when Redis is away
        log.warning("the rate-limit ledger could not be read", extra={"error": repr(exc)})
        return None, "the shared ledger (Redis) cannot be read right now"
    if usage is None:
        return None, "not shared: each process keeps its own ledger (no Redis), or the limit is off"
    return usage, None


def retry_campaign_failed_claims(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    user: ConsoleUser,
    campaign_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> list[str]:
    """Replay a campaign's failed claims; audited with the claims replayed. Raises ActionRefused."""
    if not may_act(user.role):
        refuse(uow_factory, user, RETRY_FAILED_CLAIMS, f"campaign {campaign_id}", clock=clock)
    now = clock()

    def record(uow: UnitOfWork, replayed: list[str]) -> None:
        detail = {"claims": len(replayed), "claim_ids": replayed[:100]}
        uow.console_audit.add(
            AuditEntry(now, user.name, RETRY_FAILED_CLAIMS, f"campaign {campaign_id}", DONE, detail)
        )

    return retry_failed(
        uow_factory, doorbell, campaign_id=campaign_id, record=record, replayed_by="console", clock=clock
    )


def pause_everything(
    uow_factory: UnitOfWorkFactory,
    user: ConsoleUser,
    reason: str | None,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Turn the global pause on (an operator's action, audited); whether it was off before."""
    if not may_act(user.role):
        refuse(uow_factory, user, PAUSE, "promobridge", clock=clock)
    _, changed = operator_control.pause(uow_factory, by=_by(user), reason=reason, clock=clock)
    detail = {"reason": reason, "changed": changed}
    record(uow_factory, user, PAUSE, "promobridge", detail=detail, clock=clock)
    return changed


def resume_everything(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    user: ConsoleUser,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Turn the global pause off and wake the waiting claims (audited); whether it was on before."""
    if not may_act(user.role):
        refuse(uow_factory, user, RESUME, "promobridge", clock=clock)
    _, changed = operator_control.resume(uow_factory, doorbell, by=_by(user), clock=clock)
    record(uow_factory, user, RESUME, "promobridge", detail={"changed": changed}, clock=clock)
    return changed


def release_held_campaign(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    user: ConsoleUser,
    campaign_id: int,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> bool:
    """Release a held campaign (audited); False when it was not held."""
    target = f"campaign {campaign_id}"
    if not may_act(user.role):
        refuse(uow_factory, user, RELEASE_CAMPAIGN, target, clock=clock)
    released = operator_control.release_campaign(
        uow_factory, doorbell, campaign_id, by=_by(user), clock=clock
    )
    record(uow_factory, user, RELEASE_CAMPAIGN, target, detail={"released": released}, clock=clock)
    return released


@dataclass(frozen=True, slots=True)
class SettingsForm:
    """What the campaign page's settings form asks for: KEEP leaves a field, None clears it."""

    mode: str | Keep | None = KEEP
    max_audience: int | Keep | None = KEEP
    max_rewards: int | Keep | None = KEEP
    max_reward_amount: Decimal | Keep | None = KEEP

    def changed(self) -> dict[str, str | None]:
        """The fields this form changes, as text for the audit log."""
        values = {
            "mode": self.mode,
            "max_audience": self.max_audience,
            "max_rewards": self.max_rewards,
            "max_reward_amount": self.max_reward_amount,
        }
        return {name: None if v is None else str(v) for name, v in values.items() if v is not KEEP}


def change_campaign_settings(
    uow_factory: UnitOfWorkFactory,
    control: operator_control.ControlConfig,
    user: ConsoleUser,
    campaign_id: int,
    form: SettingsForm,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Set a campaign's mode and safeguards (audited, a refusal too); raises SettingsRefused."""
    target = f"campaign {campaign_id}"
    if not may_act(user.role):
        refuse(uow_factory, user, CHANGE_SETTINGS, target, clock=clock)
    try:
        set_campaign_settings(
            uow_factory,
            campaign_id,
            updated_by=_by(user),
            mode=form.mode,
            max_audience=form.max_audience,
            max_rewards=form.max_rewards,
            max_reward_amount=form.max_reward_amount,
            control=control,
            clock=clock,
        )
    except SettingsRefused as exc:
        detail = {"changes": form.changed(), "why": str(exc)}
        record(uow_factory, user, CHANGE_SETTINGS, target, detail=detail, outcome=REFUSED, clock=clock)
        raise
    record(uow_factory, user, CHANGE_SETTINGS, target, detail={"changes": form.changed()}, clock=clock)


def refuse(
    uow_factory: UnitOfWorkFactory,
    user: ConsoleUser,
    action: str,
    target: str,
    *,
    detail: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Audit an action `user` may not take, then raise ActionRefused."""
    entry_detail = {"role": user.role.value, **(detail or {})}
    record(uow_factory, user, action, target, detail=entry_detail, outcome=REFUSED, clock=clock)
    log.warning("console action refused", extra={"user": user.name, "action": action, "target": target})
    raise ActionRefused(f"{user.name} is a {user.role.value}: only operators may {action.replace('_', ' ')}")


def record(
    uow_factory: UnitOfWorkFactory,
    user: ConsoleUser,
    action: str,
    target: str,
    *,
    detail: dict[str, Any] | None = None,
    outcome: str = DONE,
    clock: Callable[[], datetime] = utcnow,
) -> None:
    """Audit, in a unit of work of its own, something a user did or was refused."""
    with uow_factory() as uow:
        uow.console_audit.add(AuditEntry(clock(), user.name, action, target, outcome, detail or {}))
        uow.commit()


def audit_log(uow_factory: UnitOfWorkFactory, *, limit: int = 200) -> list[AuditEntry]:
    """The latest console actions, newest first."""
    with uow_factory() as uow:
        return uow.console_audit.recent(limit=limit)
