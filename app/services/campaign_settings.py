"""Campaign settings the operator sets by campaign id, before or after Optimove announces the campaign."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from app.adapters.db import campaign_settings, campaigns
from app.adapters.db.campaign_settings import CampaignSettings
from app.clock import utcnow

KINDS = (campaigns.KIND_SCHEDULED, campaigns.KIND_TRIGGERED)


class SettingsRefused(ValueError):
    """Raised when a setting contradicts what the campaign already is."""


def set_campaign_settings(
    engine: Engine,
    campaign_id: int,
    *,
    kind: str | None = None,
    notes: str | None = None,
    updated_by: str | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> CampaignSettings:
    """Store the given settings (None leaves a field as it is); raises SettingsRefused on a contradiction."""
    if campaign_id <= 0 or campaign_id >= 2**63:
        raise SettingsRefused(f"campaign id {campaign_id} is out of range")
    if kind is not None and kind not in KINDS:
        raise SettingsRefused(f"kind must be one of {', '.join(KINDS)}")
    values: dict[str, object] = {}
    if kind is not None:
        values["kind"] = kind
    if notes is not None:
        values["notes"] = notes
    with engine.begin() as conn:
        existing = campaigns.get_campaign(conn, campaign_id)
        if kind is not None and existing is not None and existing.kind != kind:
            raise SettingsRefused(f"campaign {campaign_id} already exists as a {existing.kind} campaign")
        campaign_settings.save_settings(conn, campaign_id, now=clock(), updated_by=updated_by, **values)
        stored = campaign_settings.get_settings(conn, campaign_id)
    assert stored is not None
    return stored
