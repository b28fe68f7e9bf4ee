"""The HTTP reward activator against real HTTP servers: the status contract, one attempt, concurrency."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from app.adapters.activators.http import (
    GrantKind,
    GrantOutcome,
    HttpRewardActivator,
    RewardGrant,
)
from app.services.ports import RewardActivator
from simulator.config import SimulatorConfig
from simulator.control_client import SimControl
from simulator.server import SimulatorServer
from tests.integration.optimove.conftest import server
from tests.support.scripted_http import RecordedRequest, Scripted, ScriptedHTTPServer

__all__ = ["server"]  # the Optimove tests' scripted-server fixture

AUTH = "Bearer operator-secret-91ab"
GRANT_PATH = "/wallet/grants"

ActivatorFactory = Callable[..., HttpRewardActivator]


class GrantLog:
    """Stands in for the metrics hook: records each attempt's outcome."""

    def __init__(self) -> None:
        self.outcomes: list[str] = []

    def __call__(self, outcome: str, seconds: float) -> None:
        assert seconds >= 0
        self.outcomes.append(outcome)


@pytest.fixture
def grant_log() -> GrantLog:
    return GrantLog()


@pytest.fixture
def make_activator(server: ScriptedHTTPServer, grant_log: GrantLog) -> Iterator[ActivatorFactory]:
    built: list[HttpRewardActivator] = []

    def build(**overrides: Any) -> HttpRewardActivator:
        settings: dict[str, Any] = {
            "url": server.url + GRANT_PATH,
            "auth_header": AUTH,
            "read_timeout_seconds": 2.0,
            "on_grant": grant_log,
        }
        built.append(HttpRewardActivator(**settings | overrides))
        return built[-1]

    yield build
    for activator in built:
        activator.close()


@pytest.fixture
def activator(make_activator: ActivatorFactory) -> HttpRewardActivator:
    return make_activator()


def reward(claim_id: str = "claim-1", amount: str = "12.50") -> RewardGrant:
    return RewardGrant(claim_id, 1359, "C234638", "WELCOME", "T2", "free_spins", Decimal(amount))


def by_key(answers: dict[str, Scripted]) -> Callable[[RecordedRequest], Scripted]:
    """Answer each request by its Idempotency-Key, whatever order the concurrent grants arrive in."""
    return lambda request: answers[request.headers["Idempotency-Key"]]


def test_each_grant_is_one_post_with_its_claim_as_idempotency_key(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.set_fallback(
        by_key(
            {
                "claim-1": Scripted(status=201, json={"id": "tx-1"}),
                "claim-2": Scripted(status=200, json={"transaction_id": 88}),
            }
        )
    )

    outcomes = activator.grant([reward("claim-1"), reward("claim-2", amount="1E+1")])

    assert outcomes == [
        GrantOutcome("claim-1", GrantKind.GRANTED, external_ref="tx-1"),
        GrantOutcome("claim-2", GrantKind.GRANTED, external_ref="88"),
    ]
    sent = {r.headers["Idempotency-Key"]: r for r in server.requests}
    assert set(sent) == {"claim-1", "claim-2"} and len(server.requests) == 2
    first = sent["claim-1"]
    assert (first.method, first.path) == ("POST", GRANT_PATH)
    assert first.json == {
        "claim_id": "claim-1",
        "campaign_id": 1359,
        "customer_id": "C234638",
        "promo_code": "WELCOME",
        "tier": "T2",
        "reward": {"type": "free_spins", "amount": "12.50"},
    }
    assert sent["claim-2"].json["reward"]["amount"] == "10", "amounts travel as plain decimal strings"
    assert all(r.headers["Authorization"] == AUTH for r in server.requests)
    assert first.headers["Content-Type"] == "application/json"


def test_a_success_without_a_json_id_has_no_external_ref(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.enqueue(Scripted(status=204), Scripted(status=200, body="OK"), Scripted(json={"id": True}))

    outcomes = activator.grant([reward("a"), reward("b"), reward("c")])

    assert [outcome.external_ref for outcome in outcomes] == [None, None, None]
    assert all(outcome.granted for outcome in outcomes)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        *[(status, GrantKind.GRANTED) for status in (200, 201, 204)],
        *[(status, GrantKind.RETRY) for status in (202, 408, 409, 425, 429, 500, 502, 503, 504, 599)],
        (422, GrantKind.REFUSED),
        *[
            (status, GrantKind.MISCONFIGURED)
            for status in (203, 206, 301, 302, 303, 307, 308, 400, 401, 403, 404, 405, 407, 410, 418, 451)
        ],
    ],
)
def test_each_answer_means_what_the_contract_says(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, status: int, kind: GrantKind
) -> None:
    server.enqueue(Scripted(status=status, headers={"Location": server.url + "/elsewhere"}))

    [outcome] = activator.grant([reward()])

    assert outcome.kind is kind
    assert server.paths() == [GRANT_PATH], "one attempt: nothing retried, no redirect followed"
    if kind in (GrantKind.RETRY, GrantKind.MISCONFIGURED):
        assert outcome.reason is not None and outcome.reason.startswith(f"answered {status} (")


