"""Campaigns the simulated tenant has processed: an audience, a deadline and the statuses reported."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from simulator.audience import (
    DEFAULT_ACTION_ID,
    DEFAULT_FRAUD_RATE,
    DEFAULT_NO_CONSENT_RATE,
    DEFAULT_VIP_WEIGHTS,
    Audience,
    AudienceSpec,
    default_promo_code,
)
from simulator.statuses import StatusLedger

FIRST_CAMPAIGN_ID = 1001
DEFAULT_CLEARANCE_IN_SECONDS = 1800.0  # Optimove notifies 30 minutes before execution [C S7]


class CampaignExistsError(Exception):
    """A campaign with that id was already created."""


@dataclass(frozen=True)
class CampaignRequest:
    """What the control API asks for; ``campaign_id`` None means "the next free id"."""

    size: int
    clearance_required_by: datetime  # timezone-aware
    campaign_id: int | None = None
    promo_code: str | None = None
    action_id: int = DEFAULT_ACTION_ID
    no_consent_rate: float = DEFAULT_NO_CONSENT_RATE
    fraud_rate: float = DEFAULT_FRAUD_RATE
    vip_weights: tuple[float, ...] = DEFAULT_VIP_WEIGHTS


@dataclass(frozen=True)
class Campaign:
    """A processed campaign; the audience is immutable, the ledger is internally locked."""

    audience: Audience
    statuses: StatusLedger
    clearance_required_by: datetime  # timezone-aware, UTC

    @property
    def campaign_id(self) -> int:
        """The Optimove CampaignID."""
        return self.audience.spec.campaign_id

    def describe(self) -> dict[str, Any]:
        """The campaign's entry in ``GET /_sim/state``."""
        return {
            "size": self.audience.size,
            "promo_code": self.audience.spec.promo_code,
            "action_id": self.audience.spec.action_id,
            "clearance_required_by": self.clearance_required_by.isoformat(),
            **self.statuses.summary(),
        }


class CampaignRegistry:
    """All campaigns by id, safe to use from the server's request threads."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._lock = threading.Lock()
        self._campaigns: dict[int, Campaign] = {}
        self._next_id = FIRST_CAMPAIGN_ID

    def create(self, request: CampaignRequest) -> Campaign:
        """Create a campaign; raises ``CampaignExistsError`` or ``ValueError`` (bad spec)."""
        with self._lock:
            campaign_id = request.campaign_id
            if campaign_id is None:
                while self._next_id in self._campaigns:
                    self._next_id += 1
                campaign_id = self._next_id
            elif campaign_id in self._campaigns:
                raise CampaignExistsError(f"campaign {campaign_id} already exists")
            spec = AudienceSpec(
                campaign_id=campaign_id,
                size=request.size,
                promo_code=request.promo_code or default_promo_code(campaign_id),
                action_id=request.action_id,
                no_consent_rate=request.no_consent_rate,
                fraud_rate=request.fraud_rate,
                vip_weights=request.vip_weights,
            )
            deadline = request.clearance_required_by.astimezone(UTC)
            campaign = Campaign(
                audience=Audience(spec, self._seed),
                statuses=StatusLedger(spec.size, deadline.timestamp()),
                clearance_required_by=deadline,
            )
            self._campaigns[campaign_id] = campaign
            return campaign

    def get(self, campaign_id: int) -> Campaign | None:
        """The campaign, or None if the tenant has no such campaign."""
        with self._lock:
            return self._campaigns.get(campaign_id)

    def all(self) -> list[Campaign]:
        """Every campaign, by id."""
        with self._lock:
            return [self._campaigns[key] for key in sorted(self._campaigns)]

    def clear(self) -> None:
        """Forget every campaign and restart ids at ``FIRST_CAMPAIGN_ID``."""
        with self._lock:
            self._campaigns.clear()
            self._next_id = FIRST_CAMPAIGN_ID
