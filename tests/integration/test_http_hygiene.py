"""Every answer is JSON a client can read, is never cached nor sniffed, and says which methods it allows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from app.adapters.db.dialect import build_engine
from app.web import create_app
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings

TOKEN = STRONG_TOKEN


@pytest.fixture
def client(pg_engine: Engine) -> Iterator[FlaskClient]:
    settings = safe_settings(LISTENER_TOKEN=TOKEN, WEBHOOK_MAX_BYTES=2048)
    yield create_app(settings, pg_engine, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/healthz"),
        ("GET", "/readyz"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("POST", "/v1/claims"),
        ("GET", "/v1/claims/some-id"),
        ("GET", "/v1/campaigns/12"),
        ("POST", f"/webhooks/optimove/{TOKEN}"),
        ("POST", f"/webhooks/optimove/triggered/{TOKEN}"),
        ("GET", "/no/such/page"),
        ("DELETE", "/v1/claims"),
    ],
)
def test_every_response_forbids_caching_and_content_sniffing(
    client: FlaskClient, method: str, path: str
) -> None:
    response = client.open(path, method=method, json={})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_503_carries_the_security_headers_too() -> None:
    dead = build_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    settings = safe_settings(LISTENER_TOKEN=TOKEN)
    client = create_app(settings, dead, publisher=RecordingDispatcher()).test_client()  # type: ignore[arg-type]
    response = client.post(f"/webhooks/optimove/{TOKEN}", json={"EventTypeID": 4, "CampaignID": 3})
    assert response.status_code == 503
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("GET", "/v1/claims", {"POST"}),
        ("PUT", "/v1/claims/abc", {"GET", "HEAD"}),
        ("GET", f"/webhooks/optimove/{TOKEN}", {"POST"}),
        ("DELETE", "/healthz", {"GET", "HEAD"}),
    ],
)
def test_a_405_is_json_and_lists_the_allowed_methods(
    client: FlaskClient, method: str, path: str, allowed: set[str]
) -> None:
    response = client.open(path, method=method)
    assert response.status_code == 405 and response.is_json
    assert response.json is not None and response.json["error"] == "method_not_allowed"
    listed = {part.strip() for part in response.headers["Allow"].split(",")}
    assert allowed <= listed and listed <= allowed | {"OPTIONS", "HEAD"}


def test_a_404_is_json(client: FlaskClient) -> None:
    response = client.get("/wp-admin/setup.php")
    assert response.status_code == 404 and response.is_json
    assert response.json is not None and response.json["error"] == "not_found"


def test_a_413_from_the_declared_length_is_json(client: FlaskClient) -> None:
    response = client.post(f"/webhooks/optimove/{TOKEN}", data="x" * 5000, content_type="application/json")
    assert response.status_code == 413 and response.is_json
    assert response.json is not None and response.json["error"] == "request_entity_too_large"
