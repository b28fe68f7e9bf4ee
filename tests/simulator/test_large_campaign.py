"""A million-customer campaign is cheap to create and quick to page (loose sanity bounds, not a benchmark)."""

from __future__ import annotations

import time

from tests.simulator.conftest import Control, OptimoveClient

MILLION = 1_000_000
PAGE = 10_000
LOOSE_BOUND_SECONDS = 1.0


def test_a_million_customer_campaign_is_created_at_once_and_pages_quickly(
    optimove: OptimoveClient, control: Control
) -> None:
    started = time.monotonic()
    campaign_id = control.create_campaign(size=MILLION)["campaign_id"]
    created_in = time.monotonic() - started

    started = time.monotonic()
    page = optimove.get(
        "/customers/GetProcessedCampaignCustomers",
        params={
            "CampaignID": campaign_id,
            "$top": PAGE,
            "$skip": MILLION - PAGE,
            "CustomerAttributes": "Consent;FraudFlag;VIPLevel;Country;Email",
        },
    ).json()
    served_in = time.monotonic() - started

    assert created_in < LOOSE_BOUND_SECONDS
    assert served_in < LOOSE_BOUND_SECONDS
    assert len(page) == PAGE
    assert page[-1]["CustomerID"] == f"{campaign_id}-0999999"


def test_statuses_of_a_large_campaign_are_summarised_without_listing(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=MILLION)["campaign_id"]
    entries = [{"CustomerID": f"{campaign_id}-{i:07d}", "Status": True} for i in range(0, MILLION, 100)]

    response = optimove.post(
        "/integrations/UpdateCustomerPromotionStatus",
        json={"TimeStamp": "2026-01-02 03:04:05", "CampaignID": campaign_id, "PromosUpdated": entries},
    )

    assert response.status_code == 200
    summary = control.get(f"/campaigns/{campaign_id}").json()
    assert summary["customers_set"] == summary["customers_true"] == 10_000
