"""Registration: only what is missing is registered; transient failures waited out, permanent ones final."""

from __future__ import annotations

import random

import pytest

from app.domain.backoff import Backoff
from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED, EVENT_SCHEDULED_CONDITIONAL
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveRateLimited,
    OptimoveServerError,
    OptimoveTimeout,
    TransientOptimoveError,
)
from app.services.registration import (
    RetryingRegistry,
    RetryPolicy,
    call_with_retries,
    ensure_listeners,
    unreachable_listener_warning,
)
from tests.fakes.optimove import FakeListenerRegistry

URL = "https://promo.example.com/webhooks/optimove/token"
BOTH = (EVENT_SCHEDULED_CONDITIONAL, EVENT_CAMPAIGN_CANCELED)
POLICY = RetryPolicy(attempts=4, backoff=Backoff(1, 30, cap_retry_after=False))


class Waits:
    """Stands in for time.sleep and on_retry: remembers each wait and each retried failure."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self.retried: list[tuple[int, str]] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)

    def on_retry(self, attempt: int, error: TransientOptimoveError, delay: float) -> None:
        self.retried.append((attempt, type(error).__name__))


def test_listeners_already_in_place_are_left_alone_missing_ones_registered_and_stale_ones_replaced() -> None:
    registry = FakeListenerRegistry(
        listeners={EVENT_SCHEDULED_CONDITIONAL: URL.replace("token", "old-token")}
    )

    outcome = ensure_listeners(registry, URL, BOTH)

    assert outcome.actions == {EVENT_SCHEDULED_CONDITIONAL: "replaced", EVENT_CAMPAIGN_CANCELED: "registered"}
    assert registry.listeners == dict.fromkeys(BOTH, URL)
    assert ensure_listeners(registry, URL, BOTH).actions == dict.fromkeys(BOTH, "already")
    assert registry.calls.count("list") == 2 and len(registry.calls) == 4


def test_transient_failures_are_retried_after_the_backoff_and_a_retry_after_is_waited_in_full() -> None:
    registry = FakeListenerRegistry()
    registry.failures.extend(
        [
            OptimoveServerError("503", endpoint="list", status=503),
            OptimoveRateLimited("429", endpoint="list", retry_after=90),
        ]
    )
    waits = Waits()
    retrying = RetryingRegistry(registry, POLICY, on_retry=waits.on_retry, sleep=waits.sleep)

    assert ensure_listeners(retrying, URL).actions == {EVENT_SCHEDULED_CONDITIONAL: "registered"}

    assert waits.retried == [(1, "OptimoveServerError"), (2, "OptimoveRateLimited")]
    assert 0.5 <= waits.slept[0] <= 1.0 and waits.slept[1] == 90  # beyond the 30 s cap: calling earlier fails
    assert registry.calls == ["list", "list", "list", "register 5"]


def test_the_last_transient_failure_propagates_once_every_attempt_is_used() -> None:
    waits = Waits()
    calls = []

    def always_times_out() -> None:
        calls.append(1)
        raise OptimoveTimeout("read timed out", endpoint="register", ambiguous=True)

    with pytest.raises(OptimoveTimeout):
        call_with_retries(
            always_times_out, POLICY, on_retry=waits.on_retry, sleep=waits.sleep, rng=random.Random(5)
        )

    assert len(calls) == 4 and [attempt for attempt, _ in waits.retried] == [1, 2, 3]
    same_draws = random.Random(5)
    assert waits.slept == [POLICY.backoff.delay(n, rng=same_draws) for n in (1, 2, 3)]


def test_a_permanent_failure_stops_at_once() -> None:
    registry = FakeListenerRegistry()
    registry.failures.append(OptimoveAuthError("bad key", endpoint="list", status=401))
    waits = Waits()

    with pytest.raises(OptimoveAuthError):
        ensure_listeners(RetryingRegistry(registry, POLICY, on_retry=waits.on_retry, sleep=waits.sleep), URL)

    assert registry.calls == ["list"] and not waits.slept


def test_the_triggered_gateway_registration_retries_too() -> None:
    registry = FakeListenerRegistry()
    registry.failures.append(OptimoveServerError("500", endpoint="triggered", status=500))
    waits = Waits()

    RetryingRegistry(registry, POLICY, on_retry=waits.on_retry, sleep=waits.sleep).register_triggered_webhook(
        URL
    )

    assert registry.triggered_url == URL and len(waits.slept) == 1


def test_a_retry_policy_needs_at_least_one_attempt() -> None:
    with pytest.raises(ValueError, match="attempts >= 1"):
        RetryPolicy(attempts=0)
    assert call_with_retries(lambda: "once", RetryPolicy(attempts=1), on_retry=Waits().on_retry) == "once"


@pytest.mark.parametrize(
    ("listener", "optimove", "warned"),
    [
        ("http://127.0.0.1:8000/webhooks/optimove/t", "https://api5.optimove.net/current", True),
        ("http://localhost:8000/webhooks/optimove/t", "https://api5.optimove.net/current", True),
        ("http://127.0.0.1:8000/webhooks/optimove/t", "http://127.0.0.1:8900/current", False),
        ("https://promo.example.com/webhooks/optimove/t", "https://api5.optimove.net/current", False),
    ],
)
def test_a_listener_on_this_machine_is_unreachable_for_a_remote_optimove(
    listener: str, optimove: str, warned: bool
) -> None:
    warning = unreachable_listener_warning(listener, optimove)
    assert (warning is not None) == warned
    if warning is not None:
        assert "PROMOBRIDGE_PUBLIC_URL" in warning and "api5.optimove.net" in warning
