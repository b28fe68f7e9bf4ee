"""Fixtures for the OptiPromo client tests: the Optimove tests' scripted server, limiter and call log."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from app.adapters.optimove.optipromo import OptiPromoClient
from tests.integration.optimove.conftest import (
    API_KEY,
    TEST_CONNECT_TIMEOUT_SECONDS,
    TEST_READ_TIMEOUT_SECONDS,
    CallLog,
    CountingLimiter,
    call_log,
    limiter,
    server,
)
from tests.support.scripted_http import RecordedRequest, Scripted, ScriptedHTTPServer

__all__ = ["call_log", "limiter", "server"]  # the Optimove tests' fixtures, shared as they are

BASE_PATH = "/optipromo"

ClientFactory = Callable[..., OptiPromoClient]


@pytest.fixture
def make_client(
    server: ScriptedHTTPServer, limiter: CountingLimiter, call_log: CallLog
) -> Iterator[ClientFactory]:
    """Build clients aimed at the scripted server (overridable per test); all closed afterwards."""
    defaults: dict[str, Any] = {
        "base_url": server.url + BASE_PATH,
        "api_key": API_KEY,
        "rate_limiter": limiter,
        "timeout_seconds": TEST_READ_TIMEOUT_SECONDS,
        "connect_timeout_seconds": TEST_CONNECT_TIMEOUT_SECONDS,
        "on_call": call_log,
    }
    with contextlib.ExitStack() as built:

        def build(**overrides: Any) -> OptiPromoClient:
            client = OptiPromoClient(**defaults | overrides)
            return built.enter_context(contextlib.closing(client))

        yield build


@pytest.fixture
def client(make_client: ClientFactory) -> OptiPromoClient:
    return make_client()


def eligible_effect(tier: str = "T2", reward_type: str = "free_spins", amount: object = 20) -> object:
    """One effects entry in the inferred wire shape."""
    return {"tier": tier, "reward": {"type": reward_type, "amount": amount}}


def answer_everyone(request: RecordedRequest) -> Scripted:
    """A well-behaved server: every requested customer is eligible for T2, answered in reverse order."""
    contexts = request.json["contexts"]
    answered = [{"customerId": c["customerId"], "effects": [eligible_effect()]} for c in reversed(contexts)]
    return Scripted(json={"promocodeId": "ignored", "contexts": answered})
