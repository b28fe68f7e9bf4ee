"""Webhooks the simulated tenant sends: campaign events to listeners, and triggered-gateway calls.

Bodies follow contract.py #4 and #5 (inferred); the triggered body follows the documented v1 gateway
payload [C S9]. Deliveries are synchronous so a test knows the listener has answered when the control
call returns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from simulator import contract
from simulator.campaigns import Campaign

MAX_REPORTED_BODY_CHARS = 2000  # the listener's answer is echoed back, cut to this length
USER_AGENT = "promobridge-simulator"


def campaign_event_body(
    event_type_id: int, campaign: Campaign, now: datetime, zone: ZoneInfo
) -> dict[str, Any]:
    """An EventTypeID 5 (or 4) notification; 4 carries no ClearanceRequiredBy (contract #4)."""
    body: dict[str, Any] = {
        "EventTypeID": event_type_id,
        "TimeStamp": now.astimezone(zone).strftime(contract.WEBHOOK_TIMESTAMP_FORMAT),
        "CampaignID": campaign.campaign_id,
    }
    if event_type_id == contract.EVENT_SCHEDULED_CONDITIONAL:
        deadline = campaign.clearance_required_by.astimezone(zone)
        body["ClearanceRequiredBy"] = deadline.strftime(contract.CLEARANCE_FORMAT)
    return body


def triggered_gateway_body(
    campaign: Campaign, customer_id: str, *, is_visitor: bool, series_id: int | None
) -> dict[str, Any]:
    """The conditional-execution gateway call for one customer [C S9]."""
    spec = campaign.audience.spec
    return {
        "user": {"user_id": customer_id, "is_visitor": is_visitor},
        "campaign": {
            "id": spec.campaign_id,
            "series_id": spec.campaign_id if series_id is None else series_id,
            "notes": "",
            "tags": [],
            "action": {
                "id": spec.action_id,
                "name": f"Action {spec.action_id}",
                "promo_codes": [spec.promo_code],
                "channels": [],
            },
        },
    }


def deliver(url: str, body: dict[str, Any], times: int, timeout_seconds: float) -> list[dict[str, Any]]:
    """POST ``body`` to ``url`` ``times`` times; one ``{"status", "body"}`` or ``{"error"}`` per attempt."""
    outcomes: list[dict[str, Any]] = []
    with requests.Session() as session:
        for _ in range(times):
            try:
                response = session.post(
                    url, json=body, timeout=timeout_seconds, headers={"User-Agent": USER_AGENT}
                )
            except requests.RequestException as exc:
                outcomes.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            outcomes.append({"status": response.status_code, "body": response.text[:MAX_REPORTED_BODY_CHARS]})
    return outcomes