def test_a_409_is_a_retry_never_a_grant(server: ScriptedHTTPServer, activator: HttpRewardActivator) -> None:
    server.enqueue(Scripted(status=409, json={"error": "duplicate idempotency key", "id": "tx-1"}))

    [outcome] = activator.grant([reward()])

    assert outcome == GrantOutcome(
        "claim-1",
        GrantKind.RETRY,
        reason="answered 409 (the same Idempotency-Key is still being processed)",
    )
    assert not outcome.granted


def test_a_transient_answer_is_one_attempt_and_the_next_call_sends_the_same_key_and_body(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, grant_log: GrantLog
) -> None:
    server.enqueue(Scripted(status=503), Scripted(status=200, json={"id": "tx-9"}))

    [first] = activator.grant([reward("claim-7")])
    [second] = activator.grant([reward("claim-7")])

    assert first == GrantOutcome("claim-7", GrantKind.RETRY, reason="answered 503 (server error)")
    assert second == GrantOutcome("claim-7", GrantKind.GRANTED, external_ref="tx-9")
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-7"] * 2
    assert len({r.body for r in server.requests}) == 1, "every attempt sends the same body"
    assert grant_log.outcomes == ["retry", "granted"]


@pytest.mark.parametrize(
    ("status", "retry_after", "seconds"),
    [(429, "3", 3.0), (503, "120", 120.0), (202, "1.5", 1.5), (500, "soon", None), (409, None, None)],
)
def test_retry_after_is_passed_on_to_the_caller(
    server: ScriptedHTTPServer,
    activator: HttpRewardActivator,
    status: int,
    retry_after: str | None,
    seconds: float | None,
) -> None:
    headers = {} if retry_after is None else {"Retry-After": retry_after}
    server.enqueue(Scripted(status=status, headers=headers))

    [outcome] = activator.grant([reward()])

    assert (outcome.kind, outcome.retry_after) == (GrantKind.RETRY, seconds)


def test_a_timeout_is_a_retry(server: ScriptedHTTPServer, make_activator: ActivatorFactory) -> None:
    server.enqueue(Scripted(status=200, delay_seconds=1.0))

    [outcome] = make_activator(read_timeout_seconds=0.2).grant([reward("claim-3")])

    assert outcome == GrantOutcome("claim-3", GrantKind.RETRY, reason="no answer: ReadTimeout")


def test_a_reset_connection_is_a_retry(server: ScriptedHTTPServer, activator: HttpRewardActivator) -> None:
    server.enqueue(Scripted(reset=True))

    [outcome] = activator.grant([reward()])

    assert outcome.kind is GrantKind.RETRY and outcome.reason is not None
    assert outcome.reason.startswith("no answer: ")
    assert len(server.requests) == 1


def test_an_unreachable_endpoint_is_a_retry(make_activator: ActivatorFactory) -> None:
    [outcome] = make_activator(url="http://127.0.0.1:9/grants", connect_timeout_seconds=0.5).grant([reward()])

    assert outcome == GrantOutcome("claim-1", GrantKind.RETRY, reason="no answer: ConnectionError")


