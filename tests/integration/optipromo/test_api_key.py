"""OptiPromo is called with its own key when the tenant has one, else with the Optimove key."""

from __future__ import annotations

import contextlib

import pytest

from app.adapters.optimove.optipromo import ValidationContext
from app.bootstrap import build_optipromo_client
from app.config import Settings
from tests.integration.optimove.conftest import CountingLimiter
from tests.integration.optipromo.conftest import answer_everyone
from tests.support.scripted_http import ScriptedHTTPServer


@pytest.mark.parametrize(
    ("optipromo_key", "key_sent"),
    [("optipromo-own-key-81f2", "optipromo-own-key-81f2"), ("", "optimove-key-3c9d")],
)
def test_validate_customers_sends_the_optipromo_key_or_falls_back_to_the_optimove_key(
    server: ScriptedHTTPServer, optipromo_key: str, key_sent: str
) -> None:
    server.set_fallback(answer_everyone)
    settings = Settings(  # type: ignore[call-arg]
        OPTIPROMO_API_URL=f"{server.url}/optipromo",
        OPTIMOVE_API_KEY="optimove-key-3c9d",
        OPTIPROMO_API_KEY=optipromo_key,
    )
    with contextlib.closing(build_optipromo_client(settings, CountingLimiter())) as client:
        client.validate_customers("WELCOME", [ValidationContext("C1", {})])

    assert server.requests[0].headers["X-API-KEY"] == key_sent
