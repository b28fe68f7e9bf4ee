"""The hostile-input suite's target: one app on a real, seeded PostgreSQL database, and a witness.

Every request the suite sends goes through `HostileTarget.observe`, which counts it and checks
what must hold for any input whatsoever: no 5xx, errors are JSON with the security headers, a 405
says what is allowed, the gateway refuses on every error, and a 4xx wrote nothing (a digest of
every table, taken before and after the request, is unchanged).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from flask import Flask
from sqlalchemy import Engine, text

from app.adapters.db.tables import metadata
from app.clock import utcnow
from app.config import Settings
from app.domain.audience import OperatorFlags
from app.services.clients import create_client
from app.web import create_app
from app.web.security_headers import SECURITY_HEADERS
from app.web.webhooks import GATEWAY_PATH_PREFIX
from tests.support.dispatch import RecordingDispatcher
from tests.support.secrets import STRONG_TOKEN, safe_settings
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

TOKEN = STRONG_TOKEN
# The OpenAPI document's examples name campaign 1359 and customer C234638: seeded, so that
# schemathesis's example phase reaches a 202 too.
CLAIM_CAMPAIGN_ID = 1359
AUDIENCE = ("c-1", "c-2", "C234638", "c-4")
SCRUBBED_CUSTOMER = "c-no-consent"
MAX_WAIT_SECONDS = 0.05  # a long poll on a pending claim holds a request this long at most
REQUIRED_REQUESTS = 2_000  # issue 7: at least this many across the hypothesis and schemathesis suites


def hostile_settings(data_dir: Path) -> Settings:
    """The settings of the app under attack (the OpenAPI document depends on them too)."""
    return safe_settings(
        LISTENER_TOKEN=TOKEN,
        TRIGGERED_CAMPAIGNS=str(CLAIM_CAMPAIGN_ID),  # seeded through the gateway, which needs it declared
        CLAIMS_MAX_WAIT_SECONDS=MAX_WAIT_SECONDS,
        PROMOBRIDGE_DATA_DIR=str(data_dir),
    )


@dataclass
class Observed:
    """One answer, whichever client produced it."""

    method: str
    path: str
    status: int
    headers: Mapping[str, str]
    body: bytes


@dataclass
class HostileTarget:
    """The app, its database, a client key, known claim ids and the running request count."""

    app: Flask
    engine: Engine
    api_key: str
    claim_ids: tuple[str, ...] = ()
    sent: Counter[str] = field(default_factory=Counter)  # requests observed, by suite

    @property
    def auth(self) -> dict[str, str]:
        """The header of a valid client."""
        return {"Authorization": f"Bearer {self.api_key}"}

    def digest(self) -> tuple[object, ...]:
        """Row count and an order-free hash of every row, per table: any write changes it."""
        parts = ", ".join(
            f"(SELECT count(*) || ':' || coalesce(sum(hashtext(t::text)::bigint), 0) FROM {table.name} t)"
            for table in metadata.sorted_tables
        )
        with reading(self.engine) as uow:
            return tuple(uow.connection.execute(text(f"SELECT {parts}")).one())

    def observe(self, suite: str, send: Callable[[], Observed]) -> Observed:
        """Send one request and check every property that holds whatever the input."""
        before = self.digest()
        answer = send()
        self.sent[suite] += 1
        assert answer.status < 500, f"{answer.status} for {answer.path!r}: {answer.body[:300]!r}"
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers.get(name) == value, f"{name} missing on {answer.status} {answer.path!r}"
        if answer.status >= 400 and answer.method != "HEAD":  # a HEAD answer has no body
            body = json.loads(answer.body)
            assert isinstance(body, dict) and body["error"] and "message" in body, answer.body[:300]
            if unquote(answer.path).startswith(GATEWAY_PATH_PREFIX):  # the app routes the decoded path
                assert body["allowed"] is False, f"the gateway did not fail closed: {body}"
        if answer.status == 405:
            assert answer.headers.get("Allow"), f"405 without Allow for {answer.path!r}"
        if 400 <= answer.status < 500:
            assert self.digest() == before, f"{answer.status} for {answer.path!r} wrote to the database"
        return answer


def seed_target(engine: Engine, data_dir: Path) -> HostileTarget:
    """The app on `engine`, with a client, a claim-mode campaign and its audience, and two claims."""
    (data_dir / "broker").mkdir(parents=True, exist_ok=True)  # /readyz checks the embedded broker
    app = create_app(hostile_settings(data_dir), engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    key = create_client(
        SqlAlchemyUnitOfWorkFactory(engine),
        "fuzzer",
        rate_limit_per_minute=10_000_000,
        scopes=frozenset({"claims", "campaigns:read", "customers:read"}),
    ).key
    with writing(engine) as uow:
        uow.operator_data.save([(SCRUBBED_CUSTOMER, OperatorFlags(consent=False))], now=utcnow())
    client = app.test_client()
    for customer in (*AUDIENCE, SCRUBBED_CUSTOMER):  # the gateway records them in a claim-mode campaign
        call = {"user": {"user_id": customer}, "campaign": {"id": CLAIM_CAMPAIGN_ID}}
        answer = client.post(f"/webhooks/optimove/triggered/{TOKEN}", json=call)
        assert answer.status_code == 200, answer.data
    claim_ids = []
    for customer in (AUDIENCE[0], SCRUBBED_CUSTOMER):  # one pending claim, one rejected at once
        answer = client.post(
            "/v1/claims",
            json={"campaign_id": CLAIM_CAMPAIGN_ID, "customer_id": customer},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 202, answer.data
        claim_ids.append(answer.get_json()["id"])
    return HostileTarget(app, engine, key, tuple(claim_ids))


def as_observed(method: str, path: str, status: int, headers: Mapping[str, Any], body: bytes) -> Observed:
    """An answer from any client, headers flattened to one value each."""
    flat = {name: value[0] if isinstance(value, list) else value for name, value in headers.items()}
    return Observed(method, path, status, _CaseInsensitive(flat), body)


class _CaseInsensitive(dict[str, str]):
    """Header lookup regardless of case (Werkzeug's and requests' own maps are not shared here)."""

    def __init__(self, items: Mapping[str, str]) -> None:
        super().__init__({name.lower(): value for name, value in items.items()})

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)
