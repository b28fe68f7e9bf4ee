"""`promobridge register` waits out transient Optimove failures and stops at once on permanent ones.

Against the simulator over real HTTP, with its fault injection. The service tests pass a `sleep`
that records each backoff (and may end the fault) instead of waiting; the command tests run
`promobridge register` as a process.
"""

from __future__ import annotations

import os
import random
import secrets
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from app.adapters.optimove.client import OptimoveClient
from app.adapters.ratelimit import UnlimitedLimiter
from app.domain.backoff import Backoff as SharedBackoff
from app.domain.campaigns import EVENT_CAMPAIGN_CANCELED, EVENT_SCHEDULED_CONDITIONAL
from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveServerError,
    TransientOptimoveError,
)
from app.services.registration import (
    RetryingRegistry,
    RetryPolicy,
    ensure_listeners,
    unreachable_listener_warning,
)
from simulator.config import SimulatorConfig
from simulator.contract import GET_REGISTERED_EVENT_LISTENERS, REGISTER_EVENT_LISTENER
from simulator.faults import FaultInjector, FaultKind, FaultPlan
from simulator.guard import INJECTED_429_RETRY_AFTER_SECONDS
from simulator.server import SimulatorServer
from tests.support.secrets import STRONG_TOKEN
from tests.support.sim_control import SimControl

API_KEY = f"register-test-key-{secrets.token_hex(6)}"
LISTENER_URL = f"https://promo.example.com/webhooks/optimove/{STRONG_TOKEN}"
BOTH_EVENTS = (EVENT_SCHEDULED_CONDITIONAL, EVENT_CAMPAIGN_CANCELED)
POLICY = RetryPolicy(attempts=4, backoff=SharedBackoff(1.0, 8.0, cap_retry_after=False))
CONFIGURATION_PREFIXES = (
    *("DATABASE_", "CELERY_", "OPTIMOVE_", "OPTIPROMO_", "REDIS_", "PROMOBRIDGE_", "LISTENER_", "FLOWER_"),
)


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(api_keys=(API_KEY,), rate_limit_enabled=False)) as server:
        yield server


class Backoff:
    """Records each wait instead of waiting; optionally ends the fault at the first one."""

    def __init__(self, then: Callable[[], None] = lambda: None) -> None:
        self.waits: list[float] = []
        self.retries: list[tuple[int, str]] = []
        self._then = then

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) == 1:
            self._then()

    def on_retry(self, attempt: int, error: TransientOptimoveError, delay: float) -> None:
        self.retries.append((attempt, error.outcome))


def _registry(
    sim: SimulatorServer, backoff: Backoff, *, api_key: str = API_KEY, policy: RetryPolicy = POLICY
) -> RetryingRegistry:
    client = OptimoveClient(
        base_url=sim.optimove_url, api_key=api_key, rate_limiter=UnlimitedLimiter(), timeout_seconds=2
    )
    return RetryingRegistry(client, policy, on_retry=backoff.on_retry, sleep=backoff.sleep)


def _listeners(sim: SimulatorServer) -> dict[str, Any]:
    return dict(SimControl(sim.url).state()["listeners"])


@pytest.mark.parametrize(
    ("fault", "outcome"),
    [({"rate_5xx": 1.0}, "5xx"), ({"rate_reset": 1.0}, "connection_error"), ({"rate_429": 1.0}, "429")],
)
def test_a_transient_failure_is_retried_and_the_registration_completes(
    sim: SimulatorServer, fault: dict[str, float], outcome: str
) -> None:
    control = SimControl(sim.url)
    control.set_faults(**fault, endpoints=[GET_REGISTERED_EVENT_LISTENERS])
    backoff = Backoff(then=control.clear_faults)

    result = ensure_listeners(_registry(sim, backoff), LISTENER_URL, BOTH_EVENTS)

    assert result.actions == {5: "registered", 4: "registered"}
    assert _listeners(sim) == {"4": LISTENER_URL, "5": LISTENER_URL}
    assert backoff.retries == [(1, outcome)] and len(backoff.waits) == 1


def test_a_429_waits_at_least_its_retry_after(sim: SimulatorServer) -> None:
    control = SimControl(sim.url)
    control.set_faults(rate_429=1.0, endpoints=[REGISTER_EVENT_LISTENER])
    backoff = Backoff(then=control.clear_faults)
    fast = RetryPolicy(attempts=3, backoff=SharedBackoff(0.01, 0.02, cap_retry_after=False))

    ensure_listeners(_registry(sim, backoff, policy=fast), LISTENER_URL)

    assert backoff.waits == [pytest.approx(INJECTED_429_RETRY_AFTER_SECONDS)]


def test_backoff_grows_exponentially_with_jitter_and_gives_up_after_the_last_attempt(
    sim: SimulatorServer,
) -> None:
    SimControl(sim.url).set_faults(rate_5xx=1.0, endpoints=[GET_REGISTERED_EVENT_LISTENERS])
    backoff = Backoff()

    with pytest.raises(OptimoveServerError):
        ensure_listeners(_registry(sim, backoff), LISTENER_URL)

    assert [attempt for attempt, _ in backoff.retries] == [1, 2, 3]
    for wait, ceiling in zip(backoff.waits, (1.0, 2.0, 4.0), strict=True):
        assert ceiling / 2 <= wait <= ceiling
    assert SimControl(sim.url).state()["faults_injected"] == {"5xx": POLICY.attempts}
    assert _listeners(sim) == {}


