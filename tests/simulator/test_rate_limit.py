"""The per-key sliding-window rate limit: 429 with Retry-After past the limit, recovery after the window."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import pytest

from simulator.config import SimulatorConfig
from simulator.ratelimit import RatePolicy, SlidingWindowLimiter
from simulator.server import SimulatorServer
from tests.simulator.conftest import API_KEY, Control, OptimoveClient

LIMIT = 5
WINDOW_SECONDS = 1.0
PATH = "/general/GetRegisteredEventListeners"


@pytest.fixture
def limited_sim() -> Iterator[SimulatorServer]:
    config = SimulatorConfig(
        api_keys=(API_KEY, "other-key"), rate_limit=LIMIT, rate_window_seconds=WINDOW_SECONDS
    )
    with SimulatorServer(config) as server:
        yield server


def test_requests_past_the_limit_get_429_with_retry_after_until_the_window_slides(
    limited_sim: SimulatorServer,
) -> None:
    client = OptimoveClient(limited_sim.optimove_url)

    statuses = [client.get(PATH).status_code for _ in range(LIMIT)]
    refused = client.get(PATH)

    assert statuses == [200] * LIMIT
    assert refused.status_code == 429
    assert refused.json() == {
        "status": 429,
        "error": "Too Many Requests",
        "message": "You have exceeded the rate limit for this API group. Please retry later.",
    }
    assert refused.headers["Retry-After"] == str(math.ceil(WINDOW_SECONDS))
    time.sleep(WINDOW_SECONDS + 0.1)
    assert client.get(PATH).status_code == 200
    state = Control(limited_sim.url).state()
    assert state["rate_limited"] == 1
    assert state["responses"]["GetRegisteredEventListeners"] == {"200": LIMIT + 1, "429": 1}


def test_each_api_key_has_its_own_budget(limited_sim: SimulatorServer) -> None:
    first = OptimoveClient(limited_sim.optimove_url)
    second = OptimoveClient(limited_sim.optimove_url, api_key="other-key")

    for _ in range(LIMIT):
        first.get(PATH)

    assert first.get(PATH).status_code == 429
    assert second.get(PATH).status_code == 200


def test_the_limit_can_be_changed_or_disabled_live(limited_sim: SimulatorServer) -> None:
    client = OptimoveClient(limited_sim.optimove_url)
    control = Control(limited_sim.url)

    assert control.post("/ratelimit", {"limit": 2}).status_code == 200
    assert [client.get(PATH).status_code for _ in range(3)] == [200, 200, 429]
    control.post("/ratelimit", {"enabled": False})
    assert [client.get(PATH).status_code for _ in range(3)] == [200, 200, 200]
    assert control.post("/ratelimit", {"limit": 0}).status_code == 400


def test_rejected_requests_do_not_extend_the_penalty() -> None:
    now = [0.0]
    limiter = SlidingWindowLimiter(
        RatePolicy(enabled=True, limit=2, window_seconds=10.0), clock=lambda: now[0]
    )

    assert limiter.try_acquire("k") is None
    now[0] = 4.0
    assert limiter.try_acquire("k") is None
    now[0] = 5.0
    assert limiter.try_acquire("k") == 5  # the request at t=0 leaves at t=10
    now[0] = 9.5
    assert limiter.try_acquire("k") == 1
    now[0] = 10.0
    assert limiter.try_acquire("k") is None
    assert limiter.try_acquire("k") == 4  # the request at t=4 leaves at t=14
