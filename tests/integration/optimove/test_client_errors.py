"""Every way an Optimove call can fail maps to exactly one error class, against a real HTTP server."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from app.adapters.optimove.client import OptimoveClient
from app.domain.optimove import PromoStatus
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveConnectionError,
    OptimoveError,
    OptimoveProtocolError,
    OptimoveRateLimited,
    OptimoveRequestRejected,
    OptimoveServerError,
    OptimoveTimeout,
    PermanentOptimoveError,
    TransientOptimoveError,
)
from tests.integration.optimove.conftest import API_KEY, CallLog, ClientFactory, CountingLimiter
from tests.support.scripted_http import Scripted, ScriptedHTTPServer

ENDPOINT = "customers/GetProcessedCampaignCustomers"


def fetch_page(client: OptimoveClient) -> object:
    return client.get_campaign_customers_page(1359, top=10, skip=0)


def send_statuses(client: OptimoveClient) -> object:
    return client.update_customer_promotion_status(1359, [PromoStatus("C1", True)])


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full, so a new connection attempt hangs until it times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


def closed_port() -> int:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port: int = probe.getsockname()[1]
    probe.close()
    return port


def test_slow_answer_is_an_ambiguous_timeout(server: ScriptedHTTPServer, make_client: ClientFactory) -> None:
    server.enqueue(Scripted(json=[], delay_seconds=2.0))
    client = make_client(timeout_seconds=0.2)

    with pytest.raises(OptimoveTimeout) as caught:
        fetch_page(client)

    assert caught.value.ambiguous is True
    assert caught.value.endpoint == ENDPOINT
    assert isinstance(caught.value, TransientOptimoveError)


def test_connect_timeout_is_not_ambiguous(unanswered_port: int, limiter: CountingLimiter) -> None:
    client = OptimoveClient(
        base_url=f"http://127.0.0.1:{unanswered_port}",
        api_key=API_KEY,
        rate_limiter=limiter,
        connect_timeout_seconds=0.2,
    )

    with pytest.raises(OptimoveTimeout) as caught:
        fetch_page(client)

    assert caught.value.ambiguous is False


def test_refused_connection_is_not_ambiguous(limiter: CountingLimiter) -> None:
    client = OptimoveClient(
        base_url=f"http://127.0.0.1:{closed_port()}", api_key=API_KEY, rate_limiter=limiter
    )

    with pytest.raises(OptimoveConnectionError) as caught:
        send_statuses(client)

    assert caught.value.ambiguous is False


def test_connection_reset_after_sending_is_ambiguous(
    server: ScriptedHTTPServer, client: OptimoveClient
) -> None:
    server.enqueue(Scripted(reset=True))

    with pytest.raises(OptimoveConnectionError) as caught:
        send_statuses(client)

    assert caught.value.ambiguous is True
    assert len(server.requests) == 1, "the request reached the server before the reset"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_429_is_rate_limited_with_retry_after(
    server: ScriptedHTTPServer, client: OptimoveClient, header: dict[str, str], expected: float | None
) -> None:
    server.enqueue(Scripted(status=429, json={"status": 429, "error": "Too Many Requests"}, headers=header))

    with pytest.raises(OptimoveRateLimited) as caught:
        fetch_page(client)

    assert caught.value.status == 429
    assert caught.value.ambiguous is False
    if expected is None:
        assert caught.value.retry_after is None
    else:
        assert caught.value.retry_after == pytest.approx(expected, abs=2.0)


def test_429_retry_after_may_be_an_http_date(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    in_thirty_seconds = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    server.enqueue(Scripted(status=429, headers={"Retry-After": in_thirty_seconds}))

    with pytest.raises(OptimoveRateLimited) as caught:
        fetch_page(client)

    assert caught.value.retry_after == pytest.approx(30.0, abs=2.0)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_an_ambiguous_server_error(
    server: ScriptedHTTPServer, client: OptimoveClient, status: int
) -> None:
    server.enqueue(Scripted(status=status, body="upstream trouble"))

    with pytest.raises(OptimoveServerError) as caught:
        send_statuses(client)

    assert (caught.value.status, caught.value.ambiguous) == (status, True)


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_auth_errors(server: ScriptedHTTPServer, client: OptimoveClient, status: int) -> None:
    server.enqueue(Scripted(status=status, body="Authorization-Token Expired"))

    with pytest.raises(OptimoveAuthError) as caught:
        fetch_page(client)

    assert caught.value.status == status
    assert isinstance(caught.value, PermanentOptimoveError)


@pytest.mark.parametrize("status", [400, 404, 405, 422])
def test_other_4xx_are_rejections_with_a_trimmed_body(
    server: ScriptedHTTPServer, client: OptimoveClient, status: int
) -> None:
    server.enqueue(Scripted(status=status, body="CampaignID is invalid " + "x" * 5000))

    with pytest.raises(OptimoveRequestRejected) as caught:
        send_statuses(client)

    assert caught.value.status == status
    assert caught.value.body.startswith("CampaignID is invalid")
    assert len(caught.value.body) <= 500
    assert caught.value.ambiguous is False


def test_rejection_body_never_echoes_the_api_key(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.enqueue(Scripted(status=400, body=f"bad key {API_KEY} for tenant"))

    with pytest.raises(OptimoveRequestRejected) as caught:
        send_statuses(client)

    assert API_KEY not in str(caught.value)
    assert API_KEY not in caught.value.body


@pytest.mark.parametrize("call", [fetch_page, send_statuses])
def test_bare_json_string_on_200_is_a_protocol_error(
    server: ScriptedHTTPServer, client: OptimoveClient, call: Callable[[OptimoveClient], object]
) -> None:
    server.enqueue(Scripted(status=200, json="Campaign 1359 does not exist"))

    with pytest.raises(OptimoveProtocolError) as caught:
        call(client)

    assert "Campaign 1359 does not exist" in str(caught.value)


@pytest.mark.parametrize(
    "answer",
    [Scripted(json={"CustomerID": "C1"}), Scripted(body="<html>maintenance</html>"), Scripted(json=[42])],
    ids=["object-not-list", "not-json", "row-not-object"],
)
def test_ill_shaped_customer_page_is_a_protocol_error(
    server: ScriptedHTTPServer, client: OptimoveClient, answer: Scripted
) -> None:
    server.enqueue(answer)

    with pytest.raises(OptimoveProtocolError):
        fetch_page(client)


def test_redirect_is_not_followed(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.enqueue(Scripted(status=302, headers={"Location": server.url + "/elsewhere"}))

    with pytest.raises(OptimoveProtocolError):
        send_statuses(client)

    assert server.paths() == ["/current/integrations/UpdateCustomerPromotionStatus"]


def test_each_failure_is_one_attempt_one_slot_and_one_report(
    server: ScriptedHTTPServer, client: OptimoveClient, limiter: CountingLimiter, call_log: CallLog
) -> None:
    server.enqueue(Scripted(status=429), Scripted(status=500), Scripted(status=401), Scripted(status=400))
    server.enqueue(Scripted(json="oops"), Scripted(reset=True), Scripted(status=200))

    for _ in range(6):
        with pytest.raises(OptimoveError):
            send_statuses(client)
    send_statuses(client)

    assert len(server.requests) == 7, "the client never retries on its own"
    assert limiter.acquired == 7
    assert call_log.outcomes == ["429", "5xx", "auth", "4xx", "protocol", "connection_error", "ok"]
    assert all(endpoint == "integrations/UpdateCustomerPromotionStatus" for endpoint, _, _ in call_log.calls)


def test_no_error_message_contains_the_api_key(server: ScriptedHTTPServer, client: OptimoveClient) -> None:
    server.enqueue(Scripted(status=429), Scripted(status=503), Scripted(status=403), Scripted(json=API_KEY))

    messages = []
    for _ in range(4):
        with pytest.raises(OptimoveError) as caught:
            fetch_page(client)
        messages.append(f"{caught.value!s} {caught.value!r}")

    assert all(API_KEY not in message for message in messages)
    assert API_KEY not in repr(client)
