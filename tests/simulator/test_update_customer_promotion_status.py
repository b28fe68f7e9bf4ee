"""UpdateCustomerPromotionStatus: what is recorded per customer, and what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.simulator.conftest import Control, OptimoveClient

PATH = "/integrations/UpdateCustomerPromotionStatus"
TIMESTAMP = "2026-01-02 03:04:05"


def _update(campaign_id: int, entries: list[dict[str, Any]], timestamp: Any = TIMESTAMP) -> dict[str, Any]:
    return {"TimeStamp": timestamp, "CampaignID": campaign_id, "PromosUpdated": entries}


def test_each_set_is_counted_per_customer_and_the_last_status_wins(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=10)["campaign_id"]
    first, second = f"{campaign_id}-0000001", f"{campaign_id}-0000002"

    assert (
        optimove.post(PATH, json=_update(campaign_id, [{"CustomerID": first, "Status": True}])).status_code
        == 200
    )
    response = optimove.post(
        PATH,
        json=_update(
            campaign_id, [{"CustomerID": first, "Status": False}, {"CustomerID": second, "Status": True}]
        ),
    )

    assert response.status_code == 200
    assert response.content == b""
    body = control.get(f"/campaigns/{campaign_id}/statuses").json()
    statuses = body["statuses"]
    assert set(statuses) == {first, second}
    assert statuses[first]["status"] is False and statuses[first]["times"] == 2
    assert statuses[second]["status"] is True and statuses[second]["times"] == 1
    assert not statuses[first]["late"]
    summary = body["summary"]
    assert summary["customers_set"] == 2
    assert summary["customers_true"] == 1
    assert summary["customers_set_more_than_once"] == 1
    assert summary["total_sets"] == 3
    assert summary["max_times"] == 2
    assert summary["late_sets"] == 0


def test_customers_outside_the_audience_are_recorded_as_unknown(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=3)["campaign_id"]
    strangers = ["someone-else", f"{campaign_id}-0000003", f"{campaign_id}-1"]

    optimove.post(PATH, json=_update(campaign_id, [{"CustomerID": c, "Status": True} for c in strangers]))

    body = control.get(f"/campaigns/{campaign_id}/statuses").json()
    assert set(body["statuses"]) == set(strangers)
    assert body["summary"]["unknown_customers"] == 3
    assert body["summary"]["customers_set"] == 0


def test_sets_after_the_clearance_deadline_are_marked_late(
    optimove: OptimoveClient, control: Control
) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    campaign_id = control.create_campaign(size=2, clearance_required_by=past)["campaign_id"]
    customer = f"{campaign_id}-0000000"

    optimove.post(PATH, json=_update(campaign_id, [{"CustomerID": customer, "Status": True}]))

    body = control.get(f"/campaigns/{campaign_id}/statuses").json()
    assert body["statuses"][customer]["late"] is True
    assert body["summary"]["late_sets"] == 1


def test_more_than_ten_thousand_entries_are_refused_and_nothing_is_recorded(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=20_000)["campaign_id"]
    entries = [{"CustomerID": f"{campaign_id}-{i:07d}", "Status": True} for i in range(10_001)]

    too_many = optimove.post(PATH, json=_update(campaign_id, entries))
    just_enough = optimove.post(PATH, json=_update(campaign_id, entries[:10_000]))

    assert too_many.status_code == 400
    assert too_many.json()["status"] == 400
    assert just_enough.status_code == 200
    assert control.get(f"/campaigns/{campaign_id}").json()["customers_set"] == 10_000


def test_malformed_bodies_are_refused(optimove: OptimoveClient, control: Control) -> None:
    campaign_id = control.create_campaign(size=2)["campaign_id"]
    good = {"CustomerID": f"{campaign_id}-0000000", "Status": True}

    bad_bodies = [
        _update(campaign_id, [good], timestamp="2026-01-02T03:04:05"),
        _update(campaign_id, [good], timestamp="2026-01-02 03:04"),
        _update(campaign_id, [good], timestamp=None),
        _update(campaign_id, [{"CustomerID": 17, "Status": True}]),
        _update(campaign_id, [{"CustomerID": good["CustomerID"], "Status": "true"}]),
        _update(campaign_id, [["not", "an", "object"]]),  # type: ignore[list-item]
        {"TimeStamp": TIMESTAMP, "CampaignID": str(campaign_id), "PromosUpdated": [good]},
        {"TimeStamp": TIMESTAMP, "CampaignID": campaign_id, "PromosUpdated": good},
    ]

    for body in bad_bodies:
        assert optimove.post(PATH, json=body).status_code == 400, body
    assert optimove.post(PATH, data="not json").status_code == 400
    assert optimove.post(PATH, json=_update(4242, [good])).status_code == 404
    assert control.state()["campaigns"][str(campaign_id)]["total_sets"] == 0