def test_a_request_that_cannot_be_sent_is_a_misconfiguration(
    server: ScriptedHTTPServer, make_activator: ActivatorFactory
) -> None:
    [outcome] = make_activator(auth_header="Bearer broken\nheader").grant([reward()])

    assert outcome.kind is GrantKind.MISCONFIGURED and outcome.reason is not None
    assert outcome.reason.startswith("request not sent: InvalidHeader")
    assert server.requests == []


def test_a_claim_id_that_cannot_be_a_header_is_a_misconfiguration_and_is_never_sent(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.set_fallback(lambda request: Scripted(status=201))

    outcomes = activator.grant([reward("claim-1\r\nX-Injected: 1"), reward("claim-2")])

    assert outcomes[0].kind is GrantKind.MISCONFIGURED and outcomes[0].reason is not None
    assert outcomes[0].reason.startswith("request not sent: InvalidHeader")
    assert outcomes[1].granted is True
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-2"]


def test_a_422_is_a_refusal_with_the_platforms_reason(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, grant_log: GrantLog
) -> None:
    server.set_fallback(
        by_key(
            {
                "json": Scripted(status=422, json={"reason": "customer is\nself-excluded"}),
                "text": Scripted(status=422, body=f"limit reached ({AUTH}) " + "x" * 900),
                "empty": Scripted(status=422),
                "ok": Scripted(status=201, json={"id": "tx-2"}),
            }
        )
    )

    outcomes = activator.grant([reward("json"), reward("text"), reward("empty"), reward("ok")])

    refused_json, refused_text, refused_empty, granted = outcomes
    assert refused_json == GrantOutcome("json", GrantKind.REFUSED, reason="customer is self-excluded")
    assert refused_text.kind is GrantKind.REFUSED and refused_text.reason is not None
    assert refused_text.reason.startswith("limit reached (***)") and len(refused_text.reason) <= 200
    assert refused_empty == GrantOutcome("empty", GrantKind.REFUSED, reason="refused")
    assert granted.granted
    assert len(server.requests) == 4
    assert sorted(grant_log.outcomes) == ["granted", "refused", "refused", "refused"]


def test_one_failing_grant_does_not_hide_the_outcomes_of_the_others(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.set_fallback(
        by_key(
            {
                "claim-1": Scripted(status=201, json={"id": "tx-1"}),
                "claim-2": Scripted(status=500),
                "claim-3": Scripted(status=401, body=f"token {AUTH.split()[1]} expired"),
                "claim-4": Scripted(status=201, json={"id": "tx-4"}),
            }
        )
    )

    outcomes = activator.grant([reward(f"claim-{n}") for n in range(1, 5)])

    assert [(o.claim_id, o.kind) for o in outcomes] == [
        ("claim-1", GrantKind.GRANTED),
        ("claim-2", GrantKind.RETRY),
        ("claim-3", GrantKind.MISCONFIGURED),
        ("claim-4", GrantKind.GRANTED),
    ]
    assert outcomes[2].reason == "answered 401 (unauthorized; check REWARD_ACTIVATOR_AUTH): token *** expired"
    assert [r.headers["Idempotency-Key"] for r in server.requests].count("claim-2") == 1


def test_a_hostile_answer_is_read_safely(server: ScriptedHTTPServer, activator: HttpRewardActivator) -> None:
    server.set_fallback(
        by_key(
            {
                "deep": Scripted(status=201, body="[" * 100_000 + "]" * 100_000),
                "huge": Scripted(status=422, body="no " * 1_000_000),
                "binary": Scripted(status=403, body=b"\xff\xfe\x00\x01 denied"),
            }
        )
    )

    deep, huge, binary = activator.grant([reward("deep"), reward("huge"), reward("binary")])

    assert deep == GrantOutcome("deep", GrantKind.GRANTED)
    assert huge.kind is GrantKind.REFUSED and huge.reason is not None and len(huge.reason) <= 200
    assert binary.kind is GrantKind.MISCONFIGURED and binary.reason is not None
    assert binary.reason.endswith("denied")


@pytest.mark.parametrize(
    "grants",
    [
        [reward("claim-1"), reward("claim-1")],
        [reward("")],
        [RewardGrant("claim-1", 1, "C1", None, None, None, Decimal("NaN"))],
    ],
    ids=["duplicate-claim", "empty-claim", "amount-not-finite"],
)
def test_impossible_grants_raise_value_error_before_any_call(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, grants: list[RewardGrant]
) -> None:
    with pytest.raises(ValueError):
        activator.grant(grants)

    assert server.requests == []


@pytest.mark.parametrize(
    "settings",
    [
        {"url": "wallet.example.com"},
        {"concurrency": 0},
        {"read_timeout_seconds": 0},
        {"connect_timeout_seconds": -1},
    ],
)
def test_impossible_configuration_is_refused_at_construction(
    make_activator: ActivatorFactory, settings: dict[str, Any]
) -> None:
    with pytest.raises(ValueError):
        make_activator(**settings)


def test_it_is_a_reward_activator_named_http(activator: HttpRewardActivator) -> None:
    plugged: RewardActivator = activator

    assert plugged.name == "http"
    assert AUTH not in repr(activator)


def test_environment_proxies_are_ignored(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    server.enqueue(Scripted(status=201))

    assert activator.grant([reward()])[0].granted is True
    assert len(server.requests) == 1, "the grant went straight to the platform, not to the proxy"


@pytest.fixture
def slow_platform() -> Iterator[SimulatorServer]:
    """The simulated operator platform, answering each grant in 200 ms."""
    with SimulatorServer(SimulatorConfig(rate_limit_enabled=False, operator_latency_ms=200)) as sim:
        yield sim


def test_the_grants_of_a_batch_go_out_concurrently(slow_platform: SimulatorServer) -> None:
    activator = HttpRewardActivator(url=slow_platform.operator_grants_url, concurrency=16)
    grants = [reward(f"claim-{n}") for n in range(20)]
    serial_seconds = len(grants) * 0.2

    try:
        started = time.monotonic()
        outcomes = activator.grant(grants)
        elapsed = time.monotonic() - started
    finally:
        activator.close()

    assert all(outcome.granted for outcome in outcomes)
    assert elapsed < serial_seconds / 2, f"{elapsed:.2f} s for 20 grants of 200 ms each"
    summary = SimControl(slow_platform.url).operator_grants()["summary"]
    assert (summary["keys"], summary["attempts"], summary["granted"]) == (20, 20, 20)


def test_no_more_grants_are_in_flight_than_the_concurrency(
    server: ScriptedHTTPServer, make_activator: ActivatorFactory
) -> None:
    in_flight = InFlight()
    server.set_fallback(in_flight.answer)

    outcomes = make_activator(concurrency=3).grant([reward(f"claim-{n}") for n in range(12)])

    assert all(outcome.granted for outcome in outcomes)
    assert in_flight.most == 3


class InFlight:
    """A responder that holds each request a moment and remembers how many were held at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._now = 0
        self.most = 0

    def answer(self, request: RecordedRequest) -> Scripted:
        with self._lock:
            self._now += 1
            self.most = max(self.most, self._now)
        time.sleep(0.05)
        with self._lock:
            self._now -= 1
        return Scripted(status=201)


def test_a_grant_answered_by_the_platform_is_recorded_there_once(slow_platform: SimulatorServer) -> None:
    activator = HttpRewardActivator(url=slow_platform.operator_grants_url)
    try:
        [first] = activator.grant([reward("claim-1")])
        [again] = activator.grant([reward("claim-1")])
    finally:
        activator.close()

    assert first == again and first.granted and first.external_ref == "tx-1"
    record = SimControl(slow_platform.url).operator_grants()["keys"]["claim-1"]
    assert (record["attempts"], record["granted"]) == (2, 1)
    assert json.loads(json.dumps(record["answers"])) == {"201": 2}
