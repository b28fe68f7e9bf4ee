"""The OpenAPI document is generated from the models the views use, covers every route, and the
answers the app really gives validate against the schemas it documents for them."""

from __future__ import annotations

import ast
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Engine
from werkzeug.test import TestResponse

import app.web
from app.config import Settings
from app.services.clients import create_client
from app.web import create_app
from app.web.optimove_payloads import GatewayCall, OptimoveEvent
from app.web.schemas import IDEMPOTENCY_KEY_PATTERN, CampaignPath, ClaimBody, ClaimPath
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

WEB_PACKAGE = Path(app.web.__file__).parent
UNDOCUMENTED_ROUTES = ("/static", "/openapi.json", "/docs", "/console")  # console: HTML pages
BODYLESS_OPERATIONS = {("post", "/v1/campaigns/{campaign_id}/release")}  # the path says it all


def _document(app: Flask) -> dict[str, Any]:
    document = app.test_client().get("/openapi.json").json
    assert isinstance(document, dict)
    return document


def _app(engine: Engine, **settings: Any) -> Flask:
    return create_app(safe_settings(**settings), engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]


def _wait_schema(document: dict[str, Any]) -> dict[str, Any]:
    parameters = document["paths"]["/v1/claims/{claim_id}"]["get"]["parameters"]
    schema: dict[str, Any] = {p["name"]: p for p in parameters}["wait"]["schema"]
    return schema


