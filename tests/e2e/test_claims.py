"""Done-when for claims: real processes; every claim completed, one reward and one status per customer."""

from __future__ import annotations

import json
import random
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from app.adapters.db.tables import claims as claims_table
from benchmarks.stack import wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack, ready_claim_campaign
from tests.support.uow import reading

pytestmark = pytest.mark.e2e
CLAIMS = 200


def test_claims_complete_with_one_reward_and_one_status_each_despite_double_clicks(stack: Stack) -> None:
    eligible = ready_claim_campaign(stack, 400, no_consent_rate=0.05)[:CLAIMS]
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key()}"
    url = f"{stack.web_url}/v1/claims"
    rng = random.Random(5)

    def click(customer: str) -> list[str]:
        body = {
            "campaign_id": CLAIM_CAMPAIGN_ID,
            "customer_id": customer,
            "session_properties": {"deposit_amount": rng.choice([20, 150])},
        }
        ids = [
            session.post(url, json=body, headers={"Idempotency-Key": f"{customer}-a"}, timeout=10).json()[
                "id"
            ]
        ]
        if rng.random() < 0.3:  # double click with the same key, then a replay with another key
            ids.append(
                session.post(url, json=body, headers={"Idempotency-Key": f"{customer}-a"}, timeout=10).json()[
                    "id"
                ]
            )
            ids.append(
                session.post(url, json=body, headers={"Idempotency-Key": f"{customer}-b"}, timeout=10).json()[
                    "id"
                ]
            )
        return ids

    with ThreadPoolExecutor(max_workers=8) as pool:
        per_customer = list(pool.map(click, eligible))
    assert all(len(set(ids)) == 1 for ids in per_customer)
    claim_ids = [ids[0] for ids in per_customer]

    def all_final() -> bool:
        with reading(stack.engine) as uow:
            states = uow.claims.counts_by_state(CLAIM_CAMPAIGN_ID)
        return states.get("completed", 0) + states.get("rejected", 0) + states.get("failed", 0) >= len(
            claim_ids
        )

    wait_until(all_final, timeout=180, interval=1, what="every claim to reach a final state")
    final = session.get(f"{url}/{claim_ids[0]}?wait=1", timeout=10).json()
    assert final["status"] == "completed" and final["reward"]["amount"]

    with reading(stack.engine) as uow:
        states = uow.claims.counts_by_state(CLAIM_CAMPAIGN_ID)
        credits = uow.activations.credits_per_claim()
        completed = set(
            uow.connection.execute(
                select(claims_table.c.customer_id).where(claims_table.c.state == "completed")
            ).scalars()
        )
    assert states == {"completed": CLAIMS}
    assert credits == dict.fromkeys(claim_ids, 1)
    statuses = stack.sim.statuses(CLAIM_CAMPAIGN_ID)
    assert set(statuses) == completed == set(eligible)
    assert all(s["times"] == 1 and s["status"] is True for s in statuses.values())
    promotions = stack.sim.state()["promotions"]
    assert sum(p["customers_reserved"] for p in promotions.values()) == CLAIMS
    assert stack.sim.state()["rate_limited"] == 0


def test_the_triggered_gateway_answers_optimove_and_the_customer_can_then_claim(stack: Stack) -> None:
    stack.processes.run("register")
    created = stack.sim.create_campaign(10, no_consent_rate=0, fraud_rate=0)
    campaign_id = int(created["campaign_id"])
    customer = stack.sim.customers(campaign_id)[3]["customer_id"]
    undeclared = stack.sim._call(
        "POST", "/triggered/fire", json={"campaign_id": campaign_id, "customer_id": customer}
    )
    assert undeclared["deliveries"][0]["status"] == 200, undeclared
    assert json.loads(undeclared["deliveries"][0]["body"])["allowed"] is False  # not declared yet
    stack.processes.run("campaigns", "set", str(campaign_id), "--triggered", "--notes", "e2e gateway")
    fired = stack.sim._call(
        "POST", "/triggered/fire", json={"campaign_id": campaign_id, "customer_id": customer}
    )
    delivery = fired["deliveries"][0]
    assert delivery["status"] == 200, fired
    assert json.loads(delivery["body"]) == {"user_id": customer, "allowed": True}
    response = requests.post(
        f"{stack.web_url}/v1/claims",
        json={"campaign_id": campaign_id, "customer_id": customer},
        headers={"Authorization": f"Bearer {stack.api_key('gateway-backend')}"},
        timeout=10,
    )
    assert response.status_code == 202 and response.json()["status"] == "pending"
