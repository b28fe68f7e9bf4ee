"""The OpenAPI document describes every public route, with the schemas that validate requests."""

from __future__ import annotations

from sqlalchemy import Engine

from app.config import Settings
from app.services.clients import create_client
from app.web import create_app
from app.web.schemas import ClaimBody
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory


def test_the_spec_covers_every_public_route_and_reuses_the_request_schemas(sqlite_engine: Engine) -> None:
    app = create_app(safe_settings(), sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    client = app.test_client()
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {path.replace("{", "<").replace("}", ">") for path in spec["paths"]}
    routes = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/static", "/openapi", "/docs", "/console"))  # console: HTML pages
    }
    assert {r.replace("<int:", "<") for r in routes} <= documented
    claim_schema = spec["components"]["schemas"]["ClaimBody"]
    assert claim_schema["additionalProperties"] is False
    assert claim_schema["properties"] == ClaimBody.model_json_schema()["properties"]
    page = client.get("/docs")
    assert page.status_code == 200 and b"POST /v1/claims" in page.data


def test_the_spec_states_the_configured_long_poll_bound_and_every_webhook_refusal(
    sqlite_engine: Engine,
) -> None:
    settings = Settings(CLAIMS_MAX_WAIT_SECONDS=12.5)  # type: ignore[call-arg]
    app = create_app(settings, sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    spec = app.test_client().get("/openapi.json").json
    wait = {p["name"]: p for p in spec["paths"]["/v1/claims/{claim_id}"]["get"]["parameters"]}["wait"]
    assert wait["schema"] == {"type": "number", "minimum": 0, "maximum": 12.5}
    listener = spec["paths"]["/webhooks/optimove/{token}"]["post"]["responses"]
    gateway = spec["paths"]["/webhooks/optimove/triggered/{token}"]["post"]
    assert "415" in listener and "415" in gateway["responses"]
    assert gateway["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GatewayCall"
    }
    refusal = spec["components"]["schemas"]["GatewayError"]
    assert refusal["properties"]["allowed"]["const"] is False and "allowed" in refusal["required"]


def test_an_integral_float_campaign_id_is_an_integer_as_json_schema_says(sqlite_engine: Engine) -> None:
    app = create_app(Settings(), sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    key = create_client(SqlAlchemyUnitOfWorkFactory(sqlite_engine), "floaty", rate_limit_per_minute=10).key
    headers = {"Authorization": f"Bearer {key}"}
    client = app.test_client()
    integral = client.post(
        "/v1/claims",
        data='{"campaign_id": 77.0, "customer_id": "c"}',
        headers=headers,
        content_type="application/json",
    )
    fractional = client.post(
        "/v1/claims",
        data='{"campaign_id": 77.5, "customer_id": "c"}',
        headers=headers,
        content_type="application/json",
    )
    assert integral.status_code == 404 and integral.json["message"] == "campaign 77 is unknown"  # type: ignore[index]
    assert fractional.status_code == 422
