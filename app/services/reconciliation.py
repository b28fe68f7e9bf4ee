"""Reconciliation: does what a campaign granted match what it reported to Optimove?

For one campaign it sets the rewards granted (wallet credits, activation records) against the
statuses queued, sent or dead-lettered for Optimove, and looks at the claims still on their way,
then reports each discrepancy with a count and a few ids to look at:

- rewarded but not reported: no status queued, or its status dead-lettered, or still waiting
  longer than `late_after`;
- reported but not rewarded (claim mode: a status stands for a reward, so one without is a fault);
- dead-lettered statuses without a reward behind them (any mode: auto-mode approvals);
- customers credited more than once;
- stuck claims (what the reconciler would dispatch again) and failed ones (retries used up);

with the totals finance needs (rewards granted, their amount, statuses sent) and the re-sent
statuses (not a fault: a call that may have landed was sent again). Everything is counted in the
database, so a campaign of a million customers reads in a few queries and flat memory.

`repair_campaign` then fixes only what cannot pay anyone twice: it queues the missing status of a
rewarded customer (one per customer: the outbox's unique key), queues a dead one again, replays
failed claims (a grant's idempotency key is its claim id) and dispatches stuck ones again, and
reports each fix next to what is left.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from app.clock import utcnow
from app.domain.campaigns import Campaign, CampaignMode, CampaignState
from app.domain.reconciliation import (
    STATUS_DEAD,
    STATUS_QUEUED,
    STATUS_SENT,
    IdSample,
    StatusComparison,
    StatusMatch,
)
from app.services.claim_recovery import reconcile_claims, retry_failed
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from app.services.validation import ValidationDoorbell

log = logging.getLogger(__name__)

# Kinds of finding (stable names for --json and for callers such as the fault run).
REWARDED_STATUS_MISSING = "rewarded_status_missing"
REWARDED_STATUS_DEAD = "rewarded_status_dead"
REWARDED_STATUS_LATE = "rewarded_status_late"
REPORTED_NOT_REWARDED = "reported_not_rewarded"
DEAD_LETTERED = "dead_lettered"
REWARDED_MORE_THAN_ONCE = "rewarded_more_than_once"
STUCK_CLAIMS = "stuck_claims"
FAILED_CLAIMS = "failed_claims"

# Failed claims replayed per round of a repair (each round is one unit of work).
REPLAY_BATCH = 1000


@dataclass(frozen=True, slots=True)
class ReconcileConfig:
    """How long a status may wait and a claim may rest before either is a discrepancy, and how
    many ids each finding names."""

    late_after: timedelta = timedelta(minutes=15)  # RECONCILE_STATUS_LATE_AFTER_SECONDS
    stale_after: timedelta = timedelta(seconds=60)  # CLAIM_STALE_AFTER_SECONDS
    examples: int = 5


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of discrepancy: how many, a few ids to look at, and what a repair does about it."""

    kind: str
    title: str
    count: int
    examples: tuple[str, ...]
    repair: str | None  # None: left to a person
    by_reason: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Totals:
    """What finance compares: rewards granted against statuses reported to Optimove."""

    rewarded_customers: int
    credits: int  # one per claim granted (more than the customers when one was credited twice)
    amount_granted: Decimal
    statuses_sent: int
    statuses_waiting: int
    statuses_dead: int
    statuses_resent: int  # sent in more than one call after an ambiguous failure: not a fault
    resent_examples: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Repair:
    """One fix a repair made, and how many records it changed."""

    kind: str
    title: str
    count: int


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """A campaign's reconciliation: totals, findings and, after a repair, what it fixed."""

    campaign_id: int
    mode: str
    state: str
    checked_at: datetime
    late_after_seconds: float
    stale_after_seconds: float
    totals: Totals
    findings: tuple[Finding, ...]
    repairs: tuple[Repair, ...] = ()
    # Set by a repair: the discrepancies found before it fixed anything.
    discrepancies_found: int | None = None
    note: str | None = None

    @property
    def discrepancies(self) -> int:
        """How many discrepancies are left (a customer may count in two findings)."""
        return sum(finding.count for finding in self.findings)

    def finding(self, kind: str) -> Finding | None:
        """The finding of one kind, or None when it does not apply to this campaign's mode."""
        return next((finding for finding in self.findings if finding.kind == kind), None)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (times as ISO strings, amounts as decimal strings)."""
        data = asdict(self)
        data["checked_at"] = self.checked_at.isoformat()
        data["totals"]["amount_granted"] = str(self.totals.amount_granted)
        data["discrepancies"] = self.discrepancies
        return data


def reconcile_campaign(
    uow_factory: UnitOfWorkFactory,
    campaign_id: int,
    config: ReconcileConfig = ReconcileConfig(),
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ReconciliationReport | None:
    """Reconcile one campaign, changing nothing; None when the campaign is unknown."""
    now = clock()
    with uow_factory() as uow:
        campaign = uow.campaigns.get(campaign_id)
        if campaign is None:
            return None
        return _report(uow, campaign, config, now)


def repair_campaign(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    campaign_id: int,
    config: ReconcileConfig = ReconcileConfig(),
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ReconciliationReport | None:
    """Reconcile, fix what is safe, and reconcile again: the report of what is left, with the fixes.

    Nothing is repaired for a canceled campaign (its statuses were stopped on purpose).
    """
    found = reconcile_campaign(uow_factory, campaign_id, config, clock=clock)
    if found is None:
        return None
    if found.state == CampaignState.CANCELED.value:
        note = "nothing repaired: the campaign was canceled (EventTypeID 4), its statuses stopped on purpose"
        return replace(found, discrepancies_found=found.discrepancies, note=note)
    repairs = _repair_statuses(uow_factory, doorbell, found, clock)
    repairs += _repair_claims(uow_factory, doorbell, found, config, clock)
    after = reconcile_campaign(uow_factory, campaign_id, config, clock=clock)
    assert after is not None  # a campaign is never deleted
    if repairs:
        log.warning(
            "campaign reconciled and repaired",
            extra={
                "campaign_id": campaign_id,
                "repairs": {repair.kind: repair.count for repair in repairs},
                "found": found.discrepancies,
                "left": after.discrepancies,
            },
        )
    return replace(after, repairs=tuple(repairs), discrepancies_found=found.discrepancies)


def _report(
    uow: UnitOfWork, campaign: Campaign, config: ReconcileConfig, now: datetime
) -> ReconciliationReport:
    claim_mode = campaign.mode == CampaignMode.CLAIM
    problems = {StatusMatch.MISSING, StatusMatch.DEAD, StatusMatch.LATE, StatusMatch.DEAD_WITHOUT_REWARD}
    if claim_mode:
        problems |= {StatusMatch.SENT_WITHOUT_REWARD, StatusMatch.QUEUED_WITHOUT_REWARD}
    n = config.examples
    matched = uow.reconciliation.compare_statuses_with_grants(
        campaign.id, late_before=now - config.late_after, examples=n, examples_of=frozenset(problems)
    )
    grants = uow.reconciliation.grant_summary(campaign.id, examples=n)
    resent = uow.reconciliation.resent_statuses(campaign.id, examples=n)
    stuck = uow.reconciliation.stuck_claims(
        campaign.id, stale_before=now - config.stale_after, now=now, examples=n
    )
    failed_by_reason = uow.claims.funnel(campaign.id).failed_by_reason
    failed = IdSample(
        sum(failed_by_reason.values()),
        tuple(uow.claims.failed_ids(campaign_id=campaign.id, limit=n)) if n > 0 else (),
    )
    late = _duration(config.late_after)
    findings = [
        _finding(REWARDED_STATUS_MISSING, "rewarded, no status queued for Optimove",
                 matched.sample(StatusMatch.MISSING), "queue the status"),
        _finding(REWARDED_STATUS_DEAD, "rewarded, status dead-lettered",
                 matched.sample(StatusMatch.DEAD), "queue the status again"),
        _finding(REWARDED_STATUS_LATE, f"rewarded, status still waiting after {late}",
                 matched.sample(StatusMatch.LATE), None),
    ]  # fmt: skip
    if claim_mode:
        findings.append(
            _finding(
                REPORTED_NOT_REWARDED,
                "status reported (or queued) without a reward recorded",
                _merged(matched, StatusMatch.SENT_WITHOUT_REWARD, StatusMatch.QUEUED_WITHOUT_REWARD, n),
                None,
            )
        )
    findings += [
        _finding(DEAD_LETTERED, "status dead-lettered, no reward behind it",
                 matched.sample(StatusMatch.DEAD_WITHOUT_REWARD), None),
        _finding(REWARDED_MORE_THAN_ONCE, "customer credited more than once",
                 grants.rewarded_more_than_once, None),
        _finding(STUCK_CLAIMS, f"claim stuck (not moved for {_duration(config.stale_after)})",
                 stuck, "dispatch it again"),
        Finding(FAILED_CLAIMS, "claim failed (its retries used up)", failed.count, failed.examples,
                "replay it", dict(sorted(failed_by_reason.items()))),
    ]  # fmt: skip
    return ReconciliationReport(
        campaign_id=campaign.id,
        mode=campaign.mode.value,
        state=campaign.state.value,
        checked_at=now,
        late_after_seconds=config.late_after.total_seconds(),
        stale_after_seconds=config.stale_after.total_seconds(),
        totals=Totals(
            rewarded_customers=grants.customers,
            credits=grants.credits,
            amount_granted=grants.amount,
            statuses_sent=matched.total(STATUS_SENT),
            statuses_waiting=matched.total(STATUS_QUEUED),
            statuses_dead=matched.total(STATUS_DEAD),
            statuses_resent=resent.count,
            resent_examples=resent.examples,
        ),
        findings=tuple(findings),
    )


def _repair_statuses(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    found: ReconciliationReport,
    clock: Callable[[], datetime],
) -> list[Repair]:
    missing, dead = found.finding(REWARDED_STATUS_MISSING), found.finding(REWARDED_STATUS_DEAD)
    if not (missing and missing.count) and not (dead and dead.count):
        return []
    now = clock()
    with uow_factory() as uow:
        campaign = uow.campaigns.get(found.campaign_id)
        deadline = None if campaign is None else campaign.clearance_required_by
        queued = uow.reconciliation.queue_missing_statuses(found.campaign_id, deadline=deadline, now=now)
        requeued = uow.reconciliation.requeue_dead_statuses(found.campaign_id, now=now)
        uow.commit()
    if queued or requeued:
        doorbell.dispatcher.report_status()
    return [
        Repair(REWARDED_STATUS_MISSING, "missing statuses of rewarded customers queued", queued),
        Repair(REWARDED_STATUS_DEAD, "dead-lettered statuses of rewarded customers queued again", requeued),
    ]


def _repair_claims(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    found: ReconciliationReport,
    config: ReconcileConfig,
    clock: Callable[[], datetime],
) -> list[Repair]:
    repairs = []
    failed = found.finding(FAILED_CLAIMS)
    if failed and failed.count:
        repairs.append(
            Repair(
                FAILED_CLAIMS, "failed claims replayed", _replay_failed(uow_factory, doorbell, found, clock)
            )
        )
    stuck = found.finding(STUCK_CLAIMS)
    if stuck and stuck.count:
        # The reconciler's own sweep: it dispatches every stuck claim again, this campaign's and others'.
        redispatched = reconcile_claims(uow_factory, doorbell, stale_after=config.stale_after, clock=clock)
        repairs.append(
            Repair(STUCK_CLAIMS, "stuck claims dispatched again (of every campaign)", redispatched)
        )
    return repairs


def _replay_failed(
    uow_factory: UnitOfWorkFactory,
    doorbell: ValidationDoorbell,
    found: ReconciliationReport,
    clock: Callable[[], datetime],
) -> int:
    """Replay the campaign's failed claims, each once in this repair (one that fails again at once
    is left for the next reconciliation, not replayed in a loop)."""
    tried: set[str] = set()
    replayed = 0
    while True:
        with uow_factory() as uow:
            batch = [
                claim_id
                for claim_id in uow.claims.failed_ids(campaign_id=found.campaign_id, limit=REPLAY_BATCH)
                if claim_id not in tried
            ]
        if not batch:
            return replayed
        tried.update(batch)
        replayed += len(
            retry_failed(uow_factory, doorbell, batch, replayed_by="reconcile --fix", clock=clock)
        )


def _finding(kind: str, title: str, sample: IdSample, repair: str | None) -> Finding:
    return Finding(kind, title, sample.count, sample.examples, repair)


def _merged(comparison: StatusComparison, first: StatusMatch, second: StatusMatch, examples: int) -> IdSample:
    a, b = comparison.sample(first), comparison.sample(second)
    return IdSample(a.count + b.count, tuple(sorted(a.examples + b.examples)[: max(examples, 0)]))


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
