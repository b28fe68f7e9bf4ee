"""The Optimove listener endpoint: authenticated, validated, deduplicated; bad input writes nothing."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select

from app.adapters.db.tables import inbox_events
from app.web import create_app
from tests.support.secrets import STRONG_TOKEN, safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading

TOKEN = STRONG_TOKEN
SECRET = "hmac-secret"


def _client(engine: Engine, **overrides: Any) -> FlaskClient:
    settings = safe_settings(**{"LISTENER_TOKEN": TOKEN, "WEBHOOK_MAX_BYTES": 4096, **overrides})
    return create_app(settings, engine).test_client()


# Fixed when the module loads, so that two deliveries of "the same" event agree to the second.
_NOW = datetime.now(UTC).replace(microsecond=0)


def _in(hours: float) -> str:
    """A ClearanceRequiredBy `hours` from the module's now, as Optimove writes it."""
    return (_NOW + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M:%S")


def _event(**extra: Any) -> dict[str, Any]:
    return {
        "EventTypeID": 5,
        "TimeStamp": "2026-11-25 08:30",
        "CampaignID": 1359,
        "ClearanceRequiredBy": _in(0.5),
        **extra,
    }


def _rows(engine: Engine) -> int:
    with reading(engine) as uow:
        return uow.inbox.count()


def test_a_valid_event_is_stored_with_its_raw_body_and_extra_keys(pg_engine: Engine) -> None:
    body = json.dumps(_event(ChannelID=7, CampaignID="1359", EventTypeID="5"))
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=body, content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json == {"status": "accepted", "event_type_id": 5, "campaign_id": 1359}
    with reading(pg_engine) as uow:
        row = uow.connection.execute(select(inbox_events)).mappings().one()
    assert row["raw_body"] == body and row["payload"]["ChannelID"] == 7
    assert row["dedupe_key"].startswith("5:1359:") and row["conflict_of"] is None


def test_a_redelivered_event_is_acknowledged_and_stored_once(any_engine: Engine) -> None:
    client = _client(any_engine)
    first = client.post(f"/webhooks/optimove/{TOKEN}", json=_event())
    second = client.post(f"/webhooks/optimove/{TOKEN}", json=_event(TimeStamp="2026-11-25 08:31"))
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.json["status"] == "duplicate"  # type: ignore[index]
    assert _rows(any_engine) == 1


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[1, 2]", 400, "bad_request"),
        (b"\xff\xfe", 400, "bad_request"),
        (
            json.dumps({"EventTypeID": 5, "ClearanceRequiredBy": "2026-11-25 09:00"}).encode(),
            400,
            "invalid_event",
        ),
        (json.dumps(_event(CampaignID="abc")).encode(), 400, "invalid_event"),
        (json.dumps(_event(CampaignID=-4)).encode(), 400, "invalid_event"),
        (json.dumps(_event(ClearanceRequiredBy="next tuesday")).encode(), 400, "invalid_event"),
        (json.dumps({"EventTypeID": 5, "CampaignID": 7}).encode(), 400, "invalid_event"),
        (json.dumps({"EventTypeID": 11, "CampaignID": 7}).encode(), 422, "unsupported_event"),
    ],
)
def test_malformed_events_get_a_4xx_json_error_and_write_nothing(
    pg_engine: Engine, body: bytes, status: int, error: str
) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=body, content_type="application/json"
    )
    assert response.status_code == status
    assert response.json is not None and response.json["error"] == error and response.json["message"]
    assert _rows(pg_engine) == 0


def test_a_wrong_token_is_rejected_and_writes_nothing(pg_engine: Engine) -> None:
    response = _client(pg_engine).post("/webhooks/optimove/guessed-token", json=_event())
    assert response.status_code == 401 and response.json["error"] == "unauthorized"  # type: ignore[index]
    assert _rows(pg_engine) == 0


