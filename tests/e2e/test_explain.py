"""Done-when for the trail (issue 11): with real processes and the simulator, `promobridge explain`
and GET /v1/customers/<id>/trail tell five customers' stories in order, with the right reasons:
(a) scrubbed, (b) refused by OptiPromo, (c) rewarded and reported, (d) reported ambiguously and
re-sent, (e) stopped by a safeguard."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from benchmarks.stack import wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack, ready_claim_campaign
from tests.support.sim_control import expected_scrub_reason
from tests.support.uow import reading

pytestmark = pytest.mark.e2e

SECRET = "jane.doe@example.com"  # a session property: never in the trail, its output or the logs
BIG_DEPOSITS = {
    "name": "big",
    "when": {"session": {"deposit_amount": {"gte": 10}}},
    "reward": {"type": "free_spins", "amount": 10},
}


def _explain(stack: Stack, customer: str) -> tuple[list[str], dict[str, Any]]:
    """The story's step lines (without their times) and the JSON, from the real command."""
    args = ["explain", customer, "--campaign", str(CLAIM_CAMPAIGN_ID)]
    text = stack.processes.run(*args)
    body = json.loads(stack.processes.run(*args, "--json"))
    assert SECRET not in text and SECRET not in json.dumps(body)
    return [line.split(" UTC  ", 1)[1] for line in text.splitlines() if " UTC  " in line], body


def _steps(body: dict[str, Any]) -> list[str]:
    return [step["step"] for step in body["campaigns"][0]["steps"]]


def _claim(stack: Stack, session: requests.Session, customer: str, deposit: int) -> str:
    body = {
        "campaign_id": CLAIM_CAMPAIGN_ID,
        "customer_id": customer,
        "session_properties": {"deposit_amount": deposit, "email": SECRET},
    }
    answer = session.post(f"{stack.web_url}/v1/claims", json=body, timeout=10)
    assert answer.status_code in (200, 202), answer.text
    return str(answer.json()["id"])


def _state(stack: Stack, claim_id: str) -> str:
    with reading(stack.engine) as uow:
        claim = uow.claims.get(claim_id)
    return "" if claim is None else claim.state.value


def _has_step(stack: Stack, customer: str, step: str) -> bool:
    with reading(stack.engine) as uow:
        events = uow.trail.for_customer(customer, CLAIM_CAMPAIGN_ID, limit=50)
    return any(event.step == step for event in events)


def test_explain_and_the_trail_endpoint_tell_five_customers_stories_with_the_right_reasons(
    stack: Stack,
) -> None:
    eligible = ready_claim_campaign(stack, 80)
    customers = stack.sim.customers(CLAIM_CAMPAIGN_ID)
    scrubbed = next(c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]))
    refused, rewarded, resent, stopped = eligible[:4]
    promo = stack.sim.state()["campaigns"][str(CLAIM_CAMPAIGN_ID)]["promo_code"]
    stack.sim._call("POST", "/promotions", json={"promocode_id": promo, "tiers": [BIG_DEPOSITS]})
    shop = requests.Session()
    shop.headers["Authorization"] = f"Bearer {stack.api_key()}"
    support_key = stack.processes.run("clients", "create", "support", "--scope", "customers:read").strip()

    # (a) a scrubbed customer claims anyway; (b) a deposit below the only tier; (c) a good one.
    at_once = _claim(stack, shop, scrubbed, 20)
    too_small = _claim(stack, shop, refused, 5)
    good = _claim(stack, shop, rewarded, 20)
    wait_until(lambda: _state(stack, good) == "completed", timeout=60, what="(c) to be rewarded and reported")
    assert (_state(stack, at_once), _state(stack, too_small)) == ("rejected", "rejected")

    # (d) Optimove applies the status but the answer is lost; once it answers again, a re-send.
    stack.sim.set_faults(rate_applied_lost=1.0, endpoints=["UpdateCustomerPromotionStatus"])
    ambiguous = _claim(stack, shop, resent, 50)
    wait_until(lambda: _has_step(stack, resent, "status.ambiguous"), timeout=60, what="an ambiguous call")
    stack.sim.clear_faults()
    wait_until(lambda: _state(stack, ambiguous) == "completed", timeout=60, what="(d) to be re-sent")

    # (e) the campaign may reward no more than the two it has rewarded.
    stack.processes.run("campaigns", "set", str(CLAIM_CAMPAIGN_ID), "--max-rewards", "2")
    over = _claim(stack, shop, stopped, 20)
    wait_until(lambda: _state(stack, over) == "rejected", timeout=60, what="(e) to be stopped")

    lines, body = _explain(stack, scrubbed)
    assert _steps(body) == ["audience.scrubbed", "claim.received", "claim.rejected"]
    assert lines[0].startswith("scrubbed from the audience by the ")
    assert lines[2].startswith("claim rejected at once, without asking OptiPromo: ")
    assert body["campaigns"][0]["audience"]["scrub_reason"] == expected_scrub_reason(
        next(c["attributes"] for c in customers if c["customer_id"] == scrubbed)
    )

    lines, body = _explain(stack, refused)
    assert _steps(body) == ["claim.received", "validation.answered"]
    assert lines[1].startswith("OptiPromo refused the claim: ") and "optipromo:not_eligible" in lines[1]

    lines, body = _explain(stack, rewarded)
    assert _steps(body) == [
        "claim.received", "validation.answered", "grant.settled", "status.queued", "status.sent",
    ]  # fmt: skip
    settled, sent = body["campaigns"][0]["steps"][2], body["campaigns"][0]["steps"][4]
    assert settled["details"]["amount_offered"] == "10" and settled["details"]["activator"] == "wallet"
    assert sent["details"]["resent"] is False
    assert lines[4].startswith(f"status reached Optimove in call {sent['details']['call_id']} ")

    lines, body = _explain(stack, resent)
    assert _steps(body)[-3:] == ["status.queued", "status.ambiguous", "status.sent"]
    assert sent["details"]["call_id"] != body["campaigns"][0]["steps"][-1]["details"]["call_id"]
    assert body["campaigns"][0]["steps"][-1]["details"]["resent"] is True
    assert "failed ambiguously" in lines[-2] and "a RE-SEND" in lines[-1]
    assert stack.sim.statuses(CLAIM_CAMPAIGN_ID)[resent]["times"] == 2

    lines, body = _explain(stack, stopped)
    assert _steps(body) == ["claim.received", "validation.answered", "claim.rejected"]
    assert lines[-1].startswith("claim rejected before any grant, never reported: ")
    assert "max_rewards" in lines[-1]
    assert body["campaigns"][0]["claim"]["reason"] == "safeguard:max_rewards"
    assert stopped not in stack.sim.statuses(CLAIM_CAMPAIGN_ID)  # never reported

    # The endpoint answers what the command prints, to a key that may read customers only.
    for customer in (scrubbed, refused, rewarded, resent, stopped):
        answer = requests.get(
            f"{stack.web_url}/v1/customers/{customer}/trail",
            params={"campaign_id": CLAIM_CAMPAIGN_ID},
            headers={"Authorization": f"Bearer {support_key}"},
            timeout=10,
        )
        assert answer.status_code == 200 and answer.json() == _explain(stack, customer)[1]
    assert SECRET not in stack.processes.logs()
