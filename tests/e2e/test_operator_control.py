"""Done-when for safeguards and run-time settings, with real processes and the simulator.

A mode set with the CLI before the webhook is the one the campaign gets, and cannot change once
claims started; a campaign over its maximum audience is held (no approval, no claim processed)
until `promobridge campaigns release`; max_rewards stops activations at exactly that count under
200 concurrent claims; the pause stops a running claims burst and resume finishes it, every claim
rewarded once and reported once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from app.processes import CommandFailed
from benchmarks.stack import wait_until
from tests.e2e.conftest import CLAIM_CAMPAIGN_ID, Stack
from tests.support.uow import reading

pytestmark = [
    pytest.mark.e2e,
    # Small validation calls, each slowed down, so that a burst of claims lasts long enough to pause.
    pytest.mark.stack_env(OPTIPROMO_MAX_CONTEXTS="5", CLAIM_STALE_AFTER_SECONDS="5"),
]
HELD_CAMPAIGN_ID = 6001
CLAIMS = 200


def ingested(stack: Stack, campaign_id: int, size: int) -> list[str]:
    """Create and fire a campaign of `size` customers (none scrubbed); wait until it is ingested."""
    stack.sim.create_campaign(size, campaign_id=campaign_id, no_consent_rate=0, fraud_rate=0)
    stack.sim.fire(campaign_id)

    def ready() -> bool:
        with reading(stack.engine) as uow:
            campaign = uow.campaigns.get(campaign_id)
        return campaign is not None and campaign.state.value == "ready"

    wait_until(ready, timeout=60, what=f"campaign {campaign_id} to be ingested")
    return [c["customer_id"] for c in stack.sim.customers(campaign_id)]


def submit(stack: Stack, campaign_id: int, customers: list[str]) -> list[str]:
    """Submit one claim per customer, 16 at a time; the claim ids (each answered 202)."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {stack.api_key(f'backend-{uuid.uuid4().hex[:8]}')}"

    def click(customer: str) -> str:
        answer = session.post(
            f"{stack.web_url}/v1/claims",
            json={"campaign_id": campaign_id, "customer_id": customer},
            headers={"Idempotency-Key": f"{customer}-k"},
            timeout=10,
        )
        assert answer.status_code == 202, answer.text
        return str(answer.json()["id"])

    with ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(click, customers))


def states(stack: Stack, campaign_id: int) -> dict[str, int]:
    with reading(stack.engine) as uow:
        return uow.claims.counts_by_state(campaign_id)


def granted_or_not(stack: Stack) -> dict[str, int]:
    """Claims by state, granted ones together: statuses of rewards already granted still go while
    paused (activated becomes completed), nothing else moves."""
    by_state = states(stack, CLAIM_CAMPAIGN_ID)
    granted = by_state.pop("activated", 0) + by_state.pop("completed", 0)
    return {**by_state, "granted": granted}


def all_final(stack: Stack, campaign_id: int, count: int) -> Callable[[], bool]:
    def check() -> bool:
        by_state = states(stack, campaign_id)
        return sum(by_state.get(s, 0) for s in ("completed", "rejected", "failed")) >= count

    return check


def test_a_campaign_over_its_max_audience_waits_with_its_claims_until_released_in_the_mode_set_before(
    stack: Stack,
) -> None:
    stack.processes.run("register")
    # DEFAULT_CAMPAIGN_MODE is auto in this stack: the CLI's claim mode must win, set before the webhook.
    stack.processes.run("campaigns", "set", str(HELD_CAMPAIGN_ID), "--mode", "claim", "--max-audience", "100")
    customers = ingested(stack, HELD_CAMPAIGN_ID, 300)
    report = stack.campaign_report(HELD_CAMPAIGN_ID)
    assert (report["mode"], report["mode_from"]) == ("claim", "settings")
    assert str(report["hold"]).startswith("safeguard:max_audience: ")

    claim_ids = submit(stack, HELD_CAMPAIGN_ID, customers[:20])  # accepted and stored while held
    time.sleep(4)
    assert states(stack, HELD_CAMPAIGN_ID) == {"pending": 20}
    assert stack.sim.statuses(HELD_CAMPAIGN_ID) == {}
    with pytest.raises(CommandFailed, match="cannot change after approvals or claims have started"):
        stack.processes.run("campaigns", "set", str(HELD_CAMPAIGN_ID), "--mode", "auto")

    assert stack.processes.run("campaigns", "release", str(HELD_CAMPAIGN_ID)).strip() == (
        f"campaign {HELD_CAMPAIGN_ID} released"
    )

    wait_until(all_final(stack, HELD_CAMPAIGN_ID, len(claim_ids)), timeout=90, interval=0.5,
               what="the released campaign's claims to complete")  # fmt: skip
    assert states(stack, HELD_CAMPAIGN_ID) == {"completed": 20}
    statuses = stack.sim.statuses(HELD_CAMPAIGN_ID)
    assert set(statuses) == set(customers[:20]) and all(s["times"] == 1 for s in statuses.values())


