"""Campaign settings the operator sets by campaign id, before or after Optimove announces the campaign."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from app.clock import utcnow
from app.domain.campaigns import KINDS, CampaignSettings
from app.services.unit_of_work import UnitOfWorkFactory


class SettingsRefused(ValueError):
    """Raised when a setting contradicts what the campaign already is."""


def set_campaign_settings(
    uow_factory: UnitOfWorkFactory,
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
    with uow_factory() as uow:
        existing = uow.campaigns.get(campaign_id)
        if kind is not None and existing is not None and existing.kind != kind:
            raise SettingsRefused(f"campaign {campaign_id} already exists as a {existing.kind} campaign")
        uow.campaign_settings.save(campaign_id, now=clock(), updated_by=updated_by, **values)
        stored = uow.campaign_settings.get(campaign_id)
        uow.commit()
    assert stored is not None
    return stored
