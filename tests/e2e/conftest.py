"""The whole stack as real processes: simulator, gunicorn web, Celery worker on Redis, relay, PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from sqlalchemy import Engine

from app.security import fresh_secrets_env
from benchmarks.stack import ProcessGroup, free_port, http_ready, wait_until
from tests.support.databases import migrated_engine, redis_test_url, throwaway_postgres_database
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import reading

E2E_REDIS_URL = redis_test_url(11)
E2E_SECRETS = fresh_secrets_env()  # the simulator below accepts this run's OPTIMOVE_API_KEY
LISTENER_TOKEN = E2E_SECRETS["LISTENER_TOKEN"]
CLAIM_CAMPAIGN_ID = 5001  # configured as a claim-mode campaign (CAMPAIGN_MODES)
# Small pages and batches so that a 20,000-customer campaign needs more calls than the rate limit allows
# in one window, which makes the shared limiter do real work.
E2E_SETTINGS = {
    "DEFAULT_CAMPAIGN_MODE": "auto",  # flow A's approvals; CLAIM_CAMPAIGN_ID takes claims
    "OPTIMOVE_PAGE_SIZE": "1000",
    "OPTIMOVE_STATUS_BATCH_SIZE": "1000",
    "OPTIMOVE_RATE_LIMIT": "20",
    "OPTIMOVE_RATE_WINDOW_SECONDS": "2",
    "OPTIMOVE_TIMEOUT_SECONDS": "1.5",
    "SWEEP_STALE_AFTER_SECONDS": "30",
    "SWEEP_INTERVAL_SECONDS": "2",
    "RETRY_BACKOFF_BASE_SECONDS": "0.5",
    "RETRY_BACKOFF_MAX_SECONDS": "4",
    "RELAY_IDLE_SLEEP_SECONDS": "0.2",
}


@dataclass
class Stack:
    """A running promobridge deployment plus handles to inspect it."""

    processes: ProcessGroup
    engine: Engine
    sim: SimControl
    web_url: str

    def api_key(self, name: str = "e2e-backend") -> str:
        return self.processes.run("clients", "create", name, "--rate-limit-per-minute", "100000").strip()

    def campaign_report(self, campaign_id: int) -> dict[str, object]:
        return dict(json.loads(self.processes.run("campaigns", "show", str(campaign_id), "--json")))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Remember each phase's outcome so the stack fixture can print the process logs of a failed test."""
    outcome = yield
    setattr(item, f"rep_{call.when}", outcome.get_result())  # type: ignore[attr-defined]


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    """Start every process; stop them all afterwards (their logs are printed if the test failed)."""
    redis.Redis.from_url(E2E_REDIS_URL).flushdb()
    sim_port, web_port = free_port(), free_port()
    with throwaway_postgres_database("promobridge_e2e") as database_url:
        env = {
            **E2E_SETTINGS,
            **E2E_SECRETS,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": E2E_REDIS_URL,
            "OPTIMOVE_API_URL": f"http://127.0.0.1:{sim_port}/current",
            "OPTIPROMO_API_URL": f"http://127.0.0.1:{sim_port}/optipromo",
            "CAMPAIGN_MODES": f"{CLAIM_CAMPAIGN_ID}:claim",
            "PROMOBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "PROMOBRIDGE_DATA_DIR": str(tmp_path / "data"),
        }
        marker = request.node.get_closest_marker("stack_env")
        simulator_url = f"http://127.0.0.1:{sim_port}"
        env.update(
            {k: str(v).format(simulator=simulator_url) for k, v in (marker.kwargs if marker else {}).items()}
        )
        group = ProcessGroup(env, tmp_path)
        engine = migrated_engine(database_url)
        try:
            sim_key = ["--api-key", env["OPTIMOVE_API_KEY"]]
            group.start("simulator", ["simulator", "--port", str(sim_port), "--rate-limit", "20/2", *sim_key])
            group.start("web", ["web", "--port", str(web_port), "--workers", "2"])
            group.start("worker", ["worker", "-c", "2"])
            group.start("relay", ["relay"])
            wait_until(
                http_ready(f"http://127.0.0.1:{sim_port}/_sim/state"), timeout=30, what="the simulator"
            )
            wait_until(http_ready(f"http://127.0.0.1:{web_port}/healthz"), timeout=30, what="the web process")
            yield Stack(
                group, engine, SimControl(f"http://127.0.0.1:{sim_port}"), f"http://127.0.0.1:{web_port}"
            )
        except BaseException:
            print(group.logs())
            raise
        else:
            report = getattr(request.node, "rep_call", None)
            if report is not None and report.failed:
                print(group.logs())
        finally:
            group.stop_all()
            engine.dispose()


def ready_claim_campaign(stack: Stack, size: int, *, no_consent_rate: float = 0.1) -> list[str]:
    """Register, create and fire the claim campaign; once ingested, its eligible customers' ids."""
    stack.processes.run("register")
    stack.sim.create_campaign(
        size, campaign_id=CLAIM_CAMPAIGN_ID, no_consent_rate=no_consent_rate, fraud_rate=0.05
    )
    stack.sim.fire(CLAIM_CAMPAIGN_ID)

    def ready() -> bool:
        with reading(stack.engine) as uow:
            campaign = uow.campaigns.get(CLAIM_CAMPAIGN_ID)
        return campaign is not None and campaign.state.value == "ready"

    wait_until(ready, timeout=60, what="the claim campaign to be ingested")
    return [
        c["customer_id"]
        for c in stack.sim.customers(CLAIM_CAMPAIGN_ID)
        if expected_scrub_reason(c["attributes"]) is None
    ]
