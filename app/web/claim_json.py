"""The claim as the API shows it (the web layer owns the shape of its answers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.claims import Claim


def claim_as_json(claim: Claim) -> dict[str, Any]:
    """The claim's public fields, with its status URL; the reward as granted, else as offered."""
    reward = None
    if claim.granted_amount is not None or claim.reward_amount is not None:
        amount = claim.granted_amount if claim.granted_amount is not None else claim.reward_amount
        reward = {"type": claim.reward_type, "amount": str(amount), "tier": claim.tier}
    return {
        "id": claim.id,
        "status": claim.state.value,
        "reason": claim.reason,
        "campaign_id": claim.campaign_id,
        "customer_id": claim.customer_id,
        "promo_code": claim.promo_code,
        "reward": reward,
        "created_at": claim.created_at.isoformat(),
        "updated_at": claim.updated_at.isoformat(),
        "validated_at": _iso(claim.validated_at),
        "activated_at": _iso(claim.activated_at),
        "completed_at": _iso(claim.completed_at),
        "status_url": f"/v1/claims/{claim.id}",
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()
