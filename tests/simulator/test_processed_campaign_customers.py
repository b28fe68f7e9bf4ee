"""GetProcessedCampaignCustomers: paging with $top/$skip, positional attributes, errors."""

from __future__ import annotations

from tests.simulator.conftest import Control, OptimoveClient

PATH = "/customers/GetProcessedCampaignCustomers"


def test_pages_cover_the_audience_with_a_short_last_page_then_an_empty_one(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=25, promo_code="SPRING", action_id=3)["campaign_id"]

    pages = [
        optimove.get(PATH, params={"CampaignID": campaign_id, "$top": 10, "$skip": skip}).json()
        for skip in (0, 10, 20, 30)
    ]

    assert [len(page) for page in pages] == [10, 10, 5, 0]
    ids = [row["CustomerID"] for page in pages for row in page]
    assert ids == [f"{campaign_id}-{i:07d}" for i in range(25)]
    assert pages[0][0] == {"CustomerID": f"{campaign_id}-0000000", "ActionID": 3, "PromoCode": "SPRING"}


def test_top_defaults_to_ten_thousand_and_skip_to_zero(optimove: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=10_001)["campaign_id"]

    page = optimove.get(PATH, params={"CampaignID": campaign_id}).json()

    assert len(page) == 10_000
    assert page[0]["CustomerID"] == f"{campaign_id}-0000000"
    assert page[0]["PromoCode"] == f"PROMO-{campaign_id}"


def test_attributes_come_back_positionally_in_the_requested_order(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=5)["campaign_id"]
    truth = control.get(f"/campaigns/{campaign_id}/customers").json()["customers"]

    params = {
        "CampaignID": campaign_id,
        "CustomerAttributes": "Email;NoSuchAttribute;VIPLevel;Consent",
        "CustomerAttributesDelimiter": ";",
    }
    page = optimove.get(PATH, params=params).json()

    for row, expected in zip(page, truth, strict=True):
        attributes = expected["attributes"]
        assert row["CustomerID"] == expected["customer_id"]
        assert row["CustomerAttributes"] == [
            attributes["Email"],
            None,
            attributes["VIPLevel"],
            attributes["Consent"],
        ]


def test_attribute_values_are_strings_as_optimove_sends_them(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=50)["campaign_id"]

    page = optimove.get(
        PATH, params={"CampaignID": campaign_id, "CustomerAttributes": "Consent;FraudFlag;VIPLevel;Country"}
    ).json()

    for row in page:
        consent, fraud, vip, country = row["CustomerAttributes"]
        assert consent in {"0", "1"} and fraud in {"0", "1"} and vip in {"0", "1", "2", "3"}
        assert isinstance(country, str) and len(country) == 2


def test_invalid_paging_and_missing_campaign_are_client_errors(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]

    assert optimove.get(PATH, params={"CampaignID": campaign_id, "$top": 10_001}).status_code == 400
    assert optimove.get(PATH, params={"CampaignID": campaign_id, "$top": 0}).status_code == 400
    assert optimove.get(PATH, params={"CampaignID": campaign_id, "$skip": -1}).status_code == 400
    assert optimove.get(PATH, params={"CampaignID": "abc"}).status_code == 400
    assert optimove.get(PATH).status_code == 400
    missing = optimove.get(PATH, params={"CampaignID": 999})
    assert missing.status_code == 404
    assert missing.json()["status"] == 404


def test_wrong_api_key_is_refused(sim_url_client: OptimoveClient) -> None:
    response = sim_url_client.get("/general/GetRegisteredEventListeners")

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
