"""The admin API on PostgreSQL: campaign settings, releases, the pause and rules; admin scope only; bad
input answered 4xx with a JSON error and nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from app.adapters.db.tables import metadata
from app.clock import utcnow
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.services.clients import create_client
from app.web import create_app
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

CAMPAIGN = 1359


class Admin:
    def __init__(self, client: FlaskClient, key: str, reader_key: str) -> None:
        self.client, self.key, self.reader_key = client, key, reader_key

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        headers = {"Authorization": f"Bearer {key or self.key}"}
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        return self.client.open(path, method=method, data=data, headers=headers, content_type=content_type)


@pytest.fixture
def admin(pg_engine: Engine) -> Iterator[Admin]:
    app = create_app(safe_settings(), pg_engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    uow = SqlAlchemyUnitOfWorkFactory(pg_engine)
    key = create_client(uow, "ops", rate_limit_per_minute=1000, scopes=frozenset({"admin"})).key
    reader = create_client(
        uow, "reader", rate_limit_per_minute=1000, scopes=frozenset({"campaigns:read"})
    ).key
    yield Admin(app.test_client(), key, reader)
    app.config["PROMOBRIDGE_SERVICES"].close()


def digest(engine: Engine) -> tuple[object, ...]:
    parts = ", ".join(
        f"(SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM {table.name} t)"
        for table in metadata.sorted_tables
    )
    with engine.connect() as conn:
        return tuple(conn.execute(text(f"SELECT {parts}")).one())


def ingesting_campaign(engine: Engine, *, mode: CampaignMode = CampaignMode.CLAIM, rows: int = 0) -> None:
    with writing(engine) as uow:
        uow.campaigns.add(NewCampaign(CAMPAIGN, mode, None, None, 100, mode_from="environment"), now=utcnow())
        if rows:
            uow.campaigns.add_page_counters(
                CAMPAIGN, rows=rows, eligible=rows, scrubbed=0, last_page=None, now=utcnow()
            )


def test_settings_put_before_the_webhook_are_stored_for_that_campaign_id(admin: Admin) -> None:
    change = {"mode": "auto", "max_rewards": 50, "max_reward_amount": 1000.5, "notes": "spring"}
    answer = admin.call("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", change)

    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["announced"] is False
    own = {k: body["own"][k] for k in ("mode", "max_rewards", "max_reward_amount", "notes", "updated_by")}
    assert own == {"mode": "auto", "max_rewards": 50, "max_reward_amount": "1000.5000", "notes": "spring",
                   "updated_by": "api:ops"}  # fmt: skip
    assert body["effective"]["mode"] == "auto" and body["effective"]["sources"]["max_rewards"] == "settings"
    assert admin.call("GET", f"/v1/campaigns/{CAMPAIGN}/settings").json == body


def test_null_clears_a_setting_and_a_field_left_out_keeps_its_value(admin: Admin) -> None:
    admin.call("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_rewards": 50, "max_audience": 10})

    body = admin.call("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_rewards": None}).json

    assert (body["own"]["max_rewards"], body["own"]["max_audience"]) == (None, 10)


def test_a_mode_change_after_claims_started_is_refused_with_409_and_changes_nothing(
    admin: Admin, pg_engine: Engine
) -> None:
    ingesting_campaign(pg_engine)
    with writing(pg_engine) as uow:
        uow.campaigns.finish_ingest(CAMPAIGN, CampaignState.READY, now=utcnow())
    before = digest(pg_engine)

    answer = admin.call("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"mode": "auto"})

    assert answer.status_code == 409 and answer.json["error"] == "settings_refused"
    assert "cannot change after approvals or claims have started" in answer.json["message"]
    assert digest(pg_engine) == before


def test_lowering_max_audience_holds_a_live_campaign_and_release_lifts_it(
    admin: Admin, pg_engine: Engine
) -> None:
    ingesting_campaign(pg_engine, rows=500)

    held = admin.call("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_audience": 100}).json
    assert held["hold"].startswith("safeguard:max_audience: 500 customers ingested")
    report = admin.call("GET", f"/v1/campaigns/{CAMPAIGN}").json
    assert report["hold"] == held["hold"] and report["safeguard_trips"] == {"safeguard:max_audience": 1}

    released = admin.call("POST", f"/v1/campaigns/{CAMPAIGN}/release")
    assert released.status_code == 200 and released.json == {"campaign_id": CAMPAIGN, "released": True}
    assert admin.call("POST", f"/v1/campaigns/{CAMPAIGN}/release").json["released"] is False
    assert admin.call("POST", "/v1/campaigns/404/release").status_code == 404


def test_the_pause_is_set_read_and_lifted_and_shows_in_the_campaign_report(
    admin: Admin, pg_engine: Engine
) -> None:
    ingesting_campaign(pg_engine)
    assert admin.call("GET", "/v1/pause").json["paused"] is False

    paused = admin.call("PUT", "/v1/pause", {"paused": True, "reason": "incident 42"}).json
    assert (paused["paused"], paused["changed"], paused["by"], paused["reason"]) == (
        True,
        True,
        "api:ops",
        "incident 42",
    )
    assert admin.call("GET", f"/v1/campaigns/{CAMPAIGN}").json["paused"] is True
    assert admin.call("PUT", "/v1/pause", {"paused": True}).json["changed"] is False

    resumed = admin.call("PUT", "/v1/pause", {"paused": False}).json
    assert (resumed["paused"], resumed["changed"]) == (False, True)


def test_rules_are_put_listed_and_deleted_by_url_encoded_pattern(admin: Admin) -> None:
    saved = admin.call(
        "PUT", "/v1/settings/rules/WELCOME%2A", {"priority": 5, "mode": "claim", "max_rewards": 7}
    )
    assert saved.status_code == 200
    assert {k: saved.json[k] for k in ("pattern", "priority", "mode", "max_rewards", "updated_by")} == {
        "pattern": "WELCOME*", "priority": 5, "mode": "claim", "max_rewards": 7, "updated_by": "api:ops"
    }  # fmt: skip
    assert [r["pattern"] for r in admin.call("GET", "/v1/settings/rules").json["rules"]] == ["WELCOME*"]
    effective = admin.call("GET", f"/v1/campaigns/{CAMPAIGN}/settings").json["effective"]
    assert effective["max_rewards"] is None  # the campaign's promo code is not known yet

    assert admin.call("DELETE", "/v1/settings/rules/WELCOME%2A").json == {"deleted": "WELCOME*"}
    assert admin.call("DELETE", "/v1/settings/rules/WELCOME%2A").status_code == 404


def test_only_an_admin_key_may_use_the_admin_api(admin: Admin, pg_engine: Engine) -> None:
    before = digest(pg_engine)
    for method, path, body in [
        ("GET", "/v1/pause", None),
        ("PUT", "/v1/pause", {"paused": True}),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_rewards": 1}),
        ("PUT", "/v1/settings/rules/X", {}),
    ]:
        answer = admin.call(method, path, body, key=admin.reader_key)
        assert answer.status_code == 403, (method, path)
        assert admin.call(method, path, body, key="pb_nope_nope").status_code == 401
    assert digest(pg_engine) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"mode": "sometimes"}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_rewards": -1}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_rewards": 1.5}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_reward_amount": "10"}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"max_reward_amount": 1e20}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", {"surprise": 1}, 422),
        ("PUT", f"/v1/campaigns/{CAMPAIGN}/settings", [1], 400),
        ("PUT", "/v1/campaigns/0/settings", {"max_rewards": 1}, 404),
        ("PUT", "/v1/pause", {"paused": "yes"}, 422),
        ("PUT", "/v1/pause", {}, 422),
        ("PUT", "/v1/settings/rules/X", {"priority": 2**40}, 422),
        ("PUT", "/v1/settings/rules/" + "x" * 129, {}, 404),
        ("DELETE", "/v1/settings/rules/nothing", None, 404),
    ],
)
def test_bad_input_is_answered_with_a_json_error_and_writes_nothing(
    admin: Admin, pg_engine: Engine, method: str, path: str, body: Any, status: int
) -> None:
    before = digest(pg_engine)

    answer = admin.call(method, path, body)

    assert answer.status_code == status, answer.json
    assert answer.json["error"] and answer.json["message"]
    assert digest(pg_engine) == before


def test_a_body_not_sent_as_json_is_415(admin: Admin) -> None:
    answer = admin.call("PUT", "/v1/pause", raw=b"paused=1", content_type="text/plain")
    assert answer.status_code == 415


def test_every_admin_operation_is_in_the_openapi_document(admin: Admin) -> None:
    document = admin.client.get("/openapi.json").json
    operations = {(path, method) for path, ops in document["paths"].items() for method in ops}

    assert {
        ("/v1/campaigns/{campaign_id}/settings", "get"), ("/v1/campaigns/{campaign_id}/settings", "put"),
        ("/v1/campaigns/{campaign_id}/release", "post"), ("/v1/pause", "get"), ("/v1/pause", "put"),
        ("/v1/settings/rules", "get"), ("/v1/settings/rules/{pattern}", "put"),
        ("/v1/settings/rules/{pattern}", "delete"),
    } <= operations  # fmt: skip
    assert document["paths"]["/v1/pause"]["put"]["security"] == [{"clientKey": ["admin"]}]


def test_a_report_read_shows_no_hold_and_nothing_reserved_by_default(admin: Admin, pg_engine: Engine) -> None:
    ingesting_campaign(pg_engine)
    report = admin.call("GET", f"/v1/campaigns/{CAMPAIGN}").json
    assert (report["hold"], report["rewards_reserved"], report["amount_reserved"], report["mode_from"]) == (
        None, 0, "0.0000", "environment"
    )  # fmt: skip
    with reading(pg_engine) as uow:
        assert uow.switches.get("pause") is None
