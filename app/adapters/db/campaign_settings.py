"""What the operator decided about a campaign, by campaign id, possibly before Optimove announces it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import campaign_settings
from app.clock import as_utc


@dataclass(frozen=True, slots=True)
class CampaignSettings:
    """A campaign's stored settings; None fields fall back to the environment's defaults."""

    campaign_id: int
    kind: str | None
    mode: str | None
    notes: str | None
    updated_at: datetime
    updated_by: str | None


def get_settings(conn: Connection, campaign_id: int) -> CampaignSettings | None:
    """The settings stored for a campaign, or None."""
    row = (
        conn.execute(select(campaign_settings).where(campaign_settings.c.campaign_id == campaign_id))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return CampaignSettings(
        campaign_id=row["campaign_id"],
        kind=row["kind"],
        mode=row["mode"],
        notes=row["notes"],
        updated_at=as_utc(row["updated_at"]) or row["updated_at"],
        updated_by=row["updated_by"],
    )


def save_settings(
    conn: Connection, campaign_id: int, *, now: datetime, updated_by: str | None, **values: Any
) -> None:
    """Create or change a campaign's settings; only the given fields change."""
    conn.execute(
        insert_ignoring_conflicts(conn, campaign_settings, ["campaign_id"]).values(
            campaign_id=campaign_id, created_at=now, updated_at=now, updated_by=updated_by
        )
    )
    conn.execute(
        update(campaign_settings)
        .where(campaign_settings.c.campaign_id == campaign_id)
        .values(updated_at=now, updated_by=updated_by, **values)
    )
