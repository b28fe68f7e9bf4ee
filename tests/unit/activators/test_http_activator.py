"""The HTTP reward activator against a real HTTP server: idempotency keys, retries, refusals."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from app.adapters.activators import RewardActivator
from app.adapters.activators.http import (
    GrantOutcome,
    HttpRewardActivator,
    PermanentActivatorError,
    RewardGrant,
    TransientActivatorError,
)
from tests.support.scripted_http import Scripted, ScriptedHTTPServer
from tests.unit.optimove.conftest import server

__all__ = ["server"]  # the Optimove tests' scripted-server fixture

AUTH = "Bearer operator-secret-91ab"
GRANT_PATH = "/wallet/grants"


class SleepLog:
    """Stands in for time.sleep: records each delay instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


ActivatorFactory = Callable[..., HttpRewardActivator]


@pytest.fixture
def slept() -> SleepLog:
    return SleepLog()


@pytest.fixture
def make_activator(server: ScriptedHTTPServer, slept: SleepLog) -> Iterator[ActivatorFactory]:
    built: list[HttpRewardActivator] = []

    def build(**overrides: Any) -> HttpRewardActivator:
        settings: dict[str, Any] = {
            "url": server.url + GRANT_PATH,
            "auth_header": AUTH,
            "timeout_seconds": 2.0,
            "sleep": slept,
            "rng": random.Random(7),
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


def test_each_grant_is_one_post_with_its_claim_as_idempotency_key(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.enqueue(
        Scripted(status=201, json={"id": "tx-1"}), Scripted(status=200, json={"transaction_id": 88})
    )

    outcomes = activator.grant([reward("claim-1"), reward("claim-2", amount="1E+1")])

    assert outcomes == [
        GrantOutcome("claim-1", True, "tx-1", None),
        GrantOutcome("claim-2", True, "88", None),
    ]
    first, second = server.requests
    assert (first.method, first.path) == ("POST", GRANT_PATH)
    assert first.json == {
        "claim_id": "claim-1",
        "campaign_id": 1359,
        "customer_id": "C234638",
        "promo_code": "WELCOME",
        "tier": "T2",
        "reward": {"type": "free_spins", "amount": "12.50"},
    }
    assert second.json["reward"]["amount"] == "10", "amounts travel as plain decimal strings"
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-1", "claim-2"]
    assert all(r.headers["Authorization"] == AUTH for r in server.requests)
    assert first.headers["Content-Type"] == "application/json"


def test_a_success_without_a_json_id_has_no_external_ref(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.enqueue(Scripted(status=204), Scripted(status=200, body="OK"), Scripted(json={"id": True}))

    outcomes = activator.grant([reward("a"), reward("b"), reward("c")])

    assert [outcome.external_ref for outcome in outcomes] == [None, None, None]
    assert all(outcome.granted for outcome in outcomes)


def test_503_is_retried_with_the_same_idempotency_key_until_it_succeeds(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, slept: SleepLog
) -> None:
    server.enqueue(Scripted(status=503), Scripted(status=502), Scripted(status=200, json={"id": "tx-9"}))

    [outcome] = activator.grant([reward("claim-7")])

    assert outcome == GrantOutcome("claim-7", True, "tx-9", None)
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-7"] * 3
    assert len({r.body for r in server.requests}) == 1, "every attempt sends the same body"
    assert len(slept.delays) == 2
    assert 0 <= slept.delays[0] <= 0.5 and 0 <= slept.delays[1] <= 1.0, "full jitter under 0.5 * 2**n"


def test_retry_after_is_honoured_and_capped(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, slept: SleepLog
) -> None:
    server.enqueue(Scripted(status=429, headers={"Retry-After": "3"}))
    server.enqueue(Scripted(status=503, headers={"Retry-After": "120"}))
    server.enqueue(Scripted(status=200))

    activator.grant([reward()])

    assert slept.delays == [3.0, 8.0]


def test_a_timeout_is_retried_and_then_succeeds(
    server: ScriptedHTTPServer, make_activator: ActivatorFactory, slept: SleepLog
) -> None:
    server.enqueue(Scripted(status=200, delay_seconds=1.0), Scripted(status=200, json={"id": "tx-2"}))

    [outcome] = make_activator(timeout_seconds=0.2).grant([reward("claim-3")])

    assert outcome.granted is True and outcome.external_ref == "tx-2"
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-3", "claim-3"]
    assert len(slept.delays) == 1


def test_a_reset_connection_is_retried(server: ScriptedHTTPServer, activator: HttpRewardActivator) -> None:
    server.enqueue(Scripted(reset=True), Scripted(status=201))

    assert activator.grant([reward()])[0].granted is True
    assert len(server.requests) == 2


def test_a_409_means_the_key_was_seen_so_the_reward_is_granted(
    server: ScriptedHTTPServer, activator: HttpRewardActivator
) -> None:
    server.enqueue(Scripted(status=409, json={"error": "duplicate idempotency key", "id": "tx-1"}))

    assert activator.grant([reward()]) == [GrantOutcome("claim-1", True, "tx-1", None)]
    assert len(server.requests) == 1


def test_a_4xx_is_a_refusal_recorded_not_raised_nor_retried(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, slept: SleepLog
) -> None:
    server.enqueue(Scripted(status=422, body=f"customer is self-excluded ({AUTH}) " + "x" * 900))
    server.enqueue(Scripted(status=201, json={"id": "tx-2"}))

    refused, granted = activator.grant([reward("claim-1"), reward("claim-2")])

    assert (refused.claim_id, refused.granted, refused.external_ref) == ("claim-1", False, None)
    assert refused.error is not None and refused.error.startswith("refused (422): customer is self-excluded")
    assert AUTH not in refused.error and len(refused.error) < 600
    assert granted.granted is True
    assert len(server.requests) == 2 and slept.delays == []


def test_exhausted_retries_raise_transient_with_what_was_settled(
    server: ScriptedHTTPServer, make_activator: ActivatorFactory, slept: SleepLog
) -> None:
    server.enqueue(Scripted(status=201, json={"id": "tx-1"}))
    server.set_fallback(Scripted(status=500))

    with pytest.raises(TransientActivatorError) as caught:
        make_activator(max_attempts=3).grant([reward("claim-1"), reward("claim-2"), reward("claim-3")])

    assert (caught.value.claim_id, caught.value.attempts, caught.value.status) == ("claim-2", 3, 500)
    assert caught.value.completed == [GrantOutcome("claim-1", True, "tx-1", None)]
    assert [r.headers["Idempotency-Key"] for r in server.requests] == ["claim-1"] + ["claim-2"] * 3
    assert len(slept.delays) == 2, "no sleep after the last attempt"


@pytest.mark.parametrize("status", [401, 403, 407, 302])
def test_a_misconfigured_endpoint_raises_permanent_instead_of_refusing_the_reward(
    server: ScriptedHTTPServer, activator: HttpRewardActivator, status: int
) -> None:
    server.enqueue(Scripted(status=status, headers={"Location": server.url + "/elsewhere"}))

    with pytest.raises(PermanentActivatorError):
        activator.grant([reward()])

    assert server.paths() == [GRANT_PATH], "no redirect is followed, nothing is retried"


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
        {"max_attempts": 0},
        {"timeout_seconds": 0},
        {"backoff_base_seconds": -1},
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
