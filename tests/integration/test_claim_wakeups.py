"""Final claims are announced with NOTIFY at commit, and each web process's listener hears them."""

from __future__ import annotations

import select
import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app.adapters.db.notifications import CLAIMS_FINAL, ChannelListener
from app.clock import utcnow
from app.domain.claims import ClaimState
from app.services.claim_recovery import fail_claims
from tests.support.claim_rows import insert_claims
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

PATIENCE = 10.0


class Notifications:
    """A LISTEN connection of the test's own, to see what is sent and when."""

    def __init__(self, engine: Engine) -> None:
        args, kwargs = engine.dialect.create_connect_args(engine.url)
        self.connection: Any = engine.dialect.connect(*args, **kwargs)  # outside the engine's pool
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            cursor.execute(f"LISTEN {CLAIMS_FINAL}")

    def ids(self, *, wait: float) -> list[str]:
        """Claim ids notified so far, waiting up to `wait` seconds for the first."""
        heard: list[str] = []
        if select.select([self.connection], [], [], wait)[0]:
            self.connection.poll()
        while self.connection.notifies:
            heard.extend(self.connection.notifies.pop(0).payload.split(","))
        return heard


@pytest.fixture
def notifications(pg_engine: Engine) -> Iterator[Notifications]:
    heard = Notifications(pg_engine)
    yield heard
    heard.connection.close()


def test_a_final_transition_is_notified_when_its_transaction_commits_and_not_before(
    pg_engine: Engine, notifications: Notifications
) -> None:
    (claim_id,) = insert_claims(pg_engine, 1)
    with writing(pg_engine) as uow:
        moved = uow.claims.mark_failed({claim_id: "gave up"}, now=utcnow())
        assert moved == [claim_id]
        assert notifications.ids(wait=0.2) == []
    assert notifications.ids(wait=PATIENCE) == [claim_id]


def test_a_rolled_back_or_non_final_transition_notifies_nothing(
    pg_engine: Engine, notifications: Notifications
) -> None:
    first, second = insert_claims(pg_engine, 2)
    with reading(pg_engine) as uow:  # rolled back at the end
        assert uow.claims.mark_failed({first: "gave up"}, now=utcnow()) == [first]
    with writing(pg_engine) as uow:
        lease = uow.claims.lease_pending(
            campaign_id=4242, promo_code=None, limit=10, lease=timedelta(seconds=60), now=utcnow()
        )
        assert {c.id for c in lease.claims} == {first, second}  # pending -> validating is not final
    assert notifications.ids(wait=0.5) == []


def test_completed_and_failed_claims_are_notified_in_payloads_small_enough_for_postgres(
    pg_engine: Engine, notifications: Notifications
) -> None:
    activated = insert_claims(pg_engine, 3, state=ClaimState.ACTIVATED, campaign_id=77)
    with writing(pg_engine) as uow:
        customers = [c.customer_id for c in uow.claims.get_many(activated)]
        assert uow.claims.mark_completed(77, customers, now=utcnow()) == 3
    assert sorted(notifications.ids(wait=PATIENCE)) == sorted(activated)

    pending = insert_claims(pg_engine, 500)  # 500 ids: more than one 8000-byte payload
    assert len(fail_claims(SqlAlchemyUnitOfWorkFactory(pg_engine), pending, reason="gave up")) == 500
    heard: list[str] = []
    while len(heard) < 500 and (more := notifications.ids(wait=PATIENCE)):
        heard += more
    assert sorted(heard) == sorted(pending)


def test_on_sqlite_final_transitions_commit_without_notifying(sqlite_engine: Engine) -> None:
    (claim_id,) = insert_claims(sqlite_engine, 1)
    assert fail_claims(SqlAlchemyUnitOfWorkFactory(sqlite_engine), [claim_id], reason="gave up") == [claim_id]


class Recorder:
    """Callbacks of the listener, with a way to wait for them."""

    def __init__(self) -> None:
        self.final: list[str] = []
        self.gaps = 0
        self.changed = threading.Condition()

    def on_final(self, ids: list[str]) -> None:
        with self.changed:
            self.final += ids
            self.changed.notify_all()

    def on_gap(self) -> None:
        with self.changed:
            self.gaps += 1
            self.changed.notify_all()

    def wait_for(self, what: str, condition: Any) -> None:
        with self.changed:
            assert self.changed.wait_for(condition, PATIENCE), f"never saw {what}"


def _backend_pids_listening(engine: Engine) -> list[int]:
    with reading(engine) as uow:
        return list(
            uow.connection.execute(
                text(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND query = :listen AND pid <> pg_backend_pid()"
                ),
                {"listen": f"LISTEN {CLAIMS_FINAL}"},
            ).scalars()
        )


def test_the_listener_hears_final_claims_and_comes_back_after_losing_its_connection(
    pg_engine: Engine,
) -> None:
    recorder = Recorder()
    listener = ChannelListener(pg_engine, on_final=recorder.on_final, on_gap=recorder.on_gap)
    listener.ensure_started()
    try:
        recorder.wait_for("the first connection", lambda: recorder.gaps == 1)
        first, second = insert_claims(pg_engine, 2)
        fail_claims(SqlAlchemyUnitOfWorkFactory(pg_engine), [first], reason="gave up")
        recorder.wait_for("the first claim", lambda: recorder.final == [first])

        (pid,) = _backend_pids_listening(pg_engine)
        with reading(pg_engine) as uow:
            uow.connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        # Waiters are told to re-read when the connection is lost and again once it is back.
        recorder.wait_for("the reconnection", lambda: recorder.gaps >= 3 and listener.connected.is_set())
        fail_claims(SqlAlchemyUnitOfWorkFactory(pg_engine), [second], reason="gave up")
        recorder.wait_for("the second claim", lambda: recorder.final == [first, second])
    finally:
        listener.stop()
    assert not listener.connected.is_set()
