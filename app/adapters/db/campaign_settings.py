"""What the operator decided about a campaign, by campaign id, possibly before Optimove announces it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from app.adapters.db.dialect import insert_ignoring_conflicts
from app.adapters.db.tables import campaign_settings
from app.clock import as_utc
from app.domain.campaigns import CampaignSettings


class SqlCampaignSettings:
    """The campaign-settings repository on one connection (see ``app.services.unit_of_work``)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, campaign_id: int) -> CampaignSettings | None:
        """The campaign's settings, or None."""
        query = select(campaign_settings).where(campaign_settings.c.campaign_id == campaign_id)
        row = self._conn.execute(query).mappings().first()
        if row is None:
            return None
        return CampaignSettings(
            campaign_id=row["campaign_id"],
            kind=row["kind"],
            mode=row["mode"],
            notes=row["notes"],
            updated_at=as_utc(row["updated_at"]) or row["updated_at"],
            updated_by=row["updated_by"],
            max_audience=row["max_audience"],
            max_rewards=row["max_rewards"],
            max_reward_amount=row["max_reward_amount"],
        )

    def save(self, campaign_id: int, *, now: datetime, updated_by: str | None, **values: object) -> None:
        """Create or change a campaign's settings; only the given fields change."""
        self._conn.execute(
            insert_ignoring_conflicts(self._conn, campaign_settings, ["campaign_id"]).values(
                campaign_id=campaign_id, created_at=now, updated_at=now, updated_by=updated_by
            )
        )
        self._conn.execute(
            update(campaign_settings)
            .where(campaign_settings.c.campaign_id == campaign_id)
            .values(updated_at=now, updated_by=updated_by, **values)
        )
