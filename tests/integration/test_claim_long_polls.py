"""GET /v1/claims/<id>?wait=: woken by the claim's final state, not by a query loop, and capped."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Engine, event

from app.config import Settings
from app.domain.claims import ClaimState
from app.services.claim_recovery import fail_claims
from app.services.clients import create_client
from app.web import WebServices, create_app
from benchmarks.stack import wait_until
from tests.support.claim_rows import insert_claims
from tests.support.dispatch import RecordingDispatcher
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

PATIENCE = 10.0


class Backend:
    """One API client of a web app built on the test's database."""

    def __init__(self, app: Flask, engine: Engine, name: str) -> None:
        issued = create_client(SqlAlchemyUnitOfWorkFactory(engine), name, rate_limit_per_minute=10_000)
        self.app, self.client_id, self.key = app, issued.client_id, issued.key

    def get(self, path: str) -> Any:
        return self.app.test_client().get(path, headers={"Authorization": f"Bearer {self.key}"})

    def poll_in_thread(self, claim_id: str, wait: float) -> tuple[threading.Thread, list[Any]]:
        answers: list[Any] = []
        thread = threading.Thread(
            target=lambda: answers.append(self.get(f"/v1/claims/{claim_id}?wait={wait}"))
        )
        thread.start()
        return thread, answers


@contextmanager
def _app(engine: Engine, **settings: object) -> Iterator[Flask]:
    app = create_app(Settings(**settings), engine, publisher=RecordingDispatcher())  # type: ignore[arg-type]
    try:
        yield app
    finally:
        _services(app).close()


def _services(app: Flask) -> WebServices:
    services: WebServices = app.config["PROMOBRIDGE_SERVICES"]
    return services


def _until(condition: Any, what: str) -> None:
    wait_until(condition, timeout=PATIENCE, interval=0.01, what=what)


@pytest.fixture
def app(pg_engine: Engine) -> Iterator[Flask]:
    with _app(pg_engine, CLAIMS_MAX_LONG_POLLS_PER_CLIENT=1) as app:
        yield app


def test_a_long_poll_answers_once_another_transaction_makes_its_claim_final(
    app: Flask, pg_engine: Engine
) -> None:
    backend = Backend(app, pg_engine, "backend")
    (claim_id,) = insert_claims(pg_engine, 1, client_id=backend.client_id)
    thread, answers = backend.poll_in_thread(claim_id, 30)
    _until(lambda: _services(app).claim_watch.waiting == 1, "the long poll waiting")
    fail_claims(SqlAlchemyUnitOfWorkFactory(pg_engine), [claim_id], reason="gave up")
    thread.join(PATIENCE)
    assert answers and answers[0].status_code == 200 and answers[0].json["status"] == "failed"


def test_a_waiting_long_poll_does_not_query_in_a_loop(app: Flask, pg_engine: Engine) -> None:
    backend = Backend(app, pg_engine, "backend")
    (claim_id,) = insert_claims(pg_engine, 1, client_id=backend.client_id)
    claim_reads: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM claims" in statement:
            claim_reads.append(statement)

    event.listen(pg_engine, "before_cursor_execute", count)
    try:
        response = backend.get(f"/v1/claims/{claim_id}?wait=1.5")
    finally:
        event.remove(pg_engine, "before_cursor_execute", count)
    assert response.status_code == 200 and response.json["status"] == "pending"
    # A read to check the owner, one on registering, one when the time is up (a 100 ms loop made 15).
    assert len(claim_reads) <= 4


def test_a_client_beyond_its_long_poll_cap_gets_429_while_other_reads_go_on(
    app: Flask, pg_engine: Engine
) -> None:
    backend = Backend(app, pg_engine, "eager")
    first, second = insert_claims(pg_engine, 2, client_id=backend.client_id)
    (done,) = insert_claims(pg_engine, 1, state=ClaimState.REJECTED, client_id=backend.client_id)
    thread, answers = backend.poll_in_thread(first, 30)
    _until(lambda: _services(app).long_polls.open == 1, "the first long poll admitted")

    refused = backend.get(f"/v1/claims/{second}?wait=30")
    assert refused.status_code == 429 and refused.json["error"] == "too_many_long_polls"
    assert refused.headers["Retry-After"] == "1" and refused.json["message"]
    assert backend.get(f"/v1/claims/{second}").json["status"] == "pending"  # no wait: no cap
    assert backend.get(f"/v1/claims/{done}?wait=30").json["status"] == "rejected"  # final: answered at once
    other = Backend(app, pg_engine, "other")
    (theirs,) = insert_claims(pg_engine, 1, client_id=other.client_id)
    assert other.get(f"/v1/claims/{theirs}?wait=0.1").status_code == 200  # another client has its own cap

    fail_claims(SqlAlchemyUnitOfWorkFactory(pg_engine), [first], reason="gave up")
    thread.join(PATIENCE)
    assert answers[0].json["status"] == "failed" and _services(app).long_polls.open == 0
    assert backend.get(f"/v1/claims/{second}?wait=0.1").status_code == 200  # the place was given back


def test_the_process_cap_refuses_every_client_once_reached(pg_engine: Engine) -> None:
    with _app(pg_engine, CLAIMS_MAX_LONG_POLLS=0) as app:
        backend = Backend(app, pg_engine, "backend")
        (claim_id,) = insert_claims(pg_engine, 1, client_id=backend.client_id)
        refused = backend.get(f"/v1/claims/{claim_id}?wait=5")
    assert refused.status_code == 429 and "server" in refused.json["message"]


def test_a_long_poll_cap_that_leaves_too_few_threads_is_refused_at_start(pg_engine: Engine) -> None:
    with pytest.raises(ValueError, match="CLAIMS_MAX_LONG_POLLS=10 leaves 6 of WEB_THREADS=16"):
        create_app(Settings(WEB_THREADS=16, CLAIMS_MAX_LONG_POLLS=10), pg_engine)  # type: ignore[call-arg]


def test_on_sqlite_a_long_poll_sees_the_final_state_by_reading_again(sqlite_engine: Engine) -> None:
    with _app(sqlite_engine) as app:
        assert _services(app).claim_listener is None  # no NOTIFY on SQLite
        backend = Backend(app, sqlite_engine, "backend")
        (claim_id,) = insert_claims(sqlite_engine, 1, client_id=backend.client_id)
        thread, answers = backend.poll_in_thread(claim_id, 30)
        _until(lambda: _services(app).claim_watch.waiting == 1, "the long poll waiting")
        fail_claims(SqlAlchemyUnitOfWorkFactory(sqlite_engine), [claim_id], reason="gave up")
        thread.join(PATIENCE)
    assert answers and answers[0].json["status"] == "failed"
