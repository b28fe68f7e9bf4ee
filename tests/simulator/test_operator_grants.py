"""The simulated operator platform: one grant per Idempotency-Key, its faults, and its inspection."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer
from tests.simulator.conftest import CLIENT_TIMEOUT_SECONDS, Control


def _body(customer: str = "C1", amount: str = "10") -> dict[str, Any]:
    return {
        "claim_id": f"claim-{customer}",
        "campaign_id": 1,
        "customer_id": customer,
        "reward": {"type": "bonus", "amount": amount},
    }


def _grant(sim: SimulatorServer, key: str | None, body: Any, **kwargs: Any) -> requests.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    kwargs.setdefault("timeout", CLIENT_TIMEOUT_SECONDS)
    return requests.post(sim.operator_grants_url, json=body, headers=headers, allow_redirects=False, **kwargs)


def _grants(control: Control) -> dict[str, Any]:
    grants: dict[str, Any] = control.get("/operator/grants").json()
    return grants


def _set_plan(control: Control, **plan: Any) -> None:
    response = control.post("/operator/faults", plan)
    assert response.status_code == 200, response.text


def test_a_new_key_is_granted_once_and_answered_with_its_transaction(
    sim: SimulatorServer, control: Control
) -> None:
    first = _grant(sim, "k1", _body("C1"))
    second = _grant(sim, "k2", _body("C2"))

    assert first.status_code == 201 and first.json()["id"] == "tx-1"
    assert second.status_code == 201 and second.json()["id"] == "tx-2"
    grants = _grants(control)
    assert grants["keys"]["k1"] == {"customer_id": "C1", "attempts": 1, "granted": 1, "answers": {"201": 1}}
    assert grants["summary"]["granted"] == 2


def test_the_same_key_and_body_gets_the_same_answer_and_no_second_grant(
    sim: SimulatorServer, control: Control
) -> None:
    first = _grant(sim, "k1", _body())
    again = _grant(sim, "k1", _body())

    assert (again.status_code, again.json()) == (first.status_code, first.json())
    record = _grants(control)["keys"]["k1"]
    assert (record["attempts"], record["granted"]) == (2, 1)


def test_the_same_key_while_its_first_request_is_in_flight_gets_409(
    sim: SimulatorServer, control: Control
) -> None:
    _set_plan(control, latency_ms=400)

    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(_grant, sim, "k1", _body())
        while _grants(control)["summary"]["attempts"] == 0:
            pass
        overlapping = _grant(sim, "k1", _body())

    assert overlapping.status_code == 409
    assert slow.result().status_code == 201
    assert _grants(control)["keys"]["k1"]["granted"] == 1


def test_the_same_key_with_another_body_is_refused_with_422(sim: SimulatorServer, control: Control) -> None:
    _grant(sim, "k1", _body(amount="10"))

    reused = _grant(sim, "k1", _body(amount="99"))

    assert reused.status_code == 422 and "another body" in reused.json()["reason"]
    assert _grants(control)["summary"]["granted"] == 1


def test_a_server_error_grants_nothing_and_a_later_attempt_may_grant(
    sim: SimulatorServer, control: Control
) -> None:
    _set_plan(control, rate_5xx=1.0, retry_after_seconds=2)
    failed = _grant(sim, "k1", _body())
    control.post("/operator/faults", {})
    granted = _grant(sim, "k1", _body())

    assert failed.status_code in {500, 502, 503} and failed.headers["Retry-After"] == "2"
    assert granted.status_code == 201
    record = _grants(control)["keys"]["k1"]
    assert (record["attempts"], record["granted"]) == (2, 1)


def test_failing_customers_never_get_a_grant(sim: SimulatorServer, control: Control) -> None:
    _set_plan(control, failing_customers=["C9"])

    answers = [_grant(sim, "k9", _body("C9")).status_code for _ in range(3)]
    other = _grant(sim, "k1", _body("C1"))

    assert all(status in {500, 502, 503} for status in answers)
    assert other.status_code == 201
    grants = _grants(control)["keys"]
    assert (grants["k9"]["attempts"], grants["k9"]["granted"]) == (3, 0)


def test_applied_then_lost_grants_and_resets_and_a_replay_gets_the_grant(
    sim: SimulatorServer, control: Control
) -> None:
    _set_plan(control, rate_applied_lost=1.0)
    with pytest.raises(requests.ConnectionError):
        _grant(sim, "k1", _body())
    control.post("/operator/faults", {})

    replay = _grant(sim, "k1", _body())

    assert replay.status_code == 201 and replay.json()["id"] == "tx-1"
    record = _grants(control)["keys"]["k1"]
    assert record == {"customer_id": "C1", "attempts": 2, "granted": 1, "answers": {"reset": 1, "201": 1}}


def test_a_refusal_is_a_422_with_a_reason_remembered_for_the_key(
    sim: SimulatorServer, control: Control
) -> None:
    _set_plan(control, rate_refuse=1.0)
    refused = _grant(sim, "k1", _body())
    control.post("/operator/faults", {})
    replay = _grant(sim, "k1", _body())

    assert refused.status_code == 422 and refused.json() == {"reason": "refused by the simulated platform"}
    assert (replay.status_code, replay.json()) == (422, refused.json())
    assert _grants(control)["summary"]["granted"] == 0


def test_a_slow_answer_is_still_granted_after_the_client_gave_up(
    sim: SimulatorServer, control: Control
) -> None:
    _set_plan(control, rate_slow=1.0, slow_ms=600)

    with pytest.raises(requests.Timeout):
        _grant(sim, "k1", _body(), timeout=0.2)
    while _grants(control)["summary"]["granted"] == 0:
        time.sleep(0.05)
    replay = _grant(sim, "k1", _body())

    assert replay.status_code == 201 and replay.json()["id"] == "tx-1"


@pytest.mark.parametrize("status", [401, 403, 407, 302, 418])
def test_a_forced_status_answers_every_request_and_grants_nothing(
    sim: SimulatorServer, control: Control, status: int
) -> None:
    _set_plan(control, force_status=status)

    answer = _grant(sim, "k1", _body())

    assert answer.status_code == status
    if status == 302:
        assert answer.headers["Location"] == "/_operator/elsewhere"
    record = _grants(control)["keys"]["k1"]
    assert (record["attempts"], record["granted"]) == (1, 0)


def test_the_key_is_granted_once_the_forced_status_is_lifted(sim: SimulatorServer, control: Control) -> None:
    _set_plan(control, force_status=401)
    _grant(sim, "k1", _body())
    assert control.get("/operator/faults").json()["force_status"] == 401

    response = requests.delete(f"{sim.url}/_sim/operator/faults", timeout=CLIENT_TIMEOUT_SECONDS)

    assert response.json()["force_status"] is None
    assert _grant(sim, "k1", _body()).status_code == 201


@pytest.mark.parametrize(
    ("key", "body"),
    [(None, _body()), ("", _body()), ("k" * 256, _body()), ("k1", ["not", "an", "object"]), ("k1", None)],
    ids=["no-key", "empty-key", "long-key", "array-body", "no-body"],
)
def test_a_request_without_a_key_or_object_body_is_400_and_grants_nothing(
    sim: SimulatorServer, control: Control, key: str | None, body: Any
) -> None:
    answer = _grant(sim, key, body)

    assert answer.status_code == 400 and answer.json()["status"] == 400
    summary = _grants(control)["summary"]
    assert (summary["granted"], summary["keys"], summary["bad_requests"]) == (0, 0, 1)


@pytest.mark.parametrize(
    "plan",
    [
        {"rate_5xx": 0.7, "rate_refuse": 0.7},
        {"rate_5xx": "1"},
        {"latency_ms": -1},
        {"force_status": 99},
        {"force_status": True},
        {"failing_customers": "C1"},
        {"retry_after_seconds": -1},
        {"surprise": 1},
    ],
)
def test_an_impossible_operator_plan_is_refused_and_changes_nothing(
    control: Control, plan: dict[str, Any]
) -> None:
    before = control.get("/operator/faults").json()

    assert control.post("/operator/faults", plan).status_code == 400
    assert control.get("/operator/faults").json() == before


def test_the_default_latency_is_configurable_and_reset_forgets_every_grant() -> None:
    with SimulatorServer(SimulatorConfig(rate_limit_enabled=False, operator_latency_ms=5)) as sim:
        control = Control(sim.url)
        assert control.get("/operator/faults").json()["latency_ms"] == 5
        _set_plan(control, latency_ms=0, rate_5xx=0.5)
        _grant(sim, "k1", _body())

        control.post("/reset")

        assert _grants(control)["summary"]["keys"] == 0
        plan = control.get("/operator/faults").json()
        assert (plan["latency_ms"], plan["rate_5xx"]) == (5, 0)
