"""Campaign settings: set by id before or after Optimove announces the campaign, never contradicting it."""

from __future__ import annotations

import pytest

from app.domain.campaigns import KIND_SCHEDULED, KIND_TRIGGERED, CampaignMode, NewCampaign
from app.services.campaign_settings import SettingsRefused, set_campaign_settings
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory


def test_settings_are_stored_by_campaign_id_before_the_campaign_exists(uow: FakeUnitOfWorkFactory) -> None:
    stored = set_campaign_settings(
        uow, 7001, kind=KIND_TRIGGERED, notes="welcome", updated_by="ops", clock=FixedClock()
    )

    assert (stored.campaign_id, stored.kind, stored.notes, stored.updated_by, stored.updated_at) == (
        7001, KIND_TRIGGERED, "welcome", "ops", T0
    )  # fmt: skip


def test_a_field_left_out_keeps_its_value(uow: FakeUnitOfWorkFactory) -> None:
    set_campaign_settings(uow, 7001, kind=KIND_TRIGGERED, notes="welcome")

    stored = set_campaign_settings(uow, 7001, notes="spring welcome", updated_by="cli")

    assert (stored.kind, stored.notes, stored.updated_by) == (KIND_TRIGGERED, "spring welcome", "cli")


def test_a_kind_contradicting_the_existing_campaign_is_refused_and_nothing_changes(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    with uow() as u:
        u.campaigns.add(NewCampaign(1359, CampaignMode.CLAIM, None, None, 10), now=T0)
        u.commit()

    with pytest.raises(SettingsRefused, match="already exists as a scheduled campaign"):
        set_campaign_settings(uow, 1359, kind=KIND_TRIGGERED, notes="oops")

    assert not db.campaign_settings.rows
    assert set_campaign_settings(uow, 1359, kind=KIND_SCHEDULED, notes="fine").notes == "fine"


@pytest.mark.parametrize(("campaign_id", "kind"), [(0, None), (-5, None), (2**63, None), (1, "weekly")])
def test_out_of_range_ids_and_unknown_kinds_are_refused_before_anything_is_written(
    uow: FakeUnitOfWorkFactory, campaign_id: int, kind: str | None
) -> None:
    with pytest.raises(SettingsRefused):
        set_campaign_settings(uow, campaign_id, kind=kind)
    assert uow.opened == 0
