"""The triggered-campaign gateway: policies for one customer, recorded in the audience, failing closed."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from app.adapters.db import audience, campaigns, operator_data
from app.adapters.db.schema import build_engine
from app.clock import utcnow
from app.domain.audience import OperatorFlags
from app.domain.claims import ClaimRequest, ClaimState
from app.services.claims import submit_claim
from app.web import create_app
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings

TOKEN = STRONG_TOKEN


def _client(engine: Engine) -> FlaskClient:
    settings = safe_settings(LISTENER_TOKEN=TOKEN)
    return create_app(settings, engine, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]


def _call(user_id: Any = "cust-1", campaign_id: Any = 8801, **user: Any) -> dict[str, Any]:
    return {
        "user": {"user_id": user_id, "is_visitor": False, **user},
        "campaign": {
            "id": campaign_id,
            "series_id": 77,
            "notes": "",
            "tags": [],
            "action": {"id": 3, "name": "Free spins", "promo_codes": ["SPIN10"], "channels": []},
        },
    }


def test_an_eligible_customer_is_allowed_recorded_and_can_then_claim(any_engine: Engine) -> None:
    response = _client(any_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call())
    assert response.status_code == 200 and response.json == {"user_id": "cust-1", "allowed": True}
    with any_engine.connect() as conn:
        campaign = campaigns.get_campaign(conn, 8801)
        member = audience.member(conn, 8801, "cust-1")
    assert campaign is not None and (campaign.mode.value, campaign.state.value) == ("claim", "ready")
    assert member is not None and member.eligible and member.promo_code == "SPIN10"
    claim = submit_claim(
        any_engine, ClaimRequest(8801, "cust-1", {}), client_id=None, idempotency_key=None, source="test"
    ).claim
    assert claim.state == ClaimState.PENDING and claim.promo_code == "SPIN10"


def test_operator_data_denies_and_a_later_claim_is_rejected(pg_engine: Engine) -> None:
    with pg_engine.begin() as conn:
        operator_data.upsert_flags(conn, [("cust-2", OperatorFlags(consent=False))], now=utcnow())
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-2"))
    assert response.json == {"user_id": "cust-2", "allowed": False}
    claim = submit_claim(
        pg_engine, ClaimRequest(8801, "cust-2", {}), client_id=None, idempotency_key=None, source="test"
    ).claim
    assert claim.state == ClaimState.REJECTED and claim.reason == "scrubbed:consent_withdrawn"


def test_numeric_ids_are_accepted(pg_engine: Engine) -> None:
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call(12345, "8802"))
    assert response.json == {"user_id": "12345", "allowed": True}


@pytest.mark.parametrize(
    "body",
    [
        {"user": {"user_id": "x"}},
        _call(user_id=""),
        _call(campaign_id="abc"),
        _call(campaign_id=-1),
        {"user": "x", "campaign": {}},
        [1],
    ],
)
def test_unusable_calls_are_refused_and_write_nothing(pg_engine: Engine, body: Any) -> None:
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=body)
    assert response.status_code == 400 and response.json["allowed"] is False
    with pg_engine.connect() as conn:
        assert campaigns.list_campaigns(conn) == []


def test_a_wrong_token_is_refused(pg_engine: Engine) -> None:
    response = _client(pg_engine).post("/webhooks/optimove/triggered/wrong", json=_call())
    assert response.status_code == 401 and response.json["allowed"] is False


def test_the_gateway_fails_closed_when_the_database_is_down() -> None:
    dead = build_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    response = _client(dead).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call())
    assert response.status_code == 200 and response.json == {"user_id": "cust-1", "allowed": False}