@pytest.mark.parametrize("chunked", [False, True])
def test_an_oversized_body_gets_413_and_writes_nothing(pg_engine: Engine, chunked: bool) -> None:
    body = json.dumps(_event(Padding="x" * 10_000)).encode()
    url = f"/webhooks/optimove/{TOKEN}"
    if chunked:  # no Content-Length: the limit must hold while streaming
        response = _client(pg_engine).post(
            url,
            input_stream=io.BytesIO(body),
            content_type="application/json",
            headers={"Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )
    else:
        response = _client(pg_engine).post(url, data=body, content_type="application/json")
    assert response.status_code == 413
    assert response.json is not None and response.json["error"] == "request_entity_too_large"
    assert _rows(pg_engine) == 0


def test_with_a_secret_configured_the_signature_is_required(pg_engine: Engine) -> None:
    client = _client(pg_engine, WEBHOOK_HMAC_SECRET=SECRET)
    body = json.dumps(_event()).encode()
    good = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    bad = "sha256=" + hmac.new(b"other", body, hashlib.sha256).hexdigest()
    url = f"/webhooks/optimove/{TOKEN}"

    assert client.post(url, data=body, content_type="application/json").status_code == 401
    assert (
        client.post(
            url, data=body, content_type="application/json", headers={"X-Optimove-Signature": bad}
        ).status_code
        == 401
    )
    assert _rows(pg_engine) == 0
    assert (
        client.post(
            url, data=body, content_type="application/json", headers={"X-Optimove-Signature": good}
        ).status_code
        == 200
    )
    assert _rows(pg_engine) == 1


def test_a_cancel_event_needs_no_deadline(pg_engine: Engine) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", json={"EventTypeID": 4, "CampaignID": 12}
    )
    assert response.status_code == 200 and _rows(pg_engine) == 1


def test_the_database_being_down_gives_503_not_500(tmp_path: Any) -> None:
    from app.adapters.db.dialect import build_engine

    dead = build_engine("postgresql+psycopg2://postgres@127.0.0.1:1/none")
    response = _client(dead).post(f"/webhooks/optimove/{TOKEN}", json=_event())
    assert response.status_code == 503 and response.json["error"] == "service_unavailable"  # type: ignore[index]


# A differing event is stored and surfaced, never dropped; deadlines must be sane ------------------


def test_an_event_that_differs_from_the_first_is_stored_apart_surfaced_and_not_acted_on(
    any_engine: Engine,
) -> None:
    client = _client(any_engine)
    first = client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(1)))
    other = client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(2)))
    assert first.json["status"] == "accepted"  # type: ignore[index]
    assert other.status_code == 200 and other.json["status"] == "conflict"  # type: ignore[index]
    assert other.json["differs_in"] == ["ClearanceRequiredBy"]  # type: ignore[index]
    with reading(any_engine) as uow:
        rows = uow.connection.execute(select(inbox_events).order_by(inbox_events.c.id)).mappings().all()
        pending = uow.inbox.claim_for_dispatch(
            now=datetime.now(UTC), stale_before=datetime.now(UTC), limit=10
        )
    assert len(rows) == 2 and rows[1]["conflict_of"] == rows[0]["id"]
    assert rows[1]["processed_at"] is not None and rows[1]["outcome"] == "conflict"
    assert pending == [rows[0]["id"]]  # only the first event is ever handed to a worker
    # the same differing event delivered again is a duplicate of the stored conflict
    again = client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(2)))
    assert again.json["status"] in ("duplicate", "conflict") and _rows(any_engine) == 2  # type: ignore[index]


def test_a_conflicting_event_shows_in_the_campaign_report_and_the_metrics(pg_engine: Engine) -> None:
    from app.observability.metrics import WEBHOOK_CONFLICTS
    from app.services.reports import campaign_report
    from tests.support.flow import ingest_config

    before = WEBHOOK_CONFLICTS._value.get()  # type: ignore[attr-defined]
    client = _client(pg_engine)
    client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(1)))
    client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(3)))
    with reading(pg_engine) as uow:
        first_id = uow.inbox.claim_for_dispatch(
            now=datetime.now(UTC), stale_before=datetime.now(UTC), limit=1
        )
        uow.commit()
    from zoneinfo import ZoneInfo

    from app.adapters.optimove.contract import OptimoveEventContract
    from app.services.ingest import process_inbox_event
    from tests.support.dispatch import RecordingDispatcher

    events = OptimoveEventContract(ZoneInfo("UTC"))
    process_inbox_event(
        SqlAlchemyUnitOfWorkFactory(pg_engine), RecordingDispatcher(), events, ingest_config(), first_id[0]
    )
    report = campaign_report(SqlAlchemyUnitOfWorkFactory(pg_engine), 1359)
    assert report is not None and report.event_conflicts == 1
    assert report.recent_event_conflicts[0]["payload"]["CampaignID"] == 1359
    assert WEBHOOK_CONFLICTS._value.get() == before + 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "deadline", ["0001-01-01 00:00:00", "9999-12-31 23:59:59", "1970-01-01 00:00:00", "2200-01-01 00:00:00"]
)
def test_a_deadline_far_from_now_is_refused_and_writes_nothing(pg_engine: Engine, deadline: str) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=deadline)
    )
    assert response.status_code == 400 and response.json["error"] == "invalid_event"  # type: ignore[index]
    assert "ClearanceRequiredBy" in response.json["message"]  # type: ignore[index]
    assert _rows(pg_engine) == 0


