"""The triggered-campaign gateway: policies for one customer, recorded in the audience, failing closed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import TooManyRequests

from app.adapters.db.dialect import build_engine
from app.adapters.db.tables import campaign_audience
from app.clock import utcnow
from app.domain.audience import OperatorFlags
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimRequest, ClaimState
from app.services.claims import UnknownCampaign
from app.web import create_app
from tests.support.claims_flow import submit_directly
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

TOKEN = STRONG_TOKEN
DECLARED = "8801-8802"  # the triggered campaigns these tests use, declared through the settings


def _client(engine: Engine) -> FlaskClient:
    settings = safe_settings(LISTENER_TOKEN=TOKEN, TRIGGERED_CAMPAIGNS=DECLARED)
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
    with reading(any_engine) as uow:
        campaign = uow.campaigns.get(8801)
        member = uow.audience.member(8801, "cust-1")
    assert campaign is not None and (campaign.mode.value, campaign.state.value) == ("claim", "ready")
    assert member is not None and member.eligible and member.promo_code == "SPIN10"
    claim = submit_directly(any_engine, ClaimRequest(8801, "cust-1", {})).claim
    assert claim.state == ClaimState.PENDING and claim.promo_code == "SPIN10"


def test_operator_data_denies_and_a_later_claim_is_rejected(pg_engine: Engine) -> None:
    with writing(pg_engine) as uow:
        uow.operator_data.save([("cust-2", OperatorFlags(consent=False))], now=utcnow())
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-2"))
    assert response.json == {"user_id": "cust-2", "allowed": False}
    claim = submit_directly(pg_engine, ClaimRequest(8801, "cust-2", {})).claim
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
    with reading(pg_engine) as uow:
        assert uow.campaigns.recent() == []


def test_a_wrong_token_is_refused(pg_engine: Engine) -> None:
    response = _client(pg_engine).post("/webhooks/optimove/triggered/wrong", json=_call())
    assert response.status_code == 401 and response.json["allowed"] is False


def test_the_gateway_fails_closed_when_the_database_is_down() -> None:
    dead = build_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    response = _client(dead).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call())
    assert response.status_code == 200 and response.json == {"user_id": "cust-1", "allowed": False}


# The gateway never widens an audience another flow decided -----------------------------------------


def _scheduled_campaign_with(engine: Engine, campaign_id: int, members: dict[str, str | None]) -> None:
    """A scheduled claim-mode campaign whose ingested audience holds `members` (customer -> scrub reason)."""
    now = utcnow()
    with writing(engine) as uow:
        uow.campaigns.add(
            NewCampaign(
                id=campaign_id,
                mode=CampaignMode.CLAIM,
                clearance_required_by=now,
                event_timestamp=now,
                page_size=100,
                state=CampaignState.READY,
            ),
            now=now,
        )
        for customer_id, reason in members.items():
            uow.connection.execute(
                campaign_audience.insert().values(
                    campaign_id=campaign_id,
                    customer_id=customer_id,
                    page_no=0,
                    promo_code="SPIN10",
                    attributes={},
                    eligible=reason is None,
                    scrub_reason=reason,
                )
            )


def _claim(engine: Engine, campaign_id: int, customer_id: str) -> Any:
    return submit_directly(engine, ClaimRequest(campaign_id, customer_id, {})).claim


@pytest.mark.parametrize("reason", ["fraud_flagged", "no_consent"])
def test_a_customer_scrubbed_by_ingest_is_never_readmitted_by_the_gateway(
    pg_engine: Engine, reason: str
) -> None:
    _scheduled_campaign_with(pg_engine, 8901, {"scrubbed-1": reason, "kept-1": None})
    response = _client(pg_engine).post(
        f"/webhooks/optimove/triggered/{TOKEN}", json=_call("scrubbed-1", 8901)
    )
    assert response.json == {"user_id": "scrubbed-1", "allowed": False}
    with reading(pg_engine) as uow:
        member = uow.audience.member(8901, "scrubbed-1")
    assert member is not None and not member.eligible and member.scrub_reason == reason
    claim = _claim(pg_engine, 8901, "scrubbed-1")
    assert claim.state == ClaimState.REJECTED and claim.reason == f"scrubbed:{reason}"
    with reading(pg_engine) as uow:
        assert uow.activations.credits_per_claim() == {}


def test_an_outsider_named_by_the_gateway_is_not_added_to_a_scheduled_campaign(pg_engine: Engine) -> None:
    _scheduled_campaign_with(pg_engine, 8902, {"member-1": None})
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("outsider", 8902))
    assert response.json == {"user_id": "outsider", "allowed": False}
    with reading(pg_engine) as uow:
        assert uow.audience.member(8902, "outsider") is None
    claim = _claim(pg_engine, 8902, "outsider")
    assert claim.state == ClaimState.REJECTED and claim.reason == "not_in_audience"


def test_an_unknown_campaign_is_refused_and_nothing_is_created(pg_engine: Engine) -> None:
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-9", 9999))
    assert response.status_code == 200 and response.json == {"user_id": "cust-9", "allowed": False}
    with reading(pg_engine) as uow:
        assert uow.campaigns.get(9999) is None and uow.audience.member(9999, "cust-9") is None
    with pytest.raises(UnknownCampaign):
        _claim(pg_engine, 9999, "cust-9")


def test_a_campaign_declared_triggered_with_the_cli_service_is_served(pg_engine: Engine) -> None:
    from app.services.campaign_settings import set_campaign_settings

    set_campaign_settings(SqlAlchemyUnitOfWorkFactory(pg_engine), 9500, kind="triggered", updated_by="test")
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-5", 9500))
    assert response.json == {"user_id": "cust-5", "allowed": True}
    with reading(pg_engine) as uow:
        campaign = uow.campaigns.get(9500)
    assert campaign is not None and campaign.kind == "triggered"


def test_declaring_an_existing_scheduled_campaign_triggered_is_refused(pg_engine: Engine) -> None:
    from app.services.campaign_settings import SettingsRefused, set_campaign_settings

    _scheduled_campaign_with(pg_engine, 8903, {})
    with pytest.raises(SettingsRefused):
        set_campaign_settings(SqlAlchemyUnitOfWorkFactory(pg_engine), 8903, kind="triggered")


def test_a_scrub_made_by_the_gateway_stands_when_the_operator_data_later_allows(pg_engine: Engine) -> None:
    with writing(pg_engine) as uow:
        uow.operator_data.save([("cust-3", OperatorFlags(fraud=True))], now=utcnow())
    client = _client(pg_engine)
    assert client.post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-3")).json["allowed"] is False
    with writing(pg_engine) as uow:
        uow.operator_data.save([("cust-3", OperatorFlags(fraud=False))], now=utcnow())
    assert client.post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-3")).json["allowed"] is False
    with reading(pg_engine) as uow:
        member = uow.audience.member(8801, "cust-3")
    assert member is not None and not member.eligible and member.scrub_reason == "fraud_flagged"


def test_an_eligible_customer_later_flagged_is_narrowed_to_scrubbed(pg_engine: Engine) -> None:
    client = _client(pg_engine)
    assert client.post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-4")).json["allowed"] is True
    with writing(pg_engine) as uow:
        uow.operator_data.save([("cust-4", OperatorFlags(consent=False))], now=utcnow())
    assert client.post(f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-4")).json["allowed"] is False
    assert _claim(pg_engine, 8801, "cust-4").reason == "scrubbed:consent_withdrawn"


def _no_campaign_written(engine: Engine) -> bool:
    with reading(engine) as uow:
        return uow.campaigns.recent() == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"user": {"user_id": "u"}, "campaign": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}", "nested"),
        ('{"user": {"user_id": "u"}, "campaign": {"id": 5, "score": NaN}}', "NaN"),
        ('{"user": {"user_id": "u"}, "user": {"user_id": "v"}, "campaign": {"id": 5}}', "more than once"),
    ],
)
def test_hostile_json_is_refused_with_allowed_false_and_writes_nothing(
    pg_engine: Engine, body: str, problem: str
) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/triggered/{TOKEN}", data=body, content_type="application/json"
    )
    assert response.status_code == 400 and response.json["allowed"] is False  # type: ignore[index]
    assert problem in response.json["message"]  # type: ignore[index]
    assert _no_campaign_written(pg_engine)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (_call(campaign_id=2**63), "campaign.id"),
        (_call(campaign_id=2**70), "campaign.id"),
        (_call(user_id="u" * 129), "user.user_id"),
        (_call(user_id="a\u0000b"), "user.user_id"),
        ({**_call(), "campaign": {"id": 8801, "action": {"promo_codes": ["P" * 129]}}}, "promo_codes"),
    ],
)
def test_a_field_out_of_range_is_refused_naming_it_with_allowed_false(
    pg_engine: Engine, call: dict[str, Any], field: str
) -> None:
    response = _client(pg_engine).post(f"/webhooks/optimove/triggered/{TOKEN}", json=call)
    assert response.status_code == 400
    body = response.json
    assert body is not None and body["allowed"] is False and field in body["message"]
    assert _no_campaign_written(pg_engine)


def test_a_refusal_names_the_user_when_the_user_could_be_read(pg_engine: Engine) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/triggered/{TOKEN}", json=_call("cust-9", campaign_id=2**64)
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["user_id"] == "cust-9"
    assert response.json["allowed"] is False


def _gateway_app(engine: Engine) -> Any:
    """The gateway app plus routes under the gateway's path that fail the ways no input can today.

    Nothing the gateway does today raises 429, 503 or an unexpected exception (its decision fails
    closed with a 200), so these stand in for a future limiter, an outage or a bug.
    """
    settings = safe_settings(LISTENER_TOKEN=TOKEN, WEBHOOK_MAX_BYTES=2048)
    app = create_app(settings, engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]

    def too_many(token: str) -> None:
        raise TooManyRequests()

    def unexpected(token: str) -> None:
        raise RuntimeError("a bug")

    def database_down(token: str) -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    for name, view in (("429", too_many), ("500", unexpected), ("503", database_down)):
        app.add_url_rule(
            f"/webhooks/optimove/triggered/<token>/fails-{name}", f"fails_{name}", view, methods=["POST"]
        )
    return app


@pytest.mark.parametrize(
    ("request_kwargs", "status"),
    [
        ({"data": "{nope"}, 400),
        ({"path": "/webhooks/optimove/triggered/wrong-token"}, 401),
        ({"method": "GET"}, 405),
        ({"data": '{"pad": "' + "x" * 4000 + '"}'}, 413),
        ({"content_type": "text/plain"}, 415),
        ({"path": f"/webhooks/optimove/triggered/{TOKEN}/fails-429"}, 429),
        ({"path": f"/webhooks/optimove/triggered/{TOKEN}/fails-500"}, 500),
        ({"path": f"/webhooks/optimove/triggered/{TOKEN}/fails-503"}, 503),
    ],
)
def test_every_error_the_gateway_can_give_says_allowed_false(
    pg_engine: Engine, request_kwargs: dict[str, Any], status: int
) -> None:
    kwargs: dict[str, Any] = {
        "path": f"/webhooks/optimove/triggered/{TOKEN}",
        "method": "POST",
        "data": json.dumps(_call()),
        "content_type": "application/json",
        **request_kwargs,
    }
    response = _gateway_app(pg_engine).test_client().open(**kwargs)
    assert response.status_code == status
    body = response.json
    assert body is not None and body["allowed"] is False and body["error"]
    assert _no_campaign_written(pg_engine)
