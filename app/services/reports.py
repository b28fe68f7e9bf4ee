"""The campaign report: progress, counts, scrub reasons, the claims funnel, approvals and the deadline.

One source of truth: `GET /v1/campaigns/<id>`, `promobridge campaigns show` and the console all
show this report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from app.clock import utcnow
from app.domain.campaigns import Campaign
from app.domain.safeguards import MAX_AUDIENCE, safeguard_of
from app.services.switches import is_paused
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Everything `promobridge campaigns show` and `GET /v1/campaigns/<id>` tell about a campaign."""

    campaign_id: int
    kind: str
    mode: str
    state: str
    clearance_required_by: datetime | None
    seconds_to_deadline: float | None
    at_risk: bool
    pages_done: int
    last_page: int | None
    rows_ingested: int
    eligible: int
    scrubbed: int
    scrubbed_by_reason: dict[str, int]
    segments: dict[str, int]
    # The funnel of claims: claimed (every claim, rejected-at-once ones too) → validated by OptiPromo
    # or rejected (by reason) → rewarded → reported (its status delivered); failed ones by reason.
    claimed: int
    claims_by_state: dict[str, int]
    validated: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rewarded: int
    reported: int
    failed: int
    failed_by_reason: dict[str, int]
    approvals_pending: int
    oldest_pending_seconds: float | None  # the age of the oldest status update still waiting
    approvals_sent: int
    approvals_dead: int
    approval_calls: int
    resent: int
    ingest_seconds: float | None
    webhook_to_last_approval_seconds: float | None
    error: str | None
    # Events for this campaign that differed from the first one received (stored, never acted on).
    event_conflicts: int
    recent_event_conflicts: list[dict[str, Any]]
    # Operator control: why the campaign is held (None: not held), where its mode came from, the
    # rewards and amount reserved within its limits, the safeguard trips by safeguard, and whether
    # the global pause is on.
    hold: str | None = None
    mode_from: str | None = None
    rewards_reserved: int = 0
    amount_reserved: str = "0"
    safeguard_trips: dict[str, int] = field(default_factory=dict)
    paused: bool = False

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (datetimes as ISO strings)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


def campaign_report(
    uow_factory: UnitOfWorkFactory, campaign_id: int, *, clock: Callable[[], datetime] = utcnow
) -> CampaignReport | None:
    """Build the report, or None when the campaign is unknown."""
    with uow_factory() as uow:
        campaign = uow.campaigns.get(campaign_id)
        if campaign is None:
            return None
        return report_in(uow, campaign, now=clock())


def campaign_reports(
    uow_factory: UnitOfWorkFactory, *, limit: int = 20, clock: Callable[[], datetime] = utcnow
) -> list[CampaignReport]:
    """The reports of the most recent campaigns, newest first, read in one unit of work."""
    now = clock()
    with uow_factory() as uow:
        return [report_in(uow, campaign, now=now) for campaign in uow.campaigns.recent(limit=limit)]


def report_in(uow: UnitOfWork, campaign: Campaign, *, now: datetime) -> CampaignReport:
    """The report of `campaign`, read in an open unit of work."""
    campaign_id = campaign.id
    reasons = uow.audience.scrub_breakdown(campaign_id)
    segments = uow.audience.segment_breakdown(campaign_id)
    # Sent, dead and re-sent approvals are counted on the campaign as they happen; only the backlog
    # is counted here (a partial index holds just the rows still waiting).
    pending, oldest_pending = uow.outbox.backlog(campaign_id)
    funnel = uow.claims.funnel(campaign_id)
    conflict_count, conflicts = uow.inbox.conflicts_for(campaign_id, limit=5)
    deadline = campaign.clearance_required_by
    return CampaignReport(
        campaign_id=campaign.id,
        kind=campaign.kind,
        mode=campaign.mode.value,
        state=campaign.state.value,
        clearance_required_by=deadline,
        seconds_to_deadline=None if deadline is None else round((deadline - now).total_seconds(), 1),
        at_risk=campaign.at_risk_since is not None,
        pages_done=campaign.pages_done,
        last_page=campaign.last_page,
        rows_ingested=campaign.rows_ingested,
        eligible=campaign.eligible_count,
        scrubbed=campaign.scrubbed_count,
        scrubbed_by_reason=reasons,
        segments=segments,
        claimed=funnel.claimed,
        claims_by_state=funnel.by_state,
        validated=funnel.validated,
        rejected=funnel.by_state.get("rejected", 0),
        rejected_by_reason=funnel.rejected_by_reason,
        rewarded=funnel.rewarded,
        reported=campaign.approved_count,
        failed=funnel.by_state.get("failed", 0),
        failed_by_reason=funnel.failed_by_reason,
        approvals_pending=pending,
        oldest_pending_seconds=(
            None if oldest_pending is None else round((now - oldest_pending).total_seconds(), 1)
        ),
        approvals_sent=campaign.approved_count,
        approvals_dead=campaign.dead_count,
        approval_calls=campaign.approval_calls,
        resent=campaign.resent_count,
        ingest_seconds=_seconds_between(campaign.ingest_started_at, campaign.ingest_finished_at),
        webhook_to_last_approval_seconds=_seconds_between(
            campaign.created_at, campaign.approvals_finished_at
        ),
        error=campaign.error,
        event_conflicts=conflict_count,
        recent_event_conflicts=[
            {
                "event_id": c.event_id,
                "event_type_id": c.event_type_id,
                "first_event_id": c.first_event_id,
                "received_at": c.received_at.isoformat(),
                "payload": c.payload,
            }
            for c in conflicts
        ],
        hold=campaign.hold,
        mode_from=campaign.mode_from,
        rewards_reserved=campaign.rewards_reserved,
        amount_reserved=str(campaign.amount_reserved),
        safeguard_trips=_safeguard_trips(campaign, funnel.rejected_by_reason),
        paused=is_paused(uow),
    )


def _safeguard_trips(campaign: Campaign, rejected_by_reason: dict[str, int]) -> dict[str, int]:
    """Claims each safeguard rejected, and the hold when max_audience holds the campaign."""
    trips = {
        reason: count for reason, count in rejected_by_reason.items() if safeguard_of(reason) is not None
    }
    if campaign.hold is not None and safeguard_of(campaign.hold) == MAX_AUDIENCE:
        trips[MAX_AUDIENCE] = 1
    return trips


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def recent_campaigns(uow_factory: UnitOfWorkFactory, *, limit: int = 20) -> list[Campaign]:
    """The most recent campaigns first."""
    with uow_factory() as uow:
        return uow.campaigns.recent(limit=limit)
