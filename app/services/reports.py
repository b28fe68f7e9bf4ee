"""The campaign report: progress, counts, scrub reasons, approvals and the deadline."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from app.clock import utcnow
from app.domain.campaigns import Campaign
from app.services.unit_of_work import UnitOfWorkFactory


@dataclass(frozen=True, slots=True)
class CampaignReport:
    """Everything `promobridge campaigns show` and `GET /v1/campaigns/<id>` tell about a campaign."""

    campaign_id: int
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
    approvals_pending: int
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
        reasons = uow.audience.scrub_breakdown(campaign_id)
        segments = uow.audience.segment_breakdown(campaign_id)
        box = uow.outbox.stats(campaign_id)
        conflict_count, conflicts = uow.inbox.conflicts_for(campaign_id, limit=5)
    now = clock()
    deadline = campaign.clearance_required_by
    return CampaignReport(
        campaign_id=campaign.id,
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
        approvals_pending=box.pending,
        approvals_sent=box.sent,
        approvals_dead=box.dead,
        approval_calls=campaign.approval_calls,
        resent=box.resent,
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
    )


def _seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def recent_campaigns(uow_factory: UnitOfWorkFactory, *, limit: int = 20) -> list[Campaign]:
    """The most recent campaigns first."""
    with uow_factory() as uow:
        return uow.campaigns.recent(limit=limit)
