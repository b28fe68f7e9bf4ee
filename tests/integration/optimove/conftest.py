"""Fixtures for the Optimove client tests: a real scripted HTTP server and a counting limiter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.adapters.optimove.client import OptimoveClient
from tests.support.scripted_http import ScriptedHTTPServer

API_KEY = "test-api-key-5f1c9e"
TEST_READ_TIMEOUT_SECONDS = 2.0
TEST_CONNECT_TIMEOUT_SECONDS = 1.0


class CountingLimiter:
    """A limiter that never waits and counts how often a slot was taken."""

    def __init__(self) -> None:
        self.acquired = 0

    def acquire(self, *, max_wait_seconds: float | None = None) -> float:
        self.acquired += 1
        return 0.0


class CallLog:
    """Records what the client reports through ``on_call``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, float]] = []

    def __call__(self, endpoint: str, outcome: str, seconds: float) -> None:
        self.calls.append((endpoint, outcome, seconds))

    @property
    def outcomes(self) -> list[str]:
        return [outcome for _, outcome, _ in self.calls]


@pytest.fixture
def server() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as running:
        yield running


@pytest.fixture
def limiter() -> CountingLimiter:
    return CountingLimiter()


@pytest.fixture
def call_log() -> CallLog:
    return CallLog()


ClientFactory = Callable[..., OptimoveClient]


@pytest.fixture
def make_client(
    server: ScriptedHTTPServer, limiter: CountingLimiter, call_log: CallLog
) -> Iterator[ClientFactory]:
    clients: list[OptimoveClient] = []

    def build(**overrides: Any) -> OptimoveClient:
        settings: dict[str, Any] = {
            "base_url": server.url + "/current",
            "api_key": API_KEY,
            "rate_limiter": limiter,
            "timeout_seconds": TEST_READ_TIMEOUT_SECONDS,
            "connect_timeout_seconds": TEST_CONNECT_TIMEOUT_SECONDS,
            "on_call": call_log,
        }
        settings.update(overrides)
        client = OptimoveClient(**settings)
        clients.append(client)
        return client

    yield build
    for client in clients:
        client.close()


@pytest.fixture
def client(make_client: ClientFactory) -> OptimoveClient:
    return make_client()
