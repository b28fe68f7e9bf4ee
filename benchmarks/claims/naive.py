"""The naive pipeline, a baseline of section (b): the per-claim design that batching replaces.

Three chained Celery tasks per claim, each making one HTTP call to the simulator and one UPDATE +
COMMIT of the claim's row: validateCustomers with one context, one grant to the simulated operator
endpoint, one UpdateCustomerPromotionStatus with one status. The tasks run on promobridge's own
worker (`--include benchmarks.claims.naive`), so the baseline has the broker, pool and settings the
claims have. The claim rows live in the skeleton's database, which no promobridge process reads.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypedDict

import redis
import requests
from celery import Celery, chain, shared_task
from sqlalchemy import Engine, text

from app.adapters.db.dialect import build_engine
from app.adapters.db.tables import claims
from app.clock import utcnow
from benchmarks.noop_tasks import CHAINS_DONE_KEY, mark_chain_done, wait_for_chains

VALIDATE_TASK = "promobridge.bench.naive_validate"
GRANT_TASK = "promobridge.bench.naive_grant"
STATUS_TASK = "promobridge.bench.naive_status"
HTTP_TIMEOUT_SECONDS = 10.0
STATUS_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_UPDATE = text("UPDATE claims SET state = :state, updated_at = :now WHERE id = :id")
_engines: dict[str, Engine] = {}
_sessions: dict[str, requests.Session] = {}


class NaiveTarget(TypedDict):
    """Where the naive tasks call and write (sent with every task: the worker knows none of it)."""

    database_url: str
    simulator_url: str
    api_key: str
    campaign_id: int
    promo_code: str


@shared_task(name=VALIDATE_TASK)
def naive_validate(claim_id: str, customer_id: str, target: NaiveTarget) -> None:
    """validateCustomers for one customer, then record the claim validated."""
    body = {
        "contexts": [{"customerId": customer_id, "sessionProperties": {}}],
        "campaignData": {"campaignId": str(target["campaign_id"])},
    }
    _post(target, f"/optipromo/v1/promocodes/{target['promo_code']}/validateCustomers", body)
    _record(target, claim_id, "validated")


@shared_task(name=GRANT_TASK)
def naive_grant(claim_id: str, customer_id: str, target: NaiveTarget) -> None:
    """One grant to the simulated operator platform, then record the claim activated."""
    body = {"claim_id": claim_id, "campaign_id": target["campaign_id"], "customer_id": customer_id}
    _post(target, "/_operator/grants", body, headers={"Idempotency-Key": claim_id})
    _record(target, claim_id, "activated")


@shared_task(name=STATUS_TASK)
def naive_status(claim_id: str, customer_id: str, target: NaiveTarget) -> None:
    """UpdateCustomerPromotionStatus with one status, then record the claim completed."""
    body = {
        "TimeStamp": utcnow().strftime(STATUS_TIMESTAMP_FORMAT),
        "CampaignID": target["campaign_id"],
        "PromosUpdated": [{"CustomerID": customer_id, "Status": True}],
    }
    _post(target, "/current/integrations/UpdateCustomerPromotionStatus", body)
    _record(target, claim_id, "completed")
    mark_chain_done()


def _post(
    target: NaiveTarget, path: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> None:
    session = _sessions.get(target["simulator_url"])
    if session is None:  # one keep-alive session per pool child, created there (never across a fork)
        session = _sessions[target["simulator_url"]] = requests.Session()
        session.trust_env = False
        session.headers["X-API-KEY"] = target["api_key"]
    response = session.post(
        f"{target['simulator_url']}{path}", json=body, headers=headers, timeout=HTTP_TIMEOUT_SECONDS
    )
    if response.status_code >= 300:
        raise RuntimeError(f"{path} answered {response.status_code}: {response.text[:200]}")


def _record(target: NaiveTarget, claim_id: str, state: str) -> None:
    engine = _engines.get(target["database_url"])
    if engine is None:
        engine = _engines[target["database_url"]] = build_engine(target["database_url"], pool_size=1)
    with engine.begin() as conn:
        conn.execute(_UPDATE, {"state": state, "now": utcnow(), "id": claim_id})


def insert_claims(engine: Engine, campaign_id: int, count: int, *, now: datetime | None = None) -> list[str]:
    """Pending claim rows for customers 0..count-1 of the campaign; their ids."""
    created = now or utcnow()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    rows = [
        {
            "id": ids[i],
            "source": "bench",
            "campaign_id": campaign_id,
            "customer_id": f"{campaign_id}-{i:07d}",
            "session_properties": {},
            "request_hash": "",
            "state": "pending",
            "created_at": created,
            "updated_at": created,
        }
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(claims.insert(), rows)
    return ids


def run_naive_pipeline(
    producer: Celery,
    broker: redis.Redis,
    target: NaiveTarget,
    claim_ids: list[str],
    *,
    timeout: float,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Enqueue one three-task chain per claim from one producer; seconds until the last one finished."""
    broker.delete(CHAINS_DONE_KEY)
    started = time.perf_counter()
    for i, claim_id in enumerate(claim_ids):
        args = (claim_id, f"{target['campaign_id']}-{i:07d}", target)
        chain(
            producer.signature(VALIDATE_TASK, args=args, immutable=True),
            producer.signature(GRANT_TASK, args=args, immutable=True),
            producer.signature(STATUS_TASK, args=args, immutable=True),
        ).apply_async()
    return wait_for_chains(
        broker, len(claim_ids), started, timeout=timeout, what="naive pipeline chains", progress=progress
    )
