"""What the operator set per campaign id, in memory, as ``app.adapters.db.campaign_settings``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from app.domain.campaigns import CampaignSettings
from tests.fakes.tables import Table, TableView, numeric_column


@dataclass(frozen=True, slots=True)
class SettingsRow:
    """One row of the campaign_settings table."""

    campaign_id: int
    created_at: datetime
    updated_at: datetime
    updated_by: str | None
    kind: str | None = None
    mode: str | None = None
    notes: str | None = None
    max_audience: int | None = None
    max_rewards: int | None = None
    max_reward_amount: Decimal | None = None

    def to_settings(self) -> CampaignSettings:
        """The settings as the services read them."""
        return CampaignSettings(
            self.campaign_id,
            self.kind,
            self.mode,
            self.notes,
            self.updated_at,
            self.updated_by,
            self.max_audience,
            self.max_rewards,
            self.max_reward_amount,
        )


def campaign_settings_table() -> Table[int, SettingsRow]:
    """An empty campaign_settings table, keyed by campaign id."""
    return Table("campaign_settings")


class FakeCampaignSettings:
    """The campaign-settings repository in memory (see ``app.services.unit_of_work``)."""

    def __init__(self, rows: TableView[int, SettingsRow]) -> None:
        self._rows = rows

    def get(self, campaign_id: int) -> CampaignSettings | None:
        """The campaign's settings, or None."""
        row = self._rows.get(campaign_id)
        return None if row is None else row.to_settings()

    def save(self, campaign_id: int, *, now: datetime, updated_by: str | None, **values: object) -> None:
        """Create or change a campaign's settings; only the given fields change (an unknown one raises)."""
        self._rows.insert(campaign_id, SettingsRow(campaign_id, now, now, updated_by))
        row = self._rows.get(campaign_id)
        assert row is not None
        if values.get("max_reward_amount") is not None:
            values["max_reward_amount"] = numeric_column(values["max_reward_amount"])  # type: ignore[arg-type]
        changed = replace(row, updated_at=now, updated_by=updated_by, **values)  # type: ignore[arg-type]
        self._rows.update(campaign_id, changed)
