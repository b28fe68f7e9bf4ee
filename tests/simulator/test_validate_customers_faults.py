"""validateCustomers shares the Optimove key's rate-limit budget and takes every injected fault."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer
from tests.simulator.conftest import API_KEY, Control, OptimoveClient, effects_of, validate

PROMO = "FAULTY"
ENDPOINT = "validateCustomers"


@pytest.fixture
def customer(control: Control) -> str:
    campaign_id = control.create_campaign(size=2, promo_code=PROMO)["campaign_id"]
    return f"{campaign_id}-0000000"


def _usage(control: Control) -> dict[str, int]:
    usage: dict[str, int] = control.get(f"/promotions/{PROMO}").json()["usage"]
    return usage


def test_applied_lost_reserves_but_the_client_sees_a_connection_error(
    optipromo: OptimoveClient, control: Control, customer: str
) -> None:
    control.set_faults(rate_applied_lost=1.0, endpoints=[ENDPOINT])

    with pytest.raises(requests.ConnectionError):
        validate(optipromo, PROMO, [customer])

    lost = _usage(control)
    control.set_faults()
    retried = effects_of(validate(optipromo, PROMO, [customer]))
    assert lost["customers_reserved"] == 1
    assert lost["validate_calls"] == 1
    assert _usage(control)["budget_used"] == lost["budget_used"] == retried[0][0]["reward"]["amount"]
    assert _usage(control)["customers_validated_more_than_once"] == 1
    state = control.state()
    assert state["faults_injected_by_endpoint"] == {ENDPOINT: {"applied_lost": 1}}
    assert state["responses"][ENDPOINT] == {"reset": 1, "200": 1}


def test_reset_surfaces_as_a_connection_error_and_reserves_nothing(
    optipromo: OptimoveClient, control: Control, customer: str
) -> None:
    control.set_faults(rate_reset=1.0, endpoints=[ENDPOINT])

    with pytest.raises(requests.ConnectionError):
        validate(optipromo, PROMO, [customer])

    assert _usage(control)["validate_calls"] == 0
    assert control.state()["faults_injected"] == {"reset": 1}


def test_timeout_outlasts_the_client_and_reserves_nothing(
    optipromo: OptimoveClient, control: Control, customer: str
) -> None:
    control.set_faults(rate_timeout=1.0, timeout_seconds=0.6)

    with pytest.raises(requests.Timeout):
        optipromo.post(
            f"/v1/promocodes/{PROMO}/validateCustomers",
            json={"contexts": [{"customerId": customer}]},
            timeout=0.3,
        )

    assert _usage(control)["validate_calls"] == 0


@pytest.mark.parametrize(("fault", "statuses"), [("rate_5xx", {500, 502, 503}), ("rate_429", {429})])
def test_error_faults_are_answered_without_reserving(
    optipromo: OptimoveClient, control: Control, customer: str, fault: str, statuses: set[int]
) -> None:
    control.set_faults(**{fault: 1.0})

    response = validate(optipromo, PROMO, [customer])

    assert response.status_code in statuses
    assert response.json()["status"] == response.status_code
    assert _usage(control)["validate_calls"] == 0
    assert control.state()["rate_limited"] == 0


def test_bare_string_is_a_200_whose_body_is_a_json_string(
    optipromo: OptimoveClient, control: Control, customer: str
) -> None:
    control.set_faults(rate_bare_string=1.0)

    response = validate(optipromo, PROMO, [customer])

    assert response.status_code == 200
    assert response.json() == "Internal error: try again"
    assert _usage(control)["validate_calls"] == 0


def test_latency_delays_the_answer(optipromo: OptimoveClient, control: Control, customer: str) -> None:
    control.set_faults(latency_ms=200, endpoints=[ENDPOINT])

    started = time.monotonic()
    response = validate(optipromo, PROMO, [customer])

    assert response.status_code == 200
    assert time.monotonic() - started >= 0.2
    assert control.state()["faults_injected_by_endpoint"] == {ENDPOINT: {"latency": 1}}


def test_faults_aimed_at_optimove_endpoints_spare_validate_customers(
    optipromo: OptimoveClient, control: Control, customer: str
) -> None:
    control.set_faults(rate_5xx=1.0, endpoints=["UpdateCustomerPromotionStatus"])

    assert validate(optipromo, PROMO, [customer]).status_code == 200


@pytest.fixture
def limited_sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        api_keys=(API_KEY,), rate_limit=3, rate_window_seconds=10.0, max_validate_contexts=5
    )
    with SimulatorServer(config) as server:
        yield server


def test_validate_customers_spends_the_same_per_key_budget_as_optimove(limited_sim: SimulatorServer) -> None:
    optimove = OptimoveClient(limited_sim.optimove_url)
    optipromo = OptimoveClient(limited_sim.optipromo_url)
    control = Control(limited_sim.url)
    campaign_id = control.create_campaign(size=6, promo_code=PROMO)["campaign_id"]
    ids = [f"{campaign_id}-{i:07d}" for i in range(6)]

    statuses = [
        optimove.get("/general/GetRegisteredEventListeners").status_code,
        validate(optipromo, PROMO, ids[:5]).status_code,
        validate(optipromo, PROMO, ids).status_code,  # over the configured max_validate_contexts
        validate(optipromo, PROMO, ids[:1]).status_code,
        optimove.get("/general/GetRegisteredEventListeners").status_code,
    ]

    assert statuses == [200, 200, 400, 429, 429]
    state = control.state()
    assert state["rate_limited"] == 2
    assert state["responses"][ENDPOINT] == {"200": 1, "400": 1, "429": 1}
    assert state["promotions"][PROMO]["customers_reserved"] == 5
