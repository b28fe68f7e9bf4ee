"""Injected faults: each kind is seen by a requests client the way a real network failure would be."""

from __future__ import annotations

import time

import pytest
import requests

from tests.simulator.conftest import Control, OptimoveClient

LISTENERS = "/general/GetRegisteredEventListeners"
CUSTOMERS = "/customers/GetProcessedCampaignCustomers"
STATUS = "/integrations/UpdateCustomerPromotionStatus"


def _approve(campaign_id: int) -> dict[str, object]:
    return {
        "TimeStamp": "2026-01-02 03:04:05",
        "CampaignID": campaign_id,
        "PromosUpdated": [{"CustomerID": f"{campaign_id}-0000000", "Status": True}],
    }


def test_reset_surfaces_as_a_connection_error_and_applies_nothing(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]
    control.set_faults(rate_reset=1.0)

    with pytest.raises(requests.ConnectionError):
        optimove.post(STATUS, json=_approve(campaign_id))

    state = control.state()
    assert state["campaigns"][str(campaign_id)]["total_sets"] == 0
    assert state["faults_injected"] == {"reset": 1}
    assert state["responses"]["UpdateCustomerPromotionStatus"] == {"reset": 1}


def test_applied_lost_records_the_status_but_the_client_sees_a_connection_error(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]
    control.set_faults(rate_applied_lost=1.0)

    with pytest.raises(requests.ConnectionError):
        optimove.post(STATUS, json=_approve(campaign_id))

    statuses = control.get(f"/campaigns/{campaign_id}/statuses").json()["statuses"]
    assert statuses[f"{campaign_id}-0000000"]["status"] is True
    assert control.state()["faults_injected"] == {"applied_lost": 1}


def test_timeout_outlasts_the_client_and_applies_nothing(optimove: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]
    control.set_faults(rate_timeout=1.0, timeout_seconds=1.0)

    with pytest.raises(requests.Timeout):
        optimove.post(STATUS, json=_approve(campaign_id), timeout=0.5)

    assert control.get(f"/campaigns/{campaign_id}").json()["total_sets"] == 0


def test_server_errors_and_injected_429_are_answered_without_applying(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]

    control.set_faults(rate_5xx=1.0)
    server_error = optimove.post(STATUS, json=_approve(campaign_id))
    control.set_faults(rate_429=1.0)
    too_many = optimove.post(STATUS, json=_approve(campaign_id))

    assert server_error.status_code in {500, 502, 503}
    assert server_error.json()["status"] == server_error.status_code
    assert too_many.status_code == 429
    assert too_many.headers["Retry-After"] == "1"
    state = control.state()
    assert state["campaigns"][str(campaign_id)]["total_sets"] == 0
    assert state["faults_injected"] == {"5xx": 1, "429": 1}
    assert state["rate_limited"] == 0


def test_bare_string_is_a_200_whose_body_is_a_json_string(optimove: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=3)["campaign_id"]
    control.set_faults(rate_bare_string=1.0)

    response = optimove.get(CUSTOMERS, params={"CampaignID": campaign_id})

    assert response.status_code == 200
    assert response.json() == "Internal error: try again"


def test_latency_delays_the_answer(optimove: OptimoveClient, control: Control) -> None:
    control.set_faults(latency_ms=300)

    started = time.monotonic()
    response = optimove.get(LISTENERS)

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3
    assert control.state()["faults_injected"] == {"latency": 1}


def test_ignore_skip_serves_the_first_page_again(optimove: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=20)["campaign_id"]
    control.set_faults(ignore_skip=True)

    second_page = optimove.get(CUSTOMERS, params={"CampaignID": campaign_id, "$top": 10, "$skip": 10}).json()

    assert second_page[0]["CustomerID"] == f"{campaign_id}-0000000"
    assert control.state()["faults_injected_by_endpoint"] == {
        "GetProcessedCampaignCustomers": {"ignore_skip": 1}
    }


def test_faults_only_hit_the_listed_endpoints_and_can_be_cleared(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]
    control.set_faults(rate_5xx=1.0, endpoints=["UpdateCustomerPromotionStatus"])

    assert optimove.get(CUSTOMERS, params={"CampaignID": campaign_id}).status_code == 200
    assert optimove.post(STATUS, json=_approve(campaign_id)).status_code >= 500
    assert requests.delete(control.base_url + "/faults", timeout=5).status_code == 200
    assert optimove.post(STATUS, json=_approve(campaign_id)).status_code == 200


def test_seeded_plans_inject_the_same_faults_in_the_same_order(
    optimove: OptimoveClient, control: Control
) -> None:
    def run() -> list[int]:
        control.set_faults(rate_5xx=0.5, seed=11)
        return [optimove.get(LISTENERS).status_code for _ in range(20)]

    first, second = run(), run()

    assert first == second
    assert 200 in first and any(status >= 500 for status in first)


def test_invalid_fault_plans_are_refused(control: Control) -> None:
    assert control.post("/faults", {"rate_5xx": 0.7, "rate_reset": 0.7}).status_code == 400
    assert control.post("/faults", {"rate_5xx": "often"}).status_code == 400
    assert control.post("/faults", {"endpoints": ["NoSuchFunction"]}).status_code == 400
    assert control.post("/faults", {"surprise": 1}).status_code == 400
    assert control.get("/faults").json()["rate_5xx"] == 0.0