def test_max_rewards_stops_activations_at_exactly_that_count_under_200_concurrent_claims(
    stack: Stack,
) -> None:
    stack.processes.run("register")
    stack.processes.run("campaigns", "set", str(CLAIM_CAMPAIGN_ID), "--max-rewards", "50")
    customers = ingested(stack, CLAIM_CAMPAIGN_ID, 400)

    claim_ids = submit(stack, CLAIM_CAMPAIGN_ID, customers[:CLAIMS])

    wait_until(all_final(stack, CLAIM_CAMPAIGN_ID, CLAIMS), timeout=180, interval=1,
               what="every claim to reach a final state")  # fmt: skip
    with reading(stack.engine) as uow:
        by_reason = uow.claims.counts_by_reason(CLAIM_CAMPAIGN_ID)
        credits = uow.activations.credits_per_claim()
    assert states(stack, CLAIM_CAMPAIGN_ID) == {"completed": 50, "rejected": CLAIMS - 50}
    assert by_reason == {"safeguard:max_rewards": CLAIMS - 50}
    assert len(credits) == 50 and set(credits.values()) == {1} and set(credits) <= set(claim_ids)
    statuses = stack.sim.statuses(CLAIM_CAMPAIGN_ID)
    assert len(statuses) == 50 and all(s["times"] == 1 for s in statuses.values())  # rejected: never reported
    report = stack.campaign_report(CLAIM_CAMPAIGN_ID)
    assert report["safeguard_trips"] == {"safeguard:max_rewards": CLAIMS - 50}
    assert (report["rewards_reserved"], report["rewarded"]) == (50, 50)


def test_the_pause_stops_a_running_burst_and_resume_finishes_it_with_each_claim_rewarded_and_reported_once(
    stack: Stack,
) -> None:
    stack.processes.run("register")
    customers = ingested(stack, CLAIM_CAMPAIGN_ID, 300)
    stack.sim.set_faults(latency_ms=150, endpoints=["validateCustomers"])
    first = submit(stack, CLAIM_CAMPAIGN_ID, customers[:100])

    def some_completed() -> bool:
        return states(stack, CLAIM_CAMPAIGN_ID).get("completed", 0) >= 10

    wait_until(some_completed, timeout=60, interval=0.2, what="the burst to be under way")
    assert "paused" in stack.processes.run("pause", "--reason", "e2e")
    second = submit(stack, CLAIM_CAMPAIGN_ID, customers[100:CLAIMS])  # still taken while paused
    time.sleep(3)  # the calls and rounds in flight when the pause landed finish
    stalled = granted_or_not(stack)
    time.sleep(5)
    assert granted_or_not(stack) == stalled, "work went on while paused"
    assert stalled.get("pending", 0) > 0, stalled  # the burst was stopped part way
    assert stack.campaign_report(CLAIM_CAMPAIGN_ID)["paused"] is True

    assert stack.processes.run("resume").strip() == "resumed"

    wait_until(all_final(stack, CLAIM_CAMPAIGN_ID, CLAIMS), timeout=180, interval=1,
               what="every claim to complete after the resume")  # fmt: skip
    with reading(stack.engine) as uow:
        credits = uow.activations.credits_per_claim()
    assert states(stack, CLAIM_CAMPAIGN_ID) == {"completed": CLAIMS}
    assert credits == dict.fromkeys(first + second, 1)
    statuses = stack.sim.statuses(CLAIM_CAMPAIGN_ID)
    assert set(statuses) == set(customers[:CLAIMS]) and all(s["times"] == 1 for s in statuses.values())
