"""The /_sim control API: creating campaigns, ground truth, state and reset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from simulator.server import SimulatorServer
from tests.simulator.conftest import Control, OptimoveClient


def test_campaign_ids_auto_increment_from_1001_and_explicit_duplicates_conflict(control: Control) -> None:
    first = control.create_campaign(size=1)
    explicit = control.create_campaign(size=1, campaign_id=1002)
    after = control.create_campaign(size=1)

    assert first["campaign_id"] == 1001
    assert explicit["campaign_id"] == 1002
    assert after["campaign_id"] == 1003
    assert control.post("/campaigns", {"size": 1, "campaign_id": 1002}).status_code == 409


def test_clearance_defaults_to_thirty_minutes_ahead_and_is_reported_in_utc(control: Control) -> None:
    created = control.create_campaign(size=1)
    explicit = control.create_campaign(size=1, clearance_required_by="2026-05-01T11:00:00+02:00")

    deadline = datetime.fromisoformat(created["clearance_required_by"])
    assert abs(deadline - (datetime.now(UTC) + timedelta(minutes=30))) < timedelta(seconds=30)
    assert explicit["clearance_required_by"] == "2026-05-01T09:00:00+00:00"


def test_invalid_campaign_requests_are_refused(control: Control) -> None:
    bad: list[dict[str, Any]] = [
        {},
        {"size": -1},
        {"size": "10"},
        {"size": 10, "no_consent_rate": 1.5},
        {"size": 10, "vip_weights": [1, 2]},
        {"size": 10, "clearance_required_by": "2026-05-01T11:00:00"},
        {"size": 10, "clearance_required_by": "tomorrow"},
        {"size": 10, "promo_code": ""},
    ]

    for body in bad:
        assert control.post("/campaigns", body).status_code == 400, body
    assert control.state()["campaigns"] == {}


def test_ground_truth_lists_customers_with_their_attributes(control: Control) -> None:
    campaign_id = control.create_campaign(size=30, promo_code="GT")["campaign_id"]

    body = control.get(f"/campaigns/{campaign_id}/customers?offset=25&limit=10").json()

    assert body["total"] == 30
    assert [c["customer_id"] for c in body["customers"]] == [f"{campaign_id}-{i:07d}" for i in range(25, 30)]
    first = body["customers"][0]
    assert first["promo_code"] == "GT"
    assert set(first["attributes"]) == {"Consent", "FraudFlag", "VIPLevel", "Country", "Email"}


def test_audiences_follow_the_requested_rates(control: Control) -> None:
    campaign_id = control.create_campaign(
        size=20_000, no_consent_rate=0.3, fraud_rate=0.05, vip_weights=[0, 0, 0.5, 0.5]
    )["campaign_id"]

    customers = control.get(f"/campaigns/{campaign_id}/customers").json()["customers"]

    attributes = [c["attributes"] for c in customers]
    no_consent = sum(a["Consent"] == "0" for a in attributes) / len(attributes)
    fraud = sum(a["FraudFlag"] == "1" for a in attributes) / len(attributes)
    assert 0.28 < no_consent < 0.32
    assert 0.04 < fraud < 0.06
    assert {a["VIPLevel"] for a in attributes} == {"2", "3"}


def test_same_seed_gives_the_same_audience(sim: SimulatorServer, control: Control) -> None:
    campaign_id = control.create_campaign(size=50)["campaign_id"]
    before = control.get(f"/campaigns/{campaign_id}/customers").json()

    control.post("/reset")
    control.create_campaign(size=50, campaign_id=campaign_id)

    assert control.get(f"/campaigns/{campaign_id}/customers").json() == before


def test_state_counts_requests_and_reset_clears_everything(
    sim: SimulatorServer, optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=2)["campaign_id"]
    optimove.post("/general/RegisterEventListener", json={"EventTypeID": 5, "ListenerURL": "http://x/"})
    optimove.get("/customers/GetProcessedCampaignCustomers", params={"CampaignID": campaign_id})
    optimove.get("/customers/GetProcessedCampaignCustomers", params={"CampaignID": 4242})
    control.set_faults(rate_5xx=0.1)

    state = control.state()
    assert state["requests"] == {"RegisterEventListener": 1, "GetProcessedCampaignCustomers": 2}
    assert state["responses"]["GetProcessedCampaignCustomers"] == {"200": 1, "404": 1}
    assert set(state["campaigns"][str(campaign_id)]) >= {
        "size",
        "clearance_required_by",
        "customers_set",
        "customers_true",
        "customers_set_more_than_once",
        "total_sets",
        "late_sets",
        "unknown_customers",
        "max_times",
    }
    assert sim.state.campaigns.get(campaign_id) is not None

    assert control.post("/reset").status_code == 200
    cleared = control.state()
    assert cleared["campaigns"] == {} and cleared["listeners"] == {} and cleared["requests"] == {}
    assert cleared["registrations"] == 0
    assert control.get("/faults").json()["rate_5xx"] == 0.0
    assert control.create_campaign(size=1)["campaign_id"] == 1001


def test_unknown_paths_answer_json(control: Control, optimove: OptimoveClient) -> None:
    missing = optimove.get("/general/NoSuchFunction")

    assert missing.status_code == 404
    assert missing.json()["status"] == 404
    assert control.get("/campaigns/1/statuses").status_code == 404
