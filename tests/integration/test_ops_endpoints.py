"""/healthz, /readyz and /metrics on real PostgreSQL and Redis, and what they say when those are down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.adapters.db.dialect import build_engine
from app.adapters.db.tables import claims as claims_table
from app.config import Settings
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimState
from app.observability.db_metrics import DatabaseCollector
from app.observability.metrics import record_webhook
from app.web.ops import install_request_correlation, ops
from tests.support.databases import REDIS_TEST_URL
from tests.support.uow import writing

PASSWORD = "n0t-for-logs"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ops_app(engine: Engine, settings: Settings) -> FlaskClient:
    """What create_app will do: the two config keys, the correlation hooks and the ops blueprint."""
    app = Flask("ops-test")
    app.config["PROMOBRIDGE_SETTINGS"] = settings
    app.config["PROMOBRIDGE_ENGINE"] = engine
    install_request_correlation(app)
    app.register_blueprint(ops)
    return app.test_client()


def settings_with(broker_url: str, data_dir: Path) -> Settings:
    return Settings(CELERY_BROKER_URL=broker_url, PROMOBRIDGE_DATA_DIR=data_dir)


@pytest.fixture
def down_engine() -> Iterator[Engine]:
    """A PostgreSQL engine whose server is not there (with a password that must never show)."""
    engine = build_engine(f"postgresql+psycopg2://promobridge:{PASSWORD}@127.0.0.1:{closed_port()}/nope")
    yield engine
    engine.dispose()


def test_healthz_answers_even_when_everything_is_down(down_engine: Engine, tmp_path: Path) -> None:
    client = ops_app(down_engine, settings_with(f"redis://127.0.0.1:{closed_port()}/0", tmp_path))

    response = client.get("/healthz")

    assert (response.status_code, response.get_json()) == (200, {"status": "ok"})


def test_readyz_is_ready_with_postgres_and_a_redis_broker(pg_engine: Engine, tmp_path: Path) -> None:
    response = ops_app(pg_engine, settings_with(REDIS_TEST_URL, tmp_path)).get("/readyz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "checks": {"database": "ok", "broker": "ok"}}
    assert response.headers["X-Request-ID"]


def test_readyz_names_the_database_when_it_is_down(down_engine: Engine, tmp_path: Path) -> None:
    response = ops_app(down_engine, settings_with(REDIS_TEST_URL, tmp_path)).get("/readyz")

    body = response.get_json()
    assert response.status_code == 503
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database"]
    assert body["checks"]["broker"] == "ok"
    assert body["checks"]["database"].startswith("error: ")
    assert PASSWORD not in response.get_data(as_text=True)


def test_readyz_names_the_broker_when_redis_is_down(pg_engine: Engine, tmp_path: Path) -> None:
    broker = f"redis://:{PASSWORD}@127.0.0.1:{closed_port()}/0"

    response = ops_app(pg_engine, settings_with(broker, tmp_path)).get("/readyz")

    body = response.get_json()
    assert response.status_code == 503
    assert (body["failing"], body["checks"]["database"]) == (["broker"], "ok")
    assert body["checks"]["broker"].startswith("error: ")
    assert PASSWORD not in response.get_data(as_text=True)


def test_readyz_checks_the_embedded_brokers_folder(sqlite_engine: Engine, tmp_path: Path) -> None:
    settings = settings_with("", tmp_path)
    client = ops_app(sqlite_engine, settings)

    missing = client.get("/readyz")
    settings.broker_folder.mkdir(parents=True)
    present = client.get("/readyz")

    assert (missing.status_code, missing.get_json()["failing"]) == (503, ["broker"])
    assert present.status_code == 200
    assert list(settings.broker_folder.iterdir()) == []  # the probe file is gone


def _seed(engine: Engine) -> None:
    """Two campaigns (one at risk), four claims, three outbox rows of which one sent."""
    with writing(engine) as uow:
        for campaign_id, mode in ((1, CampaignMode.AUTO), (2, CampaignMode.CLAIM)):
            uow.campaigns.add(
                NewCampaign(
                    id=campaign_id, mode=mode, clearance_required_by=NOW + timedelta(hours=1),
                    event_timestamp=NOW, page_size=100,
                ),
                now=NOW - timedelta(minutes=10),
            )  # fmt: skip
        uow.campaigns.mark_at_risk(1, now=NOW)
        uow.campaigns.finish_ingest(2, CampaignState.READY, now=NOW)
        for n, state in enumerate(["pending", "pending", "rejected", "completed"]):
            uow.connection.execute(
                claims_table.insert().values(
                    id=f"claim-{n}", client_id=None, source="http", campaign_id=2, customer_id=f"C{n}",
                    session_properties={}, request_hash="h", state=state, created_at=NOW, updated_at=NOW,
                )
            )  # fmt: skip
        uow.outbox.enqueue_statuses(1, ["A", "B"], deadline=None, now=NOW - timedelta(seconds=90))
        uow.outbox.enqueue_statuses(1, ["C"], deadline=None, now=NOW - timedelta(seconds=30))
    with writing(engine) as uow:
        batch = uow.outbox.claim_batch(now=NOW, limit=1, lease=timedelta(minutes=1))
        assert batch is not None and batch.customers == [("A", True)]
        uow.outbox.mark_sent(batch, now=NOW)


def _gauges(collector: DatabaseCollector) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (sample.name, tuple(sample.labels.values())): sample.value
        for family in collector.collect()
        for sample in family.samples
    }


@pytest.mark.parametrize("engine_fixture", ["pg_engine", "sqlite_engine"])
def test_the_database_collector_reports_claims_campaigns_and_the_outbox(
    engine_fixture: str, request: pytest.FixtureRequest
) -> None:
    engine: Engine = request.getfixturevalue(engine_fixture)
    _seed(engine)

    gauges = _gauges(DatabaseCollector(engine, clock=lambda: NOW))

    assert gauges[("promobridge_scrape_error", ())] == 0
    assert gauges[("promobridge_claims", (ClaimState.PENDING.value,))] == 2
    assert gauges[("promobridge_claims", ("rejected",))] == 1
    assert gauges[("promobridge_claims", ("completed",))] == 1
    assert gauges[("promobridge_claims", ("failed",))] == 0  # every state is exported
    assert gauges[("promobridge_campaigns", ("ingesting",))] == 1
    assert gauges[("promobridge_campaigns", ("ready",))] == 1
    assert gauges[("promobridge_campaigns_at_deadline_risk", ())] == 1
    assert gauges[("promobridge_outbox_pending", ())] == 2
    assert gauges[("promobridge_outbox_oldest_pending_age_seconds", ())] == pytest.approx(90)


def test_metrics_serves_counters_and_database_gauges(pg_engine: Engine, tmp_path: Path) -> None:
    _seed(pg_engine)
    record_webhook("scheduled")

    response = ops_app(pg_engine, settings_with(REDIS_TEST_URL, tmp_path)).get("/metrics")

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    names = {family.name for family in text_string_to_metric_families(response.get_data(as_text=True))}
    assert {"promobridge_webhooks_received", "promobridge_claims", "promobridge_outbox_pending"} <= names
    assert "promobridge_scrape_error 0.0" in response.get_data(as_text=True)


def test_metrics_still_answers_when_the_database_is_down(down_engine: Engine, tmp_path: Path) -> None:
    response = ops_app(down_engine, settings_with(REDIS_TEST_URL, tmp_path)).get("/metrics")

    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "promobridge_scrape_error 1.0" in text
    assert "promobridge_claims{" not in text
    assert "promobridge_webhooks_received_total" in text


def test_metrics_speaks_openmetrics_when_the_scraper_asks(pg_engine: Engine, tmp_path: Path) -> None:
    client = ops_app(pg_engine, settings_with(REDIS_TEST_URL, tmp_path))

    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})

    assert response.headers["Content-Type"].startswith("application/openmetrics-text")
    assert response.get_data(as_text=True).endswith("# EOF\n")
