"""Campaign modes, states and the deadline arithmetic (framework-free)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class CampaignMode(StrEnum):
    """How approvals reach Optimove: all eligible at once (`auto`) or per claimed reward (`claim`)."""

    AUTO = "auto"
    CLAIM = "claim"


class CampaignState(StrEnum):
    """Where a scheduled campaign is; terminal states are approved, ready, canceled and failed."""

    INGESTING = "ingesting"
    APPROVING = "approving"  # auto mode: audience ingested, approvals still being sent
    APPROVED = "approved"  # auto mode: every eligible customer reported to Optimove
    READY = "ready"  # claim mode: audience ingested, waiting for claims
    CANCELED = "canceled"
    FAILED = "failed"


ACTIVE_STATES = frozenset({CampaignState.INGESTING, CampaignState.APPROVING})

EVENT_CAMPAIGN_CANCELED = 4
EVENT_SCHEDULED_CONDITIONAL = 5
SUPPORTED_EVENT_TYPES = frozenset({EVENT_CAMPAIGN_CANCELED, EVENT_SCHEDULED_CONDITIONAL})


@dataclass(frozen=True, slots=True)
class ApprovalBudget:
    """What Optimove's rate limit allows: `limit` calls per `window_seconds`."""

    limit: int
    window_seconds: float

    def seconds_for_calls(self, calls: int) -> float:
        """The least time `calls` requests can take under the limit (a full window is free)."""
        if calls <= self.limit:
            return 0.0
        return math.ceil((calls - self.limit) / self.limit) * self.window_seconds


def calls_needed(rows: int, batch_size: int) -> int:
    """How many UpdateCustomerPromotionStatus calls `rows` approvals need."""
    return math.ceil(rows / batch_size) if rows > 0 else 0


def is_at_risk(
    *,
    now: datetime,
    deadline: datetime | None,
    pending_rows: int,
    batch_size: int,
    budget: ApprovalBudget,
    safety_margin: timedelta,
) -> bool:
    """Whether sending `pending_rows` approvals may not finish before the deadline (minus a margin)."""
    if deadline is None or pending_rows <= 0:
        return False
    needed = timedelta(seconds=budget.seconds_for_calls(calls_needed(pending_rows, batch_size)))
    return now + needed + safety_margin >= deadline


KIND_SCHEDULED = "scheduled"  # announced by an EventTypeID 5 webhook, audience paged from Optimove
KIND_TRIGGERED = "triggered"  # declared by the operator, audience recorded by the gateway
KINDS = (KIND_SCHEDULED, KIND_TRIGGERED)
PAGE_PENDING = "pending"
PAGE_DONE = "done"


@dataclass(frozen=True, slots=True)
class Campaign:
    """A campaign as stored."""

    id: int
    kind: str
    mode: CampaignMode
    state: CampaignState
    clearance_required_by: datetime | None
    page_size: int
    last_page: int | None
    rows_ingested: int
    eligible_count: int
    scrubbed_count: int
    approved_count: int
    approval_calls: int
    resent_count: int
    pages_done: int
    at_risk_since: datetime | None
    created_at: datetime
    ingest_started_at: datetime | None
    ingest_finished_at: datetime | None
    approvals_finished_at: datetime | None
    error: str | None
    dead_count: int = 0  # status updates given up on (dead-lettered or stopped by a cancel)
    hold: str | None = None  # why a safeguard (or an operator) holds the campaign; None: not held
    mode_from: str | None = None  # settings, rule:<pattern>, environment or triggered; None until settled
    promo_code: str | None = None  # the promo code its rules match (its first page's)
    rewards_reserved: int = 0  # rewards reserved within max_rewards (granted or being granted)
    amount_reserved: Decimal = Decimal(0)  # their amount, within max_reward_amount


@dataclass(frozen=True, slots=True)
class NewCampaign:
    """A campaign to create: scheduled ones start ingesting, triggered ones are ready at once."""

    id: int
    mode: CampaignMode
    clearance_required_by: datetime | None
    event_timestamp: datetime | None
    page_size: int
    kind: str = KIND_SCHEDULED
    state: CampaignState = CampaignState.INGESTING
    mode_from: str | None = None  # None: settled at the first page (a rule may match its promo code)


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    """What the operator set for a campaign id; None fields fall back to the environment's defaults."""

    campaign_id: int
    kind: str | None
    mode: str | None
    notes: str | None
    updated_at: datetime
    updated_by: str | None
    max_audience: int | None = None
    max_rewards: int | None = None
    max_reward_amount: Decimal | None = None