def test_a_refused_key_fails_at_once_without_a_retry(sim: SimulatorServer) -> None:
    backoff = Backoff()

    with pytest.raises(OptimoveAuthError):
        ensure_listeners(_registry(sim, backoff, api_key="not-the-tenant-key"), LISTENER_URL)

    assert backoff.waits == [] and backoff.retries == []


def test_the_delay_never_exceeds_the_cap_except_for_a_longer_retry_after() -> None:
    policy = RetryPolicy(attempts=10, backoff=SharedBackoff(1.0, 5.0, cap_retry_after=False))
    rng = random.Random(3)
    assert all(2.5 <= policy.backoff.delay(attempt, rng=rng) <= 5.0 for attempt in range(4, 10))
    assert policy.backoff.delay(1, retry_after=42.0, rng=rng) == 42.0
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("listener", "optimove", "warned"),
    [
        ("http://127.0.0.1:8000/webhooks/optimove/t", "https://api5.optimove.net/current", True),
        ("http://localhost:8000/webhooks/optimove/t", "https://api5.optimove.net/current", True),
        ("https://promo.example.com/webhooks/optimove/t", "https://api5.optimove.net/current", False),
        ("http://127.0.0.1:8000/webhooks/optimove/t", "http://127.0.0.1:8900/current", False),
    ],
)
def test_a_loopback_listener_is_flagged_only_for_an_optimove_elsewhere(
    listener: str, optimove: str, warned: bool
) -> None:
    warning = unreachable_listener_warning(listener, optimove)
    assert (warning is not None) is warned
    if warning:
        assert "PROMOBRIDGE_PUBLIC_URL" in warning and "api5.optimove.net" in warning


# --- the command ------------------------------------------------------------------------------


def _seed_failing_only_the_first_call(rate: float) -> int:
    """A fault seed whose first draw is a 5xx and whose next ones are not (the simulator's own draws)."""
    for seed in range(10_000):
        injector = FaultInjector()
        injector.replace(FaultPlan(rate_5xx=rate, seed=seed))
        kinds = [injector.decide(GET_REGISTERED_EVENT_LISTENERS).kind for _ in range(4)]
        if kinds == [FaultKind.SERVER_ERROR, None, None, None]:
            return seed
    raise AssertionError("no such seed")


def _register(tmp_path: Path, optimove_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(CONFIGURATION_PREFIXES)}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "register"],
        env={
            **clean,
            "PROMOBRIDGE_DATA_DIR": str(tmp_path / "data"),
            "OPTIMOVE_API_URL": optimove_url,
            "OPTIMOVE_API_KEY": API_KEY,
            "LISTENER_TOKEN": STRONG_TOKEN,
            "RETRY_BACKOFF_BASE_SECONDS": "0.05",
            "RETRY_BACKOFF_MAX_SECONDS": "0.2",
            **env,
        },
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_register_survives_a_single_5xx(sim: SimulatorServer, tmp_path: Path) -> None:
    seed = _seed_failing_only_the_first_call(0.5)
    SimControl(sim.url).set_faults(rate_5xx=0.5, seed=seed, endpoints=[GET_REGISTERED_EVENT_LISTENERS])

    result = _register(tmp_path, sim.optimove_url)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "GetRegisteredEventListeners" in result.stderr and "retry 1 of 5" in result.stderr
    assert "EventTypeID 5: registered" in result.stdout and STRONG_TOKEN not in result.stdout + result.stderr
    state = SimControl(sim.url).state()
    assert state["faults_injected"] == {"5xx": 1} and set(state["listeners"]) == {"4", "5"}


def test_register_stops_at_once_when_optimove_refuses_the_key(sim: SimulatorServer, tmp_path: Path) -> None:
    result = _register(tmp_path, sim.optimove_url, OPTIMOVE_API_KEY=f"wrong-{secrets.token_hex(8)}")

    assert result.returncode == 1
    assert "Optimove refused the API key" in result.stderr and "OPTIMOVE_API_KEY" in result.stderr
    assert "retry" not in result.stderr and "Traceback" not in result.stderr
    assert SimControl(sim.url).state()["requests"] == {GET_REGISTERED_EVENT_LISTENERS: 1}


def test_register_warns_that_optimove_cannot_reach_a_loopback_listener(
    sim: SimulatorServer, tmp_path: Path
) -> None:
    # This machine's name reaches the simulator yet is not a loopback address to promobridge,
    # which is how a remote Optimove looks from here.
    host = socket.gethostname()
    try:
        if not socket.gethostbyname(host).startswith("127."):
            pytest.skip(f"{host} does not resolve to this machine's loopback")
    except OSError:
        pytest.skip(f"{host} does not resolve")
    remote_looking = sim.optimove_url.replace("127.0.0.1", host)

    result = _register(tmp_path, remote_looking, PROMOBRIDGE_PUBLIC_URL="http://127.0.0.1:8000")

    assert result.returncode == 0, result.stderr[-3000:]
    assert "warning: the listener URL's host 127.0.0.1 is this machine only" in result.stderr
    assert "PROMOBRIDGE_PUBLIC_URL" in result.stderr
