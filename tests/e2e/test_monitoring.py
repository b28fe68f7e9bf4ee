"""Flower works out of the box against the workers, and beat schedules the maintenance sweep."""

from __future__ import annotations

import pytest
import requests

from app.adapters.dispatch import ACTIVATE_CLAIMS, MAINTENANCE_SWEEP, VALIDATE_PENDING
from benchmarks.stack import free_port, http_ready, wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack, ready_claim_campaign

pytestmark = pytest.mark.e2e
AUTH = ("ops", "s3cret-flower")


def test_flower_shows_the_claim_tasks_and_beat_runs_the_sweep(stack: Stack) -> None:
    port = free_port()
    stack.processes.env["FLOWER_BASIC_AUTH"] = ":".join(AUTH)
    stack.processes.start("flower", ["flower", "--port", str(port)])
    stack.processes.start("beat", ["beat"])
    flower = f"http://127.0.0.1:{port}"
    wait_until(http_ready(f"{flower}/healthcheck"), timeout=60, what="Flower")
    assert requests.get(f"{flower}/api/workers", timeout=5).status_code == 401  # basic auth is on

    customer = ready_claim_campaign(stack, 30, no_consent_rate=0.05)[0]
    response = requests.post(
        f"{stack.web_url}/v1/claims",
        json={"campaign_id": CLAIM_CAMPAIGN_ID, "customer_id": customer},
        headers={"Authorization": f"Bearer {stack.api_key()}"},
        timeout=10,
    )
    claim_id = response.json()["id"]
    final = requests.get(
        f"{stack.web_url}/v1/claims/{claim_id}?wait=30",
        headers={"Authorization": f"Bearer {stack.api_key('second')}"},
        timeout=40,
    )
    # Claims belong to the operator (README, "Who owns a claim"): another backend's key reads it too.
    assert final.status_code == 200 and final.json()["id"] == claim_id

    def flower_saw(task_name: str) -> bool:
        tasks = requests.get(
            f"{flower}/api/tasks", params={"taskname": task_name}, auth=AUTH, timeout=5
        ).json()
        return any(t.get("state") == "SUCCESS" for t in tasks.values())

    for name in (VALIDATE_PENDING, ACTIVATE_CLAIMS, MAINTENANCE_SWEEP):
        wait_until(lambda name=name: flower_saw(name), timeout=60, interval=1, what=f"Flower to list {name}")
    workers = requests.get(f"{flower}/api/workers", params={"refresh": 1}, auth=AUTH, timeout=15).json()
    assert workers, "Flower lists the running worker"
