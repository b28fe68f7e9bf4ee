"""The chaos run's kill watch on real PostgreSQL: which claims a kill catches in hand, and when they moved."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, create_engine, insert, update

from app.adapters.db.tables import claims
from app.clock import utcnow
from app.domain.claims import new_claim_id
from benchmarks.kill_watch import KillWatch, in_hand_at

# In the past, so that moves written "after the kill" are already in the past when the watch looks.
KILLED_AT = utcnow().replace(microsecond=0) - timedelta(minutes=5)


def _s(seconds: float) -> datetime:
    return KILLED_AT + timedelta(seconds=seconds)


def _claim(
    engine: Engine,
    state: str,
    *,
    updated: float = -1.0,
    dispatched: float | None = -1.0,
    lease_until: float | None = None,
) -> str:
    """A claim in `state`, last updated and dispatched `updated` / `dispatched` seconds from the kill."""
    claim_id = new_claim_id()
    with engine.begin() as conn:
        conn.execute(
            insert(claims).values(
                id=claim_id,
                source="test",
                campaign_id=7001,
                customer_id=f"customer-{claim_id[:8]}",
                session_properties={},
                request_hash="test",
                state=state,
                created_at=_s(-30),
                updated_at=_s(updated),
                dispatched_at=None if dispatched is None else _s(dispatched),
                lease_until=None if lease_until is None else _s(lease_until),
            )
        )
    return claim_id


def _move(engine: Engine, claim_id: str, state: str, *, at: float) -> None:
    with engine.begin() as conn:
        conn.execute(update(claims).where(claims.c.id == claim_id).values(state=state, updated_at=_s(at)))


def test_a_kill_catches_leased_claims_and_claims_handed_to_the_workers(pg_engine: Engine) -> None:
    leased = _claim(pg_engine, "validating", lease_until=9)
    waiting_for_a_validator = _claim(pg_engine, "pending", dispatched=None)
    being_activated = _claim(pg_engine, "validated")
    waiting_for_its_status = _claim(pg_engine, "activated")

    _claim(pg_engine, "validating", lease_until=-2)  # its lease ran out before: an earlier death
    _claim(pg_engine, "validated", dispatched=30)  # an activation retry scheduled for later
    _claim(pg_engine, "pending", updated=0.5, dispatched=0.5)  # submitted after the kill
    _claim(pg_engine, "validated", updated=0.2)  # moved by a live worker right after the kill
    for final in ("completed", "rejected", "failed"):
        _claim(pg_engine, final)

    assert in_hand_at(pg_engine, KILLED_AT) == {
        leased: "validating",
        waiting_for_a_validator: "pending",
        being_activated: "validated",
        waiting_for_its_status: "activated",
    }


def test_the_delay_of_a_kill_is_the_time_until_the_last_claim_it_caught_moved(pg_engine: Engine) -> None:
    quick, slow = _claim(pg_engine, "validated"), _claim(pg_engine, "validating", lease_until=10)
    watch = KillWatch(pg_engine, clock=lambda: _s(60))
    watch.caught("SIGKILL pool child 1 of worker-1", 12.0, KILLED_AT)

    _move(pg_engine, quick, "activated", at=2.5)
    watch.poll()
    _move(pg_engine, slow, "pending", at=10.5)  # the reconciler put the expired lease back
    watch.poll()
    _move(pg_engine, slow, "validating", at=11.25)  # a validator leased it again
    [kill] = watch.finish()

    assert kill.in_hand == {"validated": 1, "validating": 1}
    assert kill.delay == 11.25  # from updated_at: the watch saw it later, at 60 s
    assert kill.slowest == "validating"
    assert kill.unmoved == 0
    assert kill.within(25.0)


def test_the_watch_counts_a_move_when_it_sees_it_if_that_is_earlier_than_the_last_update(
    pg_engine: Engine,
) -> None:
    claim = _claim(pg_engine, "pending")
    watch = KillWatch(pg_engine, clock=lambda: _s(3))
    watch.caught("SIGKILL whole worker worker-2 (process group 2)", 30.0, KILLED_AT)

    _move(pg_engine, claim, "validated", at=4)  # leased before 3 s, validated at 4 s: seen at 3 s
    [kill] = watch.finish()

    assert kill.delay == 3.0


def test_claims_that_never_move_are_reported_and_break_the_bound(pg_engine: Engine) -> None:
    moving, stuck = _claim(pg_engine, "validated"), _claim(pg_engine, "validated")
    watch = KillWatch(pg_engine)
    watch.caught("SIGKILL pool child 3 of worker-2", 40.0, KILLED_AT)

    _move(pg_engine, moving, "activated", at=1)
    [kill] = watch.finish()

    assert stuck
    assert kill.unmoved == 1
    assert kill.delay is None
    assert not kill.within(25.0)


def test_a_kill_with_no_claim_in_hand_says_so(pg_engine: Engine) -> None:
    _claim(pg_engine, "completed")
    watch = KillWatch(pg_engine)
    watch.caught("SIGKILL pool child 4 of worker-1", 50.0, KILLED_AT)

    [kill] = watch.finish()

    assert kill.caught == 0
    assert kill.delay is None
    assert kill.within(25.0)
    assert "no claim in hand (delay n/a)" in kill.describe()


def test_a_kill_the_watch_could_not_snapshot_is_unmeasured_and_breaks_the_bound() -> None:
    unreachable = create_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nothing")
    watch = KillWatch(unreachable, snapshot_retry_seconds=0)
    watch.caught("SIGKILL pool child 5 of worker-1", 1.0, KILLED_AT)

    [kill] = watch.finish()
    unreachable.dispose()

    assert kill.unmeasured is not None and "OperationalError" in kill.unmeasured
    assert not kill.within(1e9)
