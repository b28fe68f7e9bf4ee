"""The OpenAPI document describes every public route, with the schemas that validate requests."""

from __future__ import annotations

from sqlalchemy import Engine

from app.web import create_app
from app.web.schemas import ClaimBody
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import safe_settings


def test_the_spec_covers_every_public_route_and_reuses_the_request_schemas(sqlite_engine: Engine) -> None:
    app = create_app(safe_settings(), sqlite_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    client = app.test_client()
    spec = client.get("/openapi.json").json
    assert spec["openapi"].startswith("3.1")
    documented = {path.replace("{", "<").replace("}", ">") for path in spec["paths"]}
    routes = {
        rule.rule
        for rule in app.url_map.iter_rules()
        if not rule.rule.startswith(("/static", "/openapi", "/docs"))
    }
    assert {r.replace("<int:", "<") for r in routes} <= documented
    claim_schema = spec["components"]["schemas"]["ClaimBody"]
    assert claim_schema["additionalProperties"] is False
    assert claim_schema["properties"] == ClaimBody.model_json_schema()["properties"]
    page = client.get("/docs")
    assert page.status_code == 200 and b"POST /v1/claims" in page.data
