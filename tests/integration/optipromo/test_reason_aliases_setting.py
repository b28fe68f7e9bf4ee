"""OPTIPROMO_REASON_ALIASES maps a tenant's own OptiPromo codes to promobridge's reasons, checked at start."""

from __future__ import annotations

import contextlib

import pytest
from pydantic import ValidationError

from app.adapters.optimove.optipromo import ValidationContext
from app.bootstrap import build_optipromo_client
from app.config import Settings, describe_invalid_settings
from tests.integration.optimove.conftest import CountingLimiter
from tests.support.scripted_http import Scripted, ScriptedHTTPServer


def test_the_setting_reaches_the_client_that_validates_claims(server: ScriptedHTTPServer) -> None:
    server.enqueue(
        Scripted(
            json={
                "promocodeId": "WELCOME",
                "contexts": [
                    {"customerId": "C1", "effects": [], "reason": "CAP_HIT"},
                    {"customerId": "C2", "effects": [], "reason": "E-77"},
                ],
            }
        )
    )
    settings = Settings(  # type: ignore[call-arg]
        OPTIPROMO_API_URL=f"{server.url}/optipromo",
        OPTIMOVE_API_KEY="optimove-key-3c9d",
        OPTIPROMO_REASON_ALIASES="CAP_HIT:audience_cap_reached, E-77:optipromo:promotion_inactive",
    )
    with contextlib.closing(build_optipromo_client(settings, CountingLimiter())) as client:
        answers = client.validate_customers(
            "WELCOME", [ValidationContext("C1", {}), ValidationContext("C2", {})]
        )

    assert [a.reason for a in answers] == ["optipromo:audience_cap_reached", "optipromo:promotion_inactive"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [("CAP_HIT:cap", "'cap' is not a reason promobridge knows"), ("CAP_HIT", "not of the form CODE:reason")],
)
def test_an_alias_to_an_unknown_reason_is_refused_naming_the_setting(value: str, problem: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(OPTIPROMO_REASON_ALIASES=value)  # type: ignore[call-arg]

    message = describe_invalid_settings(refused.value)
    assert message.startswith("OPTIPROMO_REASON_ALIASES") and problem in message
