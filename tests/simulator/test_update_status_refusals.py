"""UpdateCustomerPromotionStatus names the first bad entry, and what is wrong with it, in its 400."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from simulator.app import create_simulator_app
from simulator.campaigns import CampaignRequest
from simulator.config import SimulatorConfig
from simulator.context import state_of
from simulator.state import SimulatorState
from tests.simulator.conftest import API_KEY

PATH = "/current/integrations/UpdateCustomerPromotionStatus"
TIMESTAMP = "2026-01-02 03:04:05"


@pytest.fixture
def app_and_state() -> Iterator[tuple[FlaskClient, SimulatorState]]:
    app = create_simulator_app(SimulatorConfig(api_keys=(API_KEY,), rate_limit_enabled=False, seed=7))
    yield app.test_client(), state_of(app)


def _post(client: FlaskClient, campaign_id: Any, entries: Any) -> tuple[int, str]:
    body = {"TimeStamp": TIMESTAMP, "CampaignID": campaign_id, "PromosUpdated": entries}
    response = client.post(PATH, json=body, headers={"X-API-KEY": API_KEY})
    message = response.get_json()["message"] if response.status_code != 200 else ""
    return response.status_code, message


def test_the_first_bad_entry_is_named_with_what_is_wrong(
    app_and_state: tuple[FlaskClient, SimulatorState],
) -> None:
    client, _state = app_and_state
    good = {"CustomerID": "1001-0000000", "Status": True}
    no_id = "CustomerID must be a non-empty string"
    cases = [
        ([good, ["x"], {"CustomerID": 1}], "PromosUpdated[1] must be an object"),
        ([good, good, {"CustomerID": 17, "Status": True}], f"PromosUpdated[2].{no_id}"),
        ([{"CustomerID": "", "Status": True}], f"PromosUpdated[0].{no_id}"),
        ([{"Status": True}], f"PromosUpdated[0].{no_id}"),
        ([good, {"CustomerID": "a", "Status": 1}, None], "PromosUpdated[1].Status must be a boolean"),
        ([good, {"CustomerID": "a"}], "PromosUpdated[1].Status must be a boolean"),
        ([good, {"CustomerID": "a", "Status": "true"}, 3], "PromosUpdated[1].Status must be a boolean"),
        ([{"CustomerID": None, "Status": None}], f"PromosUpdated[0].{no_id}"),
        ([good] * 10_001, "at most 10000 customers per call"),
        (good, "PromosUpdated must be a list"),
    ]  # fmt: skip

    # A bad entry is refused before the campaign is looked up, so no campaign exists here.
    for entries, message in cases:
        assert _post(client, 4242, entries) == (400, message)
    assert _post(client, 4242, [good]) == (404, "campaign 4242 not found")


def test_a_good_call_records_members_and_strangers(app_and_state: tuple[FlaskClient, SimulatorState]) -> None:
    client, state = app_and_state
    deadline = datetime.now(UTC) + timedelta(hours=1)
    campaign = state.campaigns.create(CampaignRequest(size=10, clearance_required_by=deadline))
    cid = campaign.campaign_id
    entries = [
        {"CustomerID": f"{cid}-0000001", "Status": True, "Extra": 1},
        {"CustomerID": f"{cid}-0000002", "Status": False},
        {"CustomerID": f"{cid}-2", "Status": True},
        {"CustomerID": f"{cid}-0000001", "Status": False},
    ]

    assert _post(client, cid, entries) == (200, "")
    records = campaign.statuses.records(campaign.audience.customer_id)
    assert {key: (r.status, r.times) for key, r in records.items()} == {
        f"{cid}-0000001": (False, 2),
        f"{cid}-0000002": (False, 1),
        f"{cid}-2": (True, 1),
    }
    assert campaign.statuses.summary()["total_sets"] == 4
