"""What the client puts on the wire: paths, headers, bodies, chunking, timeouts and limiter slots."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import requests

from app.adapters.optimove.client import OptimoveClient
from app.domain.optimove import PromoStatus, RegisteredListener, SameStatus
from tests.integration.optimove.conftest import API_KEY, CallLog, ClientFactory, CountingLimiter
from tests.support.scripted_http import Scripted, ScriptedHTTPServer

LISTENER_URL = "https://bridge.example.com/webhooks/optimove/tok-123"


class RecordingSession(requests.Session):
    """A real session that also remembers the keyword arguments of every request."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[dict[str, Any]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.seen.append(kwargs)
        return super().request(method, url, *args, **kwargs)


def test_25000_statuses_go_out_in_three_calls_of_at_most_10000(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(Scripted(status=200))
    statuses = [PromoStatus(f"C{n}", n % 7 != 0) for n in range(25_000)]

    calls = client.update_customer_promotion_status(
        1359, statuses, timestamp=datetime(2025, 5, 1, 8, 30, 5, 123456, tzinfo=UTC)
    )

    assert calls == 3
    bodies = [request.json for request in server.requests]
    assert [len(body["PromosUpdated"]) for body in bodies] == [10_000, 10_000, 5_000]
    assert all(set(body) == {"TimeStamp", "CampaignID", "PromosUpdated"} for body in bodies)
    assert {body["TimeStamp"] for body in bodies} == {"2025-05-01 08:30:05"}
    assert {body["CampaignID"] for body in bodies} == {1359}
    sent = [entry for body in bodies for entry in body["PromosUpdated"]]
    assert sent == [{"CustomerID": s.customer_id, "Status": s.status} for s in statuses]
    assert server.paths() == ["/current/integrations/UpdateCustomerPromotionStatus"] * 3


def test_a_column_of_approvals_goes_out_as_the_same_entries_in_calls_of_at_most_10000(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(Scripted(status=200))
    customer_ids = [f"C{n}" for n in range(25_000)]
    moment = datetime(2025, 5, 1, 8, 30, 5, tzinfo=UTC)

    calls = client.update_customer_promotion_status(1359, SameStatus(customer_ids, True), timestamp=moment)
    client.update_customer_promotion_status(
        1359, [PromoStatus(c, True) for c in customer_ids], timestamp=moment
    )

    assert calls == 3
    bodies = [request.body for request in server.requests]
    assert bodies[:3] == bodies[3:]
    sent = [entry for request in server.requests[:3] for entry in request.json["PromosUpdated"]]
    assert sent == [{"CustomerID": c, "Status": True} for c in customer_ids]


def test_status_timestamp_defaults_to_now_in_utc(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.set_fallback(Scripted(status=200))
    before = datetime.now(UTC).replace(microsecond=0)

    client.update_customer_promotion_status(7, [PromoStatus("C1", True)])

    stamp = datetime.strptime(server.requests[0].json["TimeStamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)


def test_aware_status_timestamp_is_sent_in_utc(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.set_fallback(Scripted(status=200))
    berlin_summer = timezone(timedelta(hours=2))

    client.update_customer_promotion_status(
        7, [PromoStatus("C1", True)], timestamp=datetime(2025, 5, 1, 10, 0, tzinfo=berlin_summer)
    )

    assert server.requests[0].json["TimeStamp"] == "2025-05-01 08:00:00"


def test_no_statuses_means_no_call(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    assert client.update_customer_promotion_status(7, []) == 0
    assert server.requests == []


def test_every_request_carries_the_api_key_and_json_headers(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(Scripted(status=200, json=[]))

    client.get_registered_event_listeners()
    client.register_event_listener(5, LISTENER_URL)

    for request in server.requests:
        assert request.headers["X-API-KEY"] == API_KEY
        assert request.headers["Accept"] == "application/json"
        assert request.headers["User-Agent"] == "promobridge/0.1"
    assert server.requests[1].headers["Content-Type"] == "application/json"


def test_register_event_listener_never_sends_a_channel_id(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(Scripted(status=200))

    client.register_event_listener(5, LISTENER_URL)
    client.unregister_event_listener(5)

    register, unregister = server.requests
    assert (register.method, register.path) == ("POST", "/current/general/RegisterEventListener")
    assert register.json == {"EventTypeID": 5, "ListenerURL": LISTENER_URL}
    assert (unregister.method, unregister.path) == ("POST", "/current/general/UnregisterEventListener")
    assert unregister.json == {"EventTypeID": 5}


def test_triggered_webhook_registration_posts_the_url(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.set_fallback(Scripted(status=201))

    client.register_triggered_webhook("https://bridge.example.com/webhooks/optimove/triggered/tok")

    request = server.requests[0]
    assert request.path == "/current/conditional-execution/v2/triggered/webhooks/"
    assert request.json == {"url": "https://bridge.example.com/webhooks/optimove/triggered/tok"}


@pytest.mark.parametrize(
    "answer",
    [
        [{"EventTypeID": 5, "ListenerURL": LISTENER_URL}],
        [{"eventTypeId": "5", "listenerUrl": LISTENER_URL}],
        {"EventListeners": [{"EventTypeID": 5, "ListenerURL": LISTENER_URL}]},
        {"EventTypeID": 5, "ListenerURL": LISTENER_URL},
        {"5": LISTENER_URL},
        [
            {
                "EventTypeID": 5,
                "ListenerURL": "https%3A%2F%2Fbridge.example.com%2Fwebhooks%2Foptimove%2Ftok-123",
            }
        ],
    ],
    ids=["list", "camel-case", "wrapped", "single-object", "id-to-url-map", "url-encoded"],
)
def test_registered_listeners_are_read_from_any_plausible_shape(
    server: ScriptedHTTPServer, client: OptimoveClient, answer: object
) -> None:
    server.enqueue(Scripted(json=answer))

    assert client.get_registered_event_listeners() == [RegisteredListener(5, LISTENER_URL)]
    assert server.requests[0].method == "GET"
    assert server.requests[0].path == "/current/general/GetRegisteredEventListeners"


def test_no_registered_listeners_is_an_empty_list(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.enqueue(Scripted(json=[]), Scripted(status=204))

    assert client.get_registered_event_listeners() == []
    assert client.get_registered_event_listeners() == []


def test_every_call_has_a_connect_and_read_timeout_and_never_follows_redirects(
    server: ScriptedHTTPServer, make_client: ClientFactory
) -> None:
    server.set_fallback(Scripted(status=200, json=[]))
    session = RecordingSession()
    client = make_client(session=session, timeout_seconds=4.0, connect_timeout_seconds=1.5)

    client.get_campaign_customers_page(1, top=10, skip=0)
    client.update_customer_promotion_status(1, [PromoStatus("C1", True)])
    client.register_event_listener(5, LISTENER_URL)
    client.get_registered_event_listeners()
    client.unregister_event_listener(5)
    client.register_triggered_webhook(LISTENER_URL)

    assert len(session.seen) == 6
    assert all(kwargs["timeout"] == (1.5, 4.0) for kwargs in session.seen)
    assert all(kwargs["allow_redirects"] is False for kwargs in session.seen)


def test_default_timeouts_are_three_and_ten_seconds(
    server: ScriptedHTTPServer, limiter: CountingLimiter
) -> None:
    server.set_fallback(Scripted(status=200))
    session = RecordingSession()
    client = OptimoveClient(base_url=server.url, api_key=API_KEY, rate_limiter=limiter, session=session)

    client.unregister_event_listener(5)

    assert session.seen[0]["timeout"] == (3.05, 10.0)


def test_environment_proxies_are_ignored(
    server: ScriptedHTTPServer, client: OptimoveClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.set_fallback(Scripted(status=200))

    client.unregister_event_listener(5)

    assert len(server.requests) == 1, "the call went straight to the server, not to the proxy"


def test_the_limiter_gives_a_slot_to_every_attempt_and_the_hook_sees_each_call(
    server: ScriptedHTTPServer, client: OptimoveClient, limiter: CountingLimiter, call_log: CallLog
) -> None:
    server.set_fallback(Scripted(status=200, json=[]))

    client.update_customer_promotion_status(1, [PromoStatus(f"C{n}", True) for n in range(20_001)])
    client.get_registered_event_listeners()
    list(client.iter_campaign_customer_pages(1, page_size=100))

    assert limiter.acquired == len(server.requests) == 5
    assert call_log.outcomes == ["ok"] * 5
    assert all(seconds >= 0 for _, _, seconds in call_log.calls)


def test_a_failing_metrics_hook_does_not_fail_the_call(
    server: ScriptedHTTPServer, make_client: ClientFactory
) -> None:
    def broken_hook(endpoint: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    server.set_fallback(Scripted(status=200))
    client = make_client(on_call=broken_hook)

    client.unregister_event_listener(5)

    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "settings",
    [{"base_url": "api5.optimove.net/current"}, {"api_key": ""}, {"timeout_seconds": 0}],
    ids=["no-scheme", "empty-key", "zero-timeout"],
)
def test_impossible_configuration_is_refused_at_construction(
    make_client: ClientFactory, settings: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        make_client(**settings)