def openapi_path(rule: str) -> str:
    """A Werkzeug rule as an OpenAPI path: `<int:claim_id>` and `<path:customer_id>` become `{name}`."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule)


def _operations(app: Flask) -> set[tuple[str, str]]:
    """Every (method, OpenAPI path) the app routes, but the document and its page."""
    return {
        (method.lower(), openapi_path(rule.rule))
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(UNDOCUMENTED_ROUTES)
        for method in rule.methods or ()
        if method not in {"HEAD", "OPTIONS"}
    }


def test_the_spec_covers_every_public_route_and_reuses_the_request_schemas(sqlite_engine: Engine) -> None:
    app = create_app(safe_settings(), sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    client = app.test_client()
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = set(spec["paths"])
    routes = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/static", "/openapi", "/docs", "/console"))  # console: HTML pages
    }
    assert {openapi_path(r) for r in routes} <= documented
    claim_schema = spec["components"]["schemas"]["ClaimBody"]
    assert claim_schema["additionalProperties"] is False
    assert claim_schema["properties"] == ClaimBody.model_json_schema()["properties"]
    page = client.get("/docs")
    assert page.status_code == 200 and b"POST /v1/claims" in page.data


def test_every_operation_is_generated_with_its_answers_and_its_request_models(sqlite_engine: Engine) -> None:
    app = _app(sqlite_engine)
    document = _document(app)
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == _operations(app)
    schemas = document["components"]["schemas"]
    for method, path in documented:
        operation = document["paths"][path][method]
        assert operation["summary"] and operation["responses"], (method, path)
        for status, answer in operation["responses"].items():
            assert answer["description"] and answer.get("content"), f"{method} {path} {status} has no body"
        if method in ("post", "put") and (method, path) not in BODYLESS_OPERATIONS:
            body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert body.rsplit("/", 1)[-1] in schemas, (method, path)
    bodies = {
        path: document["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        for path in ("/v1/claims", "/webhooks/optimove/{token}", "/webhooks/optimove/triggered/{token}")
    }
    assert bodies == {
        "/v1/claims": {"$ref": "#/components/schemas/ClaimBody"},
        "/webhooks/optimove/{token}": {"$ref": f"#/components/schemas/{OptimoveEvent.__name__}"},
        "/webhooks/optimove/triggered/{token}": {"$ref": f"#/components/schemas/{GatewayCall.__name__}"},
    }


def test_no_path_of_the_document_is_written_by_hand(sqlite_engine: Engine) -> None:
    # A path dict in the web layer's code would be a hand-written document (or a piece of one).
    for source in sorted(WEB_PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text(), str(source))):
            if isinstance(node, ast.Dict):
                keys = [key.value for key in node.keys if isinstance(key, ast.Constant)]
                hand_written = [
                    key for key in keys if isinstance(key, str) and key.startswith(("/", "paths"))
                ]
                assert not hand_written, f"{source.name}:{node.lineno} {hand_written}"
    assert _document(_app(sqlite_engine))["paths"], "the generated document has paths all the same"


def test_the_spec_states_the_configured_long_poll_bound_and_every_webhook_refusal(
    sqlite_engine: Engine,
) -> None:
    settings = Settings(CLAIMS_MAX_WAIT_SECONDS=12.5)  # type: ignore[call-arg]
    app = create_app(settings, sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    spec = app.test_client().get("/openapi.json").json
    wait = _wait_schema(spec)
    assert (wait["type"], wait["minimum"], wait["maximum"]) == ("number", 0, 12.5)
    listener = spec["paths"]["/webhooks/optimove/{token}"]["post"]["responses"]
    gateway = spec["paths"]["/webhooks/optimove/triggered/{token}"]["post"]
    assert "415" in listener and "415" in gateway["responses"]
    assert gateway["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/GatewayCall"
    }
    refusal = spec["components"]["schemas"]["GatewayError"]
    assert refusal["properties"]["allowed"]["const"] is False and "allowed" in refusal["required"]


def test_two_apps_with_other_settings_each_get_their_own_bound_and_the_whole_document(
    sqlite_engine: Engine,
) -> None:
    short = _app(sqlite_engine, CLAIMS_MAX_WAIT_SECONDS=2)
    long = _app(sqlite_engine, CLAIMS_MAX_WAIT_SECONDS=45)
    documents = [_document(app) for app in (short, long, short)]
    assert [_wait_schema(d)["maximum"] for d in documents] == [2, 45, 2]
    assert documents[0] == documents[2]
    # Models nested in others (a claim's reward) are components in every document served, not the first only.
    assert all("RewardView" in d["components"]["schemas"] for d in documents)
    assert "x-maximum-from-setting" not in json.dumps(documents)


def test_parameters_and_security_come_from_the_models_and_scopes_the_views_use(sqlite_engine: Engine) -> None:
    paths = _document(_app(sqlite_engine))["paths"]

    def parameters(path: str, method: str) -> dict[str, dict[str, Any]]:
        return {p["name"]: p for p in paths[path][method]["parameters"]}

    claim_id = parameters("/v1/claims/{claim_id}", "get")["claim_id"]
    assert claim_id["in"] == "path"
    assert claim_id["schema"]["pattern"] == ClaimPath.model_json_schema()["properties"]["claim_id"]["pattern"]
    campaign_id = parameters("/v1/campaigns/{campaign_id}", "get")["campaign_id"]["schema"]
    expected = CampaignPath.model_json_schema()["properties"]["campaign_id"]
    assert (campaign_id["type"], campaign_id["minimum"], campaign_id["maximum"]) == (
        "integer",
        expected["minimum"],
        expected["maximum"],
    )
    key = parameters("/v1/claims", "post")["Idempotency-Key"]
    assert (key["in"], key["required"], key["schema"]["pattern"]) == (
        "header",
        False,
        IDEMPOTENCY_KEY_PATTERN,
    )
    token = parameters("/webhooks/optimove/{token}", "post")["token"]
    assert token["in"] == "path" and "LISTENER_TOKEN" in token["description"]
    assert paths["/v1/claims"]["post"]["security"] == [{"clientKey": ["claims"]}]
    assert paths["/v1/campaigns/{campaign_id}"]["get"]["security"] == [{"clientKey": ["campaigns:read"]}]
    assert "security" not in paths["/webhooks/optimove/{token}"]["post"]


def test_the_docs_page_needs_nothing_from_elsewhere(sqlite_engine: Engine) -> None:
    app = _app(sqlite_engine)
    page = app.test_client().get("/docs").get_data(as_text=True)
    for path, item in _document(app)["paths"].items():
        for method in item:
            assert f"{method.upper()} {path}" in page
    assert "<script" not in page and "src=" not in page and "<link" not in page


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


# --- the answers, against the document ---------------------------------------------------------


class Documented:
    """Checks real answers against what the document says of their operation and status."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, method: str, path: str, response: TestResponse) -> Any:
        """The answer's JSON body, once it matched its documented media type and schema."""
        answers = self.document["paths"][path][method]["responses"]
        assert str(response.status_code) in answers, f"{method} {path}: {response.status} is undocumented"
        content = answers[str(response.status_code)]["content"]
        assert response.mimetype in content, (response.mimetype, list(content))
        self.checked.add((method, path, response.status_code))
        if response.mimetype != "application/json":
            return response.get_data(as_text=True)
        # The document is the root, so that "#/components/schemas/..." resolves as it does for a client.
        schema = {**content[response.mimetype]["schema"], "components": self.document["components"]}
        body = response.json
        validator = Draft202012Validator(schema, format_checker=FormatChecker())
        errors = sorted(validator.iter_errors(body), key=str)
        assert not errors, f"{method} {path} {response.status_code}: {errors[0].message} in {body}"
        return body


@pytest.fixture
def served(pg_engine: Engine) -> tuple[Flask, dict[str, str]]:
    app = _app(pg_engine, LISTENER_TOKEN=STRONG_TOKEN, TRIGGERED_CAMPAIGNS="7001")
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine),
        "documented",
        rate_limit_per_minute=1000,
        scopes=frozenset({"claims", "campaigns:read", "customers:read"}),
    ).key
    return app, {"Authorization": f"Bearer {key}"}


