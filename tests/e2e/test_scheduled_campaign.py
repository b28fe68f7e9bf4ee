"""Done-when for scheduled campaigns: real processes, 20,000 customers, a webhook fired twice."""

from __future__ import annotations

import pytest
import requests
from sqlalchemy import func, select

from app.adapters.db.tables import campaign_pages, inbox_events
from benchmarks.stack import wait_until
from tests.e2e.conftest import LISTENER_TOKEN, Stack
from tests.support.sim_control import expected_scrub_reason
from tests.support.uow import reading

pytestmark = pytest.mark.e2e
AUDIENCE = 20_000
CONVERGENCE_TIMEOUT_SECONDS = 240


def _run_campaign_and_check(stack: Stack) -> dict[str, object]:
    stack.processes.run("register")
    listeners = stack.sim.state()["listeners"]
    assert any(str(LISTENER_TOKEN) in str(url) for url in listeners.values()), listeners

    created = stack.sim.create_campaign(
        AUDIENCE, no_consent_rate=0.08, fraud_rate=0.03, clearance_in_seconds=900
    )
    campaign_id = int(created["campaign_id"])
    deliveries = stack.sim.fire(campaign_id, times=2)
    assert [d.get("status") for d in deliveries] == [200, 200]

    def approved() -> bool:
        with reading(stack.engine) as uow:
            campaign = uow.campaigns.get(campaign_id)
        return campaign is not None and campaign.state.value in ("approved", "failed")

    wait_until(approved, timeout=CONVERGENCE_TIMEOUT_SECONDS, interval=1, what="every approval to be sent")

    truth = {
        c["customer_id"]: expected_scrub_reason(c["attributes"]) for c in stack.sim.customers(campaign_id)
    }
    eligible = {cid for cid, reason in truth.items() if reason is None}
    scrubbed = set(truth) - eligible
    statuses = stack.sim.statuses(campaign_id)
    state = stack.sim.state()
    summary = state["campaigns"][str(campaign_id)]

    # Exactly one ingest: one inbox row, one campaign, every page written once.
    with reading(stack.engine) as uow:
        assert uow.connection.execute(select(func.count()).select_from(inbox_events)).scalar_one() == 1
        assert uow.connection.execute(select(func.max(campaign_pages.c.row_count))).scalar_one() == 1000
        assert uow.audience.customer_ids(campaign_id, eligible=True) == eligible
    # No scrubbed customer approved; every eligible customer approved exactly once, before the deadline.
    assert scrubbed and not scrubbed & set(statuses)
    assert set(statuses) == eligible
    assert all(s["status"] is True and s["times"] == 1 for s in statuses.values())
    assert summary["late_sets"] == 0 and summary["customers_set_more_than_once"] == 0
    # The simulator's rate limit was on, and it never had to say 429.
    assert state["rate_limit"]["enabled"] is True
    assert state["rate_limited"] == 0
    assert all("429" not in map(str, codes) for codes in state["responses"].values())

    report = stack.campaign_report(campaign_id)
    assert report["state"] == "approved"
    assert report["rows_ingested"] == AUDIENCE
    assert report["eligible"] == report["approvals_sent"] == len(eligible)
    assert report["scrubbed_by_reason"] == {
        "no_consent": sum(1 for r in truth.values() if r == "no_consent"),
        "fraud_flagged": sum(1 for r in truth.values() if r == "fraud_flagged"),
    }
    text = stack.processes.run("campaigns", "show", str(campaign_id))
    assert f"customers ingested              {AUDIENCE}" in text
    print(
        f"\n{text}\nsimulator: requests={state['requests']} faults={state['faults_injected']} "
        f"rate_limited={state['rate_limited']} late_sets={summary['late_sets']}"
    )
    return {"report": report, "simulator": state}


def test_a_scheduled_campaign_is_ingested_once_and_every_eligible_customer_approved_once(
    stack: Stack,
) -> None:
    result = _run_campaign_and_check(stack)
    assert result["simulator"]["faults_injected"] == {}  # type: ignore[index]


def test_the_same_run_under_5xx_and_timeouts_ends_in_the_same_state(stack: Stack) -> None:
    stack.sim.set_faults(
        rate_5xx=0.10,
        rate_timeout=0.05,
        timeout_seconds=2.5,
        seed=7,
        endpoints=["GetProcessedCampaignCustomers", "UpdateCustomerPromotionStatus"],
    )
    result = _run_campaign_and_check(stack)
    injected = result["simulator"]["faults_injected"]  # type: ignore[index]
    assert injected.get("5xx", 0) > 0 and injected.get("timeout", 0) > 0, injected


def test_bad_webhooks_get_a_4xx_json_error_from_the_running_service_and_write_nothing(stack: Stack) -> None:
    url = f"{stack.web_url}/webhooks/optimove/{LISTENER_TOKEN}"
    good = {"EventTypeID": 5, "CampaignID": 77, "ClearanceRequiredBy": "2099-01-01 00:00:00"}
    attempts = [
        requests.post(f"{stack.web_url}/webhooks/optimove/wrong-token", json=good, timeout=5),
        requests.post(url, data=b"{broken", headers={"Content-Type": "application/json"}, timeout=5),
        requests.post(url, json={"EventTypeID": 5}, timeout=5),
        requests.post(
            url, data=b"{" + b" " * 70_000 + b"}", headers={"Content-Type": "application/json"}, timeout=5
        ),
        requests.post(
            url,
            data=iter([b"{", b" " * 70_000, b"}"]),
            headers={"Content-Type": "application/json"},
            timeout=5,
        ),
    ]
    assert [r.status_code for r in attempts] == [401, 400, 400, 413, 413]
    assert all(
        r.headers["Content-Type"].startswith("application/json") and r.json()["error"] for r in attempts
    )
    with reading(stack.engine) as uow:
        assert uow.connection.execute(select(func.count()).select_from(inbox_events)).scalar_one() == 0
