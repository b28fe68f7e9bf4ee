"""Every way a validateCustomers call can fail maps to the Optimove client's error classes."""

from __future__ import annotations

import pytest

from app.adapters.optimove.optipromo import OptiPromoClient, ValidationContext
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveConnectionError,
    OptimoveError,
    OptimoveProtocolError,
    OptimoveRateLimited,
    OptimoveRequestRejected,
    OptimoveServerError,
    OptimoveTimeout,
)
from tests.integration.optimove.conftest import API_KEY, CallLog, CountingLimiter
from tests.integration.optimove.test_client_errors import closed_port
from tests.integration.optipromo.conftest import ClientFactory
from tests.support.scripted_http import Scripted, ScriptedHTTPServer

ENDPOINT = "validateCustomers"


def validate(client: OptiPromoClient) -> object:
    return client.validate_customers("PC/1", [ValidationContext("C1", {})], campaign_id=1359)


def test_slow_answer_is_an_ambiguous_timeout(server: ScriptedHTTPServer, make_client: ClientFactory) -> None:
    server.enqueue(Scripted(json={"contexts": []}, delay_seconds=2.0))

    with pytest.raises(OptimoveTimeout) as caught:
        validate(make_client(timeout_seconds=0.2))

    assert (caught.value.ambiguous, caught.value.endpoint) == (True, ENDPOINT)


def test_refused_connection_is_not_ambiguous(limiter: CountingLimiter) -> None:
    client = OptiPromoClient(
        base_url=f"http://127.0.0.1:{closed_port()}", api_key=API_KEY, rate_limiter=limiter
    )

    with pytest.raises(OptimoveConnectionError) as caught:
        validate(client)

    assert (caught.value.ambiguous, caught.value.endpoint) == (False, ENDPOINT)


def test_connection_reset_after_sending_is_ambiguous(
    server: ScriptedHTTPServer, client: OptiPromoClient
) -> None:
    server.enqueue(Scripted(reset=True))

    with pytest.raises(OptimoveConnectionError) as caught:
        validate(client)

    assert caught.value.ambiguous is True


def test_429_is_rate_limited_with_retry_after(server: ScriptedHTTPServer, client: OptiPromoClient) -> None:
    server.enqueue(Scripted(status=429, headers={"Retry-After": "4"}))

    with pytest.raises(OptimoveRateLimited) as caught:
        validate(client)

    assert caught.value.retry_after == pytest.approx(4.0)
    assert caught.value.ambiguous is False


@pytest.mark.parametrize(
    ("status", "error_class", "ambiguous"),
    [
        (500, OptimoveServerError, True),
        (503, OptimoveServerError, True),
        (401, OptimoveAuthError, False),
        (403, OptimoveAuthError, False),
        (400, OptimoveRequestRejected, False),
        (404, OptimoveRequestRejected, False),
        (302, OptimoveProtocolError, False),
    ],
)
def test_status_codes_map_to_one_error_class(
    server: ScriptedHTTPServer,
    client: OptiPromoClient,
    status: int,
    error_class: type[OptimoveError],
    ambiguous: bool,
) -> None:
    server.enqueue(Scripted(status=status, body=f"key {API_KEY} says no", headers={"Location": server.url}))

    with pytest.raises(error_class) as caught:
        validate(client)

    assert (caught.value.status, caught.value.ambiguous, caught.value.endpoint) == (
        status,
        ambiguous,
        ENDPOINT,
    )
    assert API_KEY not in str(caught.value)
    assert len(server.requests) == 1, "no redirect is followed, nothing is retried"


@pytest.mark.parametrize(
    "answer",
    [
        Scripted(json="Promotion PC/1 is archived"),
        Scripted(body="<html>maintenance</html>"),
        Scripted(status=204),
        Scripted(json=[{"customerId": "C1", "effects": []}]),
        Scripted(json={"promocodeId": "PC/1"}),
        Scripted(json={"contexts": ["C1"]}),
        Scripted(json={"contexts": [{"effects": []}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": {"tier": "T1"}}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": ["T1"]}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": [{"reward": 20}]}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": [{"reward": {"amount": "lots"}}]}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": [{"reward": {"amount": True}}]}]}),
        Scripted(json={"contexts": [{"customerId": "C1", "effects": [{"reward": {"amount": "NaN"}}]}]}),
        Scripted(
            json={"contexts": [{"customerId": "C1", "effects": []}, {"customerId": "C1", "effects": []}]}
        ),
    ],
    ids=[
        "bare-string",
        "not-json",
        "no-content",
        "list-not-object",
        "no-contexts",
        "context-not-object",
        "no-customer-id",
        "effects-not-list",
        "effect-not-object",
        "reward-not-object",
        "amount-not-numeric",
        "amount-boolean",
        "amount-not-finite",
        "customer-answered-twice",
    ],
)
def test_untrustworthy_answers_are_protocol_errors(
    server: ScriptedHTTPServer, client: OptiPromoClient, answer: Scripted
) -> None:
    server.enqueue(answer)

    with pytest.raises(OptimoveProtocolError) as caught:
        validate(client)

    assert caught.value.endpoint == ENDPOINT


def test_each_attempt_takes_one_slot_and_one_report(
    server: ScriptedHTTPServer, client: OptiPromoClient, limiter: CountingLimiter, call_log: CallLog
) -> None:
    server.enqueue(Scripted(status=429), Scripted(status=502), Scripted(status=401), Scripted(status=422))
    server.enqueue(Scripted(json="oops"), Scripted(reset=True))
    server.enqueue(Scripted(json={"contexts": [{"customerId": "C1", "effects": []}]}))

    for _ in range(6):
        with pytest.raises(OptimoveError):
            validate(client)
    validate(client)

    assert len(server.requests) == limiter.acquired == 7, "the client never retries on its own"
    assert call_log.outcomes == ["429", "5xx", "auth", "4xx", "protocol", "connection_error", "ok"]
    assert {endpoint for endpoint, _, _ in call_log.calls} == {ENDPOINT}


def test_a_failing_metrics_hook_does_not_fail_the_call(
    server: ScriptedHTTPServer, make_client: ClientFactory
) -> None:
    def broken_hook(endpoint: str, outcome: str, seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    server.enqueue(Scripted(json={"contexts": [{"customerId": "C1", "effects": []}]}))

    assert validate(make_client(on_call=broken_hook)) != []
    assert API_KEY not in repr(make_client())
