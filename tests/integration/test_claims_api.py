"""The claims HTTP API: authentication, validation, idempotency, limits; bad input writes nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from app.bootstrap import ingest_config
from app.services.clients import create_client
from app.web import create_app
from simulator.server import SimulatorServer
from tests.support.claims_flow import claim_mode_campaign
from tests.support.dispatch import RecordingDispatcher
from tests.support.flow import InProcessFlow, simulator_client, webhook_payload
from tests.support.secrets import safe_settings
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading


class Api:
    def __init__(self, client: FlaskClient, key: str, publisher: RecordingDispatcher) -> None:
        self.client, self.key, self.publisher = client, key, publisher

    def post(
        self,
        body: Any,
        *,
        key: str | None = None,
        auth: str | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Authorization": auth if auth is not None else f"Bearer {self.key}"}
        if key is not None:
            headers["Idempotency-Key"] = key
        data = raw if raw is not None else json.dumps(body).encode()
        return self.client.post("/v1/claims", data=data, headers=headers, content_type=content_type)

    def get(self, path: str, *, auth: str | None = None) -> Any:
        return self.client.get(path, headers={"Authorization": auth or f"Bearer {self.key}"})


@pytest.fixture
def api(pg_engine: Engine) -> Iterator[Api]:
    settings = safe_settings(CLAIMS_MAX_WAIT_SECONDS=2)
    publisher = RecordingDispatcher()
    app = create_app(settings, pg_engine, publisher=publisher)  # type: ignore[arg-type]
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine),
        "backend",
        rate_limit_per_minute=1000,
        scopes=frozenset({"claims", "campaigns:read"}),
    ).key
    yield Api(app.test_client(), key, publisher)
    app.config["PROMOBRIDGE_SERVICES"].close()  # the long polls' listener thread


def _count(engine: Engine) -> int:
    with reading(engine) as uow:
        return sum(uow.claims.counts_by_state().values())


def test_a_claim_is_accepted_with_a_status_url_and_dispatched(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 20, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    response = api.post(
        {"campaign_id": campaign_id, "customer_id": customer, "session_properties": {"deposit_amount": 120}},
        key="k-1",
    )
    assert response.status_code == 202
    body = response.json
    assert body["status"] == "pending" and body["status_url"] == f"/v1/claims/{body['id']}"
    with reading(pg_engine) as uow:
        stored = uow.claims.get(body["id"])
    assert stored is not None and list(api.publisher.validations) == [(campaign_id, stored.promo_code)]

    again = api.post(
        {"campaign_id": campaign_id, "customer_id": customer, "session_properties": {"deposit_amount": 120}},
        key="k-1",
    )
    assert again.status_code == 200 and again.json["id"] == body["id"]
    conflict = api.post({"campaign_id": campaign_id, "customer_id": customer}, key="k-1")
    assert conflict.status_code == 409 and conflict.json["error"] == "idempotency_conflict"
    other_key = api.post({"campaign_id": campaign_id, "customer_id": customer}, key="k-2")
    assert other_key.status_code == 200 and other_key.json["id"] == body["id"]
    assert _count(pg_engine) == 1
    assert api.get(f"/v1/claims/{body['id']}").json["status"] == "pending"
    assert api.get(f"/v1/campaigns/{campaign_id}").json["rows_ingested"] == 20


def test_long_poll_waits_then_answers_with_the_current_state(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    claim_id = api.post({"campaign_id": campaign_id, "customer_id": customer}).json["id"]
    import time

    started = time.monotonic()
    response = api.get(f"/v1/claims/{claim_id}?wait=0.5")
    assert response.status_code == 200 and response.json["status"] == "pending"
    assert time.monotonic() - started >= 0.45
    assert api.get(f"/v1/claims/{claim_id}?wait=99").status_code == 400
    assert api.get(f"/v1/claims/{claim_id}?wait=soon").status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"campaign_id": "7", "customer_id": "c"}, 422, "invalid_claim"),
        ({"campaign_id": 7, "customer_id": 12}, 422, "invalid_claim"),
        ({"campaign_id": 0, "customer_id": "c"}, 422, "invalid_claim"),
        ({"campaign_id": 7, "customer_id": ""}, 422, "invalid_claim"),
        ({"campaign_id": 7, "customer_id": "a\nb"}, 422, "invalid_claim"),
        ({"campaign_id": 7, "customer_id": "x" * 129}, 422, "invalid_claim"),
        ({"campaign_id": 7, "customer_id": "c", "status": "completed"}, 422, "invalid_claim"),
        (
            {"campaign_id": 7, "customer_id": "c", "session_properties": {"k": {"nested": 1}}},
            422,
            "invalid_claim",
        ),
        (
            {"campaign_id": 7, "customer_id": "c", "session_properties": {f"k{i}": i for i in range(51)}},
            422,
            "invalid_claim",
        ),
        ({"campaign_id": 2**70, "customer_id": "c"}, 422, "invalid_claim"),
        ([1, 2], 400, "bad_request"),
        ({"campaign_id": 999999, "customer_id": "c"}, 404, "unknown_campaign"),
    ],
)
def test_bad_claims_get_a_clear_4xx_and_write_nothing(
    api: Api, pg_engine: Engine, body: Any, status: int, error: str
) -> None:
    response = api.post(body)
    assert response.status_code == status and response.json["error"] == error and response.json["message"]
    assert _count(pg_engine) == 0 and not api.publisher.sent


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"raw": b"{nope"}, 400),
        ({"raw": b"\xff"}, 400),
        ({"raw": b'{"campaign_id": 1}', "content_type": "text/plain"}, 415),
        ({"raw": b'{"a": "' + b"x" * 70_000 + b'"}'}, 413),
        ({"auth": ""}, 401),
        ({"auth": "Bearer pb_0000_wrong"}, 401),
        ({"auth": "Basic dXNlcjpwYXNz"}, 401),
        ({"key": "has space"}, 400),
        ({"key": "x" * 256}, 400),
    ],
)
def test_malformed_requests_are_refused(
    api: Api, pg_engine: Engine, kwargs: dict[str, Any], status: int
) -> None:
    response = api.post({"campaign_id": 1, "customer_id": "c"}, **kwargs)
    assert response.status_code == status
    assert response.is_json and response.json["error"]
    assert _count(pg_engine) == 0


def test_claims_belong_to_the_operator_so_another_backend_reads_the_same_claim(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    first = api.post({"campaign_id": campaign_id, "customer_id": customer}).json
    other = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine), "other-backend", rate_limit_per_minute=10
    ).key
    read = api.get(f"/v1/claims/{first['id']}", auth=f"Bearer {other}")
    assert read.status_code == 200 and read.json["id"] == first["id"]


def test_a_second_backend_claiming_the_same_customer_gets_the_first_claim_and_its_status_url_works(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    first = api.post({"campaign_id": campaign_id, "customer_id": customer}).json
    mobile = create_client(SqlAlchemyUnitOfWorkFactory(pg_engine), "mobile-backend", rate_limit_per_minute=10)
    other = f"Bearer {mobile.key}"
    second = api.client.post(
        "/v1/claims",
        json={"campaign_id": campaign_id, "customer_id": customer},
        headers={"Authorization": other},
    )
    assert second.status_code == 200 and second.json["id"] == first["id"]
    assert api.get(second.json["status_url"], auth=other).status_code == 200
    assert _count(pg_engine) == 1


def test_campaign_reports_need_a_key_with_the_campaigns_read_scope(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    claims_only = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine), "app-backend", rate_limit_per_minute=10
    ).key  # default: claims
    refused = api.get(f"/v1/campaigns/{campaign_id}", auth=f"Bearer {claims_only}")
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    reader = create_client(
        SqlAlchemyUnitOfWorkFactory(pg_engine),
        "crm-dashboard",
        rate_limit_per_minute=10,
        scopes=frozenset({"campaigns:read"}),
    ).key
    allowed = api.get(f"/v1/campaigns/{campaign_id}", auth=f"Bearer {reader}")
    assert allowed.status_code == 200 and allowed.json["campaign_id"] == campaign_id
    # a reports-only key cannot submit claims
    assert (
        api.post({"campaign_id": campaign_id, "customer_id": "x"}, auth=f"Bearer {reader}").status_code == 403
    )


def test_a_client_over_its_rate_limit_gets_429_with_retry_after(pg_engine: Engine) -> None:
    settings = safe_settings()
    app = create_app(settings, pg_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    key = create_client(SqlAlchemyUnitOfWorkFactory(pg_engine), "chatty", rate_limit_per_minute=3).key
    client = app.test_client()
    codes = [
        client.post(
            "/v1/claims",
            json={"campaign_id": 5, "customer_id": "c"},
            headers={"Authorization": f"Bearer {key}"},
        )
        for _ in range(5)
    ]
    assert [r.status_code for r in codes] == [404, 404, 404, 429, 429]
    assert int(codes[-1].headers["Retry-After"]) >= 1


def test_claims_are_still_taken_when_the_rate_limit_store_is_down(
    pg_engine: Engine, simulator: SimulatorServer
) -> None:
    settings = safe_settings(REDIS_URL="redis://127.0.0.1:1/0")
    app = create_app(settings, pg_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    key = create_client(SqlAlchemyUnitOfWorkFactory(pg_engine), "resilient", rate_limit_per_minute=10).key
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    response = app.test_client().post(
        "/v1/claims",
        json={"campaign_id": campaign_id, "customer_id": customer},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 202


def test_with_the_default_settings_a_scheduled_campaign_takes_the_readme_claim(
    api: Api, pg_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = int(sim.create_campaign(20, no_consent_rate=0, fraud_rate=0)["campaign_id"])
    defaults = ingest_config(safe_settings())
    flow = InProcessFlow(pg_engine, simulator_client(simulator.optimove_url), defaults)
    flow.receive(webhook_payload(campaign_id))
    flow.dispatch()
    flow.drain()
    customer = sim.customers(campaign_id)[0]["customer_id"]

    response = api.post(
        {"campaign_id": campaign_id, "customer_id": customer, "session_properties": {"deposit_amount": 120}},
        key="click-8f2c",
    )

    assert response.status_code == 202, response.json


def _hostile_claim(campaign_id: int, customer: str, kind: str) -> bytes:
    start = f'{{"campaign_id": {campaign_id}, "customer_id": "{customer}"'
    bodies = {
        "deeply nested": start + ', "session_properties": {"a": ' + "[" * 1000 + "]" * 1000 + "}}",
        "NaN": start + ', "session_properties": {"deposit": NaN}}',
        "Infinity": start + ', "session_properties": {"deposit": Infinity}}',
        "-Infinity": start + ', "session_properties": {"deposit": -Infinity}}',
        "1e400": start + ', "session_properties": {"deposit": 1e400}}',
        "duplicate key": start + f', "customer_id": "{customer}-other"}}',
        "lone surrogate": start + ', "session_properties": {"note": "\\ud800"}}',
    }
    return bodies[kind].encode()


@pytest.mark.parametrize(
    "kind", ["deeply nested", "NaN", "Infinity", "-Infinity", "1e400", "duplicate key", "lone surrogate"]
)
def test_hostile_json_for_a_claimable_customer_gets_400_and_writes_nothing(
    api: Api, pg_engine: Engine, simulator: SimulatorServer, kind: str
) -> None:
    campaign_id = claim_mode_campaign(pg_engine, simulator, 5, no_consent_rate=0, fraud_rate=0)
    customer = SimControl(simulator.url).customers(campaign_id)[0]["customer_id"]
    response = api.post(None, raw=_hostile_claim(campaign_id, customer, kind))
    assert response.status_code == 400 and response.json["error"] == "bad_request"
    assert _count(pg_engine) == 0 and not api.publisher.sent


def test_a_session_property_beyond_a_signed_64_bit_integer_is_refused_naming_it(api: Api) -> None:
    response = api.post({"campaign_id": 7, "customer_id": "c", "session_properties": {"deposit": 2**64}})
    assert response.status_code == 422
    assert response.json["details"][0]["field"].startswith("session_properties.deposit")


@pytest.mark.parametrize("claim_id", ["%00", "abc%00def", "%01", "%7F", "%E2%80%A8", "x" * 5000])
def test_a_claim_id_with_control_characters_or_absurd_length_is_not_found(api: Api, claim_id: str) -> None:
    response = api.get(f"/v1/claims/{claim_id}")
    assert response.status_code == 404 and response.json["error"] == "not_found"


def test_a_key_id_with_a_nul_character_is_unauthorized_not_a_server_error(api: Api) -> None:
    response = api.get("/v1/claims/123", auth="Bearer pb_ab\x00cd_secretsecret")
    assert response.status_code == 401 and response.json["error"] == "unauthorized"


@pytest.mark.parametrize("campaign_id", ["0", str(2**63), "9" * 40])
def test_a_campaign_id_outside_a_signed_bigint_is_not_found(any_engine: Engine, campaign_id: str) -> None:
    app = create_app(safe_settings(), any_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(any_engine),
        "reader",
        rate_limit_per_minute=100,
        scopes=frozenset({"campaigns:read"}),
    ).key
    response = app.test_client().get(
        f"/v1/campaigns/{campaign_id}", headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 404 and response.json["error"] == "not_found"  # type: ignore[index]


def test_a_revoked_key_is_refused_once_the_key_cache_forgets_it(pg_engine: Engine) -> None:
    import time

    from app.services.clients import revoke_client

    app = create_app(safe_settings(CLAIMS_KEY_CACHE_SECONDS=0.5), pg_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    uow = SqlAlchemyUnitOfWorkFactory(pg_engine)
    key = create_client(uow, "soon-revoked", rate_limit_per_minute=100).key
    client = app.test_client()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get(f"/v1/claims/{uuid.uuid4()}", headers=headers).status_code == 404  # authenticated
    assert revoke_client(uow, "soon-revoked")
    assert client.get(f"/v1/claims/{uuid.uuid4()}", headers=headers).status_code == 404  # still trusted
    time.sleep(0.6)
    assert client.get(f"/v1/claims/{uuid.uuid4()}", headers=headers).status_code == 401
