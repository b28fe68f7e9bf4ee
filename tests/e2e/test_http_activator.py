"""Done-when for the HTTP reward activator: real Celery tasks, the relay's reconciler, the simulated platform.

The worker grants rewards by POSTing them to the simulator's operator endpoint. Rewarded claims
complete and are reported once while failing grants fail on their own; a misconfigured endpoint
fails claims visibly, and once it is fixed a replay completes every claim with one grant each.
"""

from __future__ import annotations

import pytest
import requests

from benchmarks.stack import wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack, ready_claim_campaign
from tests.support.uow import reading

MAX_RETRIES = 2

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.stack_env(
        REWARD_ACTIVATOR="http",
        REWARD_ACTIVATOR_URL="{simulator}/_operator/grants",
        CLAIM_MAX_RETRIES=str(MAX_RETRIES),
        # The reconciler (in the relay) re-dispatches anything quiet for 2 s: it must not add POSTs.
        CLAIM_STALE_AFTER_SECONDS="2",
        RETRY_BACKOFF_BASE_SECONDS="0.2",
        RETRY_BACKOFF_MAX_SECONDS="1",
    ),
]


def _claim_all(stack: Stack, session: requests.Session, customers: list[str]) -> dict[str, str]:
    ids = {}
    for customer in customers:
        body = {"campaign_id": CLAIM_CAMPAIGN_ID, "customer_id": customer}
        response = session.post(f"{stack.web_url}/v1/claims", json=body, timeout=10)
        assert response.status_code == 202, response.text
        ids[customer] = response.json()["id"]
    return ids


def _states(stack: Stack) -> dict[str, int]:
    with reading(stack.engine) as uow:
        return uow.claims.counts_by_state(CLAIM_CAMPAIGN_ID)


def _wait_for(stack: Stack, expected: dict[str, int], what: str) -> None:
    wait_until(lambda: _states(stack) == expected, timeout=90, interval=0.5, what=what)


def test_over_http_each_grant_settles_alone_and_a_fixed_misconfiguration_is_replayed_to_completion(
    stack: Stack,
) -> None:
    eligible = ready_claim_campaign(stack, 80, no_consent_rate=0.05)
    first, later = eligible[:30], eligible[30:36]
    failing = set(first[:5])
    stack.sim.set_operator_faults(latency_ms=20, failing_customers=sorted(failing))

    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key()}"

    first_ids = _claim_all(stack, session, first)
    _wait_for(stack, {"completed": 25, "failed": 5}, "rewarded claims completed, failing ones failed")

    grants = stack.sim.operator_grants()["keys"]
    with reading(stack.engine) as uow:
        final = {c.customer_id: c for c in uow.claims.get_many(list(first_ids.values()))}
    for customer in failing:
        assert final[customer].reason is not None
        assert final[customer].reason.startswith("activation_unconfirmed: answered 50")
        assert (grants[first_ids[customer]]["attempts"], grants[first_ids[customer]]["granted"]) == (
            MAX_RETRIES + 1,
            0,
        ), "the reconciler added no POST"
    assert all(grants[first_ids[c]]["granted"] == 1 for c in first if c not in failing)
    statuses = stack.sim.statuses(CLAIM_CAMPAIGN_ID)
    assert set(statuses) == set(first) - failing and all(s["times"] == 1 for s in statuses.values())

    stack.sim.set_operator_faults(latency_ms=20, force_status=401)
    later_ids = _claim_all(stack, session, later)
    _wait_for(stack, {"completed": 25, "failed": 11}, "claims failed on the misconfigured endpoint")
    with reading(stack.engine) as uow:
        misconfigured = uow.claims.get_many(list(later_ids.values()))
    assert all(
        c.reason and c.reason.startswith("activation_misconfigured: answered 401") for c in misconfigured
    )
    grants = stack.sim.operator_grants()["keys"]
    assert all(grants[claim_id]["attempts"] == 1 for claim_id in later_ids.values())

    stack.sim.set_operator_faults(latency_ms=20)
    assert stack.processes.run("claims", "retry", "--all-failed").strip() == "11 claim(s) replayed"
    _wait_for(stack, {"completed": 36}, "every replayed claim to complete")

    summary = stack.sim.operator_grants()["summary"]
    assert (summary["granted"], summary["max_granted_per_key"], summary["max_granted_per_customer"]) == (
        36,
        1,
        1,
    )
    statuses = stack.sim.statuses(CLAIM_CAMPAIGN_ID)
    assert set(statuses) == set(first) | set(later)
    assert all(s["times"] == 1 and s["status"] is True for s in statuses.values())