def test_a_forged_early_event_does_not_silently_swallow_the_genuine_one(pg_engine: Engine) -> None:
    client = _client(pg_engine)
    client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(0.1)))  # forged, first
    genuine = client.post(f"/webhooks/optimove/{TOKEN}", json=_event(ClearanceRequiredBy=_in(6)))
    assert genuine.json["status"] != "duplicate"  # type: ignore[index]
    with reading(pg_engine) as uow:
        stored = uow.connection.execute(select(inbox_events.c.raw_body)).scalars().all()
    assert len(stored) == 2


DEEPLY_NESTED = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"EventTypeID": 4, "CampaignID": 12, "Padding": ' + DEEPLY_NESTED + "}", "nested deeper"),
        ('{"EventTypeID": 4, "CampaignID": 12, "Score": NaN}', "NaN"),
        ('{"EventTypeID": 4, "CampaignID": 12, "Score": -Infinity}', "Infinity"),
        ('{"EventTypeID": 4, "CampaignID": 12, "Score": 1e400}', "out of range"),
        ('{"EventTypeID": 4, "CampaignID": 12, "CampaignID": 13}', "more than once"),
        ('{"EventTypeID": 4, "CampaignID": 12, "Note": "\\udc00"}', "surrogate"),
    ],
)
def test_hostile_json_gets_400_naming_the_problem_and_writes_nothing(
    pg_engine: Engine, body: str, problem: str
) -> None:
    client = _client(pg_engine, WEBHOOK_MAX_BYTES=64 * 1024)  # the default: 10,000 levels fit in it
    response = client.post(f"/webhooks/optimove/{TOKEN}", data=body, content_type="application/json")
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "bad_request"
    assert problem in response.json["message"]
    assert _rows(pg_engine) == 0


@pytest.mark.parametrize("campaign_id", [str(2**63), str(2**70), "1e20", "-1e20", "1.5"])
def test_a_campaign_id_outside_a_signed_bigint_is_refused_naming_the_field(
    pg_engine: Engine, campaign_id: str
) -> None:
    body = f'{{"EventTypeID": 4, "CampaignID": {campaign_id}}}'
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json is not None and response.json["error"] == "invalid_event"
    assert "CampaignID" in response.json["message"]
    assert response.json["details"][0]["field"] == "CampaignID"
    assert _rows(pg_engine) == 0


def test_the_largest_signed_bigint_is_still_a_campaign_id(pg_engine: Engine) -> None:
    body = f'{{"EventTypeID": 4, "CampaignID": {2**63 - 1}}}'
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=body, content_type="application/json"
    )
    assert response.status_code == 200 and _rows(pg_engine) == 1


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonp", None]
)
def test_a_body_not_declared_as_json_gets_415_and_writes_nothing(
    pg_engine: Engine, content_type: str | None
) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=json.dumps(_event()), content_type=content_type
    )
    assert response.status_code == 415
    assert response.json is not None and response.json["error"] == "unsupported_media_type"
    assert _rows(pg_engine) == 0


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "Application/JSON"])
def test_json_with_parameters_or_another_case_is_accepted(pg_engine: Engine, content_type: str) -> None:
    response = _client(pg_engine).post(
        f"/webhooks/optimove/{TOKEN}", data=json.dumps(_event()), content_type=content_type
    )
    assert response.status_code == 200 and _rows(pg_engine) == 1


def test_an_operator_can_accept_another_media_type_if_optimove_sends_one(pg_engine: Engine) -> None:
    client = _client(pg_engine, WEBHOOK_EXTRA_CONTENT_TYPES="text/plain")
    response = client.post(
        f"/webhooks/optimove/{TOKEN}", data=json.dumps(_event()), content_type="text/plain; charset=utf-8"
    )
    assert response.status_code == 200 and _rows(pg_engine) == 1


def test_a_signature_with_non_ascii_characters_is_unauthorized_not_a_server_error(pg_engine: Engine) -> None:
    client = _client(pg_engine, WEBHOOK_HMAC_SECRET=SECRET)
    response = client.post(
        f"/webhooks/optimove/{TOKEN}",
        data=json.dumps(_event()),
        content_type="application/json",
        headers={"X-Optimove-Signature": "sha256=\u00e9t\u00e9"},
    )
    assert response.status_code == 401 and _rows(pg_engine) == 0
