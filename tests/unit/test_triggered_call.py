"""Reading the triggered gateway's payload: every field that reaches a column is checked first."""

from __future__ import annotations

from typing import Any

import pytest

from app.adapters.optimove.gateway_contract import parse_triggered_call
from app.domain.optimove import InvalidTriggeredCall


def _payload(user_id: Any = "cust-1", campaign_id: Any = 8801, codes: Any = ("SPIN10",)) -> dict[str, Any]:
    return {
        "user": {"user_id": user_id, "is_visitor": False},
        "campaign": {"id": campaign_id, "series_id": 77, "action": {"promo_codes": list(codes)}},
    }


def test_the_documented_payload_is_read() -> None:
    call = parse_triggered_call(_payload(12345, "8802"))
    read = (call.user_id, call.campaign_id, call.series_id, call.promo_code)
    assert read == ("12345", 8802, "77", "SPIN10")


def test_a_missing_or_null_promo_code_is_no_promo_code() -> None:
    assert parse_triggered_call(_payload(codes=())).promo_code is None
    assert parse_triggered_call(_payload(codes=(None,))).promo_code is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"campaign": {"id": 1}}, "user"),
        (_payload(user_id=""), "user.user_id"),
        (_payload(user_id="   "), "user.user_id"),
        (_payload(user_id=True), "user.user_id"),
        (_payload(user_id=1.5), "user.user_id"),
        (_payload(user_id="x" * 129), "user.user_id"),
        (_payload(user_id="tab\there"), "user.user_id"),
        (_payload(campaign_id=0), "campaign.id"),
        (_payload(campaign_id=2**63), "campaign.id"),
        (_payload(campaign_id=1e20), "campaign.id"),
        (_payload(campaign_id="1_000"), "campaign.id"),
        (_payload(codes=({"code": "A"},)), "campaign.action.promo_codes[0]"),
        (_payload(codes=("P" * 129,)), "campaign.action.promo_codes[0]"),
        ({"user": {"user_id": "u"}, "campaign": "8801"}, "campaign"),
    ],
)
def test_an_unusable_field_is_refused_by_name(payload: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidTriggeredCall) as caught:
        parse_triggered_call(payload)
    assert caught.value.field == field and field in str(caught.value)


def test_a_refusal_after_the_user_was_read_names_the_user() -> None:
    with pytest.raises(InvalidTriggeredCall) as caught:
        parse_triggered_call(_payload("cust-7", campaign_id="abc"))
    assert caught.value.user_id == "cust-7"


def test_a_refusal_before_the_user_was_read_names_nobody() -> None:
    with pytest.raises(InvalidTriggeredCall) as caught:
        parse_triggered_call(_payload(user_id=""))
    assert caught.value.user_id is None