def test_an_answer_of_each_kind_validates_against_its_documented_schema(
    served: tuple[Flask, dict[str, str]], pg_engine: Engine, simulator: SimulatorServer
) -> None:
    app, auth = served
    api = app.test_client()
    documented = Documented(_document(app))
    listener, gateway = f"/webhooks/optimove/{STRONG_TOKEN}", f"/webhooks/optimove/triggered/{STRONG_TOKEN}"
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    claim = {"campaign_id": campaign_id, "customer_id": customer, "session_properties": {"deposit": 120}}

    created = documented.check("post", "/v1/claims", api.post("/v1/claims", json=claim, headers=auth))
    again = documented.check("post", "/v1/claims", api.post("/v1/claims", json=claim, headers=auth))
    assert again["id"] == created["id"]  # answered 200 this time
    run = InProcessClaims(pg_engine, simulator)
    run.wake([created["id"]])
    run.drain()
    completed = documented.check("get", "/v1/claims/{claim_id}", api.get(created["status_url"], headers=auth))
    assert completed["status"] == "completed" and completed["reward"]["amount"] and completed["completed_at"]

    later = (datetime.now(UTC) + timedelta(days=2)).strftime("%Y-%m-%d 10:00:00")
    conflict = {"EventTypeID": 5, "CampaignID": campaign_id, "ClearanceRequiredBy": later}
    ack = documented.check("post", "/webhooks/optimove/{token}", api.post(listener, json=conflict))
    assert ack["status"] == "conflict" and ack["differs_in"]
    report = api.get(f"/v1/campaigns/{campaign_id}", headers=auth)
    assert documented.check("get", "/v1/campaigns/{campaign_id}", report)["recent_event_conflicts"]
    trail_path = "/v1/customers/{customer_id}/trail"
    trail = documented.check("get", trail_path, api.get(f"/v1/customers/{customer}/trail", headers=auth))
    assert [s["step"] for s in trail["campaigns"][0]["steps"]][-1] == "status.sent"
    documented.check("get", trail_path, api.get("/v1/customers/nobody/trail", headers=auth))  # 404
    documented.check(
        "get", trail_path, api.get(f"/v1/customers/{customer}/trail?campaign_id=0", headers=auth)
    )

    call = {"user": {"user_id": customer}, "campaign": {"id": 7001, "action": {"promo_codes": ["SPIN10"]}}}
    documented.check("post", "/webhooks/optimove/triggered/{token}", api.post(gateway, json=call))
    unreadable = api.post(gateway, json={"user": 1})
    assert documented.check("post", "/webhooks/optimove/triggered/{token}", unreadable)["allowed"] is False

    invalid = {**claim, "session_properties": {"deposit": {"nested": 1}}}
    refused = api.post("/v1/claims", json=invalid, headers=auth)
    assert documented.check("post", "/v1/claims", refused)["details"]
    documented.check("get", "/v1/claims/{claim_id}", api.get("/v1/claims/not-a-claim", headers=auth))  # 404
    documented.check("get", "/v1/campaigns/{campaign_id}", api.get("/v1/campaigns/1"))  # 401
    documented.check("get", "/healthz", api.get("/healthz"))
    documented.check("get", "/readyz", api.get("/readyz"))  # 200 or 503, either as documented
    documented.check("get", "/metrics", api.get("/metrics"))

    admin_key = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine),
        "admin",
        rate_limit_per_minute=1000,
        scopes=frozenset({"admin"}),
    ).key
    admin = {"Authorization": f"Bearer {admin_key}"}
    settings = f"/v1/campaigns/{campaign_id}/settings"
    change = {"max_rewards": 10, "max_reward_amount": 99.5}
    documented.check(
        "put", "/v1/campaigns/{campaign_id}/settings", api.put(settings, json=change, headers=admin)
    )
    refused = api.put(settings, json={"mode": "auto"}, headers=admin)  # claims were taken: 409
    assert (
        documented.check("put", "/v1/campaigns/{campaign_id}/settings", refused)["error"]
        == "settings_refused"
    )
    documented.check("get", "/v1/campaigns/{campaign_id}/settings", api.get(settings, headers=admin))
    release = api.post(f"/v1/campaigns/{campaign_id}/release", headers=admin)
    assert documented.check("post", "/v1/campaigns/{campaign_id}/release", release)["released"] is False
    documented.check("put", "/v1/pause", api.put("/v1/pause", json={"paused": False}, headers=admin))
    documented.check("get", "/v1/pause", api.get("/v1/pause", headers=admin))
    rule = api.put("/v1/settings/rules/SPR%2A", json={"max_rewards": 5}, headers=admin)
    documented.check("put", "/v1/settings/rules/{pattern}", rule)
    documented.check("get", "/v1/settings/rules", api.get("/v1/settings/rules", headers=admin))
    documented.check(
        "delete", "/v1/settings/rules/{pattern}", api.delete("/v1/settings/rules/SPR%2A", headers=admin)
    )
    assert {(method, path) for method, path, _ in documented.checked} == _operations(app)
