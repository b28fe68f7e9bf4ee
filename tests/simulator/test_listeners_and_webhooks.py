"""Listener registration and firing the campaign webhooks at a real HTTP listener."""

from __future__ import annotations

from datetime import datetime

from simulator.config import SimulatorConfig
from simulator.server import SimulatorServer
from tests.simulator.conftest import API_KEY, Control, OptimoveClient, RecordingListener

REGISTER = "/general/RegisterEventListener"
LIST = "/general/GetRegisteredEventListeners"
UNREGISTER = "/general/UnregisterEventListener"
TRIGGERED = "/conditional-execution/v2/triggered/webhooks/"


def test_registering_again_replaces_the_url_and_counts_registrations(
    optimove: OptimoveClient, control: Control
) -> None:
    first = optimove.post(REGISTER, json={"EventTypeID": 5, "ListenerURL": "http://a.example/hook"})
    optimove.post(REGISTER, json={"EventTypeID": 5, "ListenerURL": "http://b.example/hook"})
    optimove.post(REGISTER, json={"EventTypeID": 4, "ListenerURL": "http://b.example/cancel"})

    assert first.status_code == 200 and first.content == b""
    assert optimove.get(LIST).json() == [
        {"EventTypeID": 4, "ListenerURL": "http://b.example/cancel"},
        {"EventTypeID": 5, "ListenerURL": "http://b.example/hook"},
    ]
    assert optimove.post(UNREGISTER, json={"EventTypeID": 4}).status_code == 200
    assert optimove.get(LIST).json() == [{"EventTypeID": 5, "ListenerURL": "http://b.example/hook"}]
    state = control.state()
    assert state["registrations"] == 3
    assert state["listeners"] == {"5": "http://b.example/hook"}


def test_event_type_5_cannot_be_registered_for_a_channel(optimove: OptimoveClient) -> None:
    response = optimove.post(
        REGISTER, json={"EventTypeID": 5, "ListenerURL": "http://a.example/", "ChannelID": 3}
    )

    assert response.status_code == 400
    assert optimove.get(LIST).json() == []
    assert optimove.post(REGISTER, json={"EventTypeID": 5}).status_code == 400
    assert optimove.post(REGISTER, json={"EventTypeID": "5", "ListenerURL": "http://a/"}).status_code == 400


def test_triggered_webhook_registration_is_recorded(optimove: OptimoveClient, control: Control) -> None:
    assert optimove.post(TRIGGERED, json={"url": "https://gw.example/t"}).status_code == 200
    assert optimove.post(TRIGGERED, json={"link": "https://gw.example/t"}).status_code == 400

    assert control.state()["triggered_webhook_url"] == "https://gw.example/t"


def test_firing_posts_the_event_5_body_to_the_listener(
    optimove: OptimoveClient, control: Control, listener: RecordingListener
) -> None:
    campaign = control.create_campaign(size=3, clearance_required_by="2026-03-01T12:30:00+00:00")
    optimove.post(REGISTER, json={"EventTypeID": 5, "ListenerURL": listener.url})

    result = control.post(f"/campaigns/{campaign['campaign_id']}/fire", {"times": 2}).json()

    assert result["deliveries"] == [{"status": 200, "body": "ok"}, {"status": 200, "body": "ok"}]
    assert len(listener.bodies) == 2
    received = listener.bodies[0]["json"]
    assert listener.bodies[0]["token"] == "secret"
    assert set(received) == {"EventTypeID", "TimeStamp", "CampaignID", "ClearanceRequiredBy"}
    assert received["EventTypeID"] == 5
    assert received["CampaignID"] == campaign["campaign_id"]
    assert received["ClearanceRequiredBy"] == "2026-03-01 12:30:00"
    datetime.strptime(received["TimeStamp"], "%Y-%m-%d %H:%M")


def test_webhook_times_are_written_in_the_tenant_time_zone(listener: RecordingListener) -> None:
    config = SimulatorConfig(api_keys=(API_KEY,), timezone="Europe/Berlin")
    with SimulatorServer(config) as sim:
        control = Control(sim.url)
        campaign = control.create_campaign(size=1, clearance_required_by="2026-07-01T10:00:00Z")
        OptimoveClient(sim.optimove_url).post(REGISTER, json={"EventTypeID": 5, "ListenerURL": listener.url})

        control.post(f"/campaigns/{campaign['campaign_id']}/fire")

    assert listener.bodies[0]["json"]["ClearanceRequiredBy"] == "2026-07-01 12:00:00"  # CEST = UTC+2


def test_cancellation_bodies_carry_no_clearance_deadline(
    optimove: OptimoveClient, control: Control, listener: RecordingListener
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]
    optimove.post(REGISTER, json={"EventTypeID": 4, "ListenerURL": listener.url})

    control.post(f"/campaigns/{campaign_id}/fire", {"event_type_id": 4})

    assert set(listener.bodies[0]["json"]) == {"EventTypeID", "TimeStamp", "CampaignID"}


def test_firing_without_a_listener_is_a_conflict_and_unreachable_listeners_are_reported(
    optimove: OptimoveClient, control: Control
) -> None:
    campaign_id = control.create_campaign(size=1)["campaign_id"]

    assert control.post(f"/campaigns/{campaign_id}/fire").status_code == 409
    assert control.post("/campaigns/999/fire").status_code == 404
    optimove.post(REGISTER, json={"EventTypeID": 5, "ListenerURL": "http://127.0.0.1:9/nothing"})
    deliveries = control.post(f"/campaigns/{campaign_id}/fire").json()["deliveries"]
    assert list(deliveries[0]) == ["error"]


def test_triggered_gateway_call_carries_the_documented_payload(
    optimove: OptimoveClient, control: Control, listener: RecordingListener
) -> None:
    campaign_id = control.create_campaign(size=2, promo_code="TRIG")["campaign_id"]
    optimove.post(TRIGGERED, json={"url": listener.url})

    result = control.post("/triggered/fire", {"campaign_id": campaign_id, "customer_id": "C-1"}).json()

    assert result["deliveries"] == [{"status": 200, "body": "ok"}]
    payload = listener.bodies[0]["json"]
    assert payload["user"] == {"user_id": "C-1", "is_visitor": False}
    assert payload["campaign"]["id"] == campaign_id
    assert payload["campaign"]["action"]["promo_codes"] == ["TRIG"]
