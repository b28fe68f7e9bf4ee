"""The trail repository's contract, on the fake and on SQLAlchemy (PostgreSQL and SQLite).

Part of the unit of work's contract (``test_unit_of_work_contract.py``, whose backends it runs on),
kept in its own module so that the trail reads in one place.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.outbox import ClaimedBatch
from app.domain.trail import (
    CALL_AMBIGUOUS,
    CALL_SENT,
    CLAIM_RECEIVED,
    CLAIM_REJECTED,
    STATUS_SENT,
    VALIDATION_ANSWERED,
    StatusCall,
    StatusRecord,
    TrailEvent,
)
from app.services import trail_steps
from app.services.unit_of_work import UnitOfWork
from tests.integration.test_unit_of_work_contract import (
    CLAIMABLE,
    LEASE,
    T0,
    Backend,
    _backend,
    add_campaigns,
    decision,
    draft,
    ingested_pages,
    new_campaign,
    reading,
    writing,
)


@pytest.fixture(params=["fake", "postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every implementation of the unit of work."""
    return _backend(request)


def event(
    customer: str, step: str, *, campaign_id: int = 1, seconds: int = 0, **details: object
) -> TrailEvent:
    """One event at T0 + `seconds`."""
    return TrailEvent(campaign_id, customer, T0 + timedelta(seconds=seconds), step, details)


def test_events_read_back_per_customer_in_the_order_written_with_their_details(backend: Backend) -> None:
    with writing(backend) as uow:
        uow.trail.append(
            [
                event("c1", CLAIM_RECEIVED, claim_id="a", client="shop", idempotency_key=True),
                event("c2", CLAIM_RECEIVED, claim_id="b"),
                event("c1", VALIDATION_ANSWERED, seconds=1, eligible=True, reward_amount="10.5", tier=None),
                event("c1", CLAIM_RECEIVED, campaign_id=2, seconds=2, claim_id="c"),
            ]
        )
    with reading(backend) as uow:
        mine = uow.trail.for_customer("c1", limit=10)
        in_campaign_2 = uow.trail.for_customer("c1", 2, limit=10)
        first_only = uow.trail.for_customer("c1", limit=1)
        nobody = uow.trail.for_customer("c3", limit=10)
    assert [(e.campaign_id, e.step) for e in mine] == [
        (1, CLAIM_RECEIVED), (1, VALIDATION_ANSWERED), (2, CLAIM_RECEIVED),
    ]  # fmt: skip
    assert mine[0].details == {"claim_id": "a", "client": "shop", "idempotency_key": True}
    assert mine[1].details == {"eligible": True, "reward_amount": "10.5", "tier": None}
    assert mine[1].at == T0 + timedelta(seconds=1) and mine[1].customer_id == "c1"
    assert [e.details["claim_id"] for e in in_campaign_2] == ["c"]
    assert len(first_only) == 1 and first_only[0].details["claim_id"] == "a"
    assert nobody == []


def test_a_big_batch_keeps_every_event_and_awkward_text_intact(backend: Backend) -> None:
    awkward = "tab\there, new\nline, back\\slash, 'quote' \"double\", ünïcode €"
    events = [event(f"c{n:04}", STATUS_SENT, call_id="call-1", error=awkward, n=n) for n in range(300)]
    events.append(event("we\tird\\id", STATUS_SENT, call_id="call-1", error=awkward))
    with writing(backend) as uow:
        uow.trail.append(events)
    with reading(backend) as uow:
        one = uow.trail.for_customer("c0123", limit=10)
        odd = uow.trail.for_customer("we\tird\\id", limit=10)
        last = uow.trail.for_customer("c0299", limit=10)
    assert [e.details for e in one] == [{"call_id": "call-1", "error": awkward, "n": 123}]
    assert odd[0].details["error"] == awkward and odd[0].at == T0
    assert last[0].details["n"] == 299


def test_the_trail_knows_when_it_began_and_appends_nothing_for_no_events(backend: Backend) -> None:
    with reading(backend) as uow:
        assert uow.trail.first_recorded_at() is None
    with writing(backend) as uow:
        uow.trail.append([])
        uow.trail.append([event("c1", CLAIM_RECEIVED, seconds=5)])
        uow.trail.append([event("c1", CLAIM_RECEIVED, seconds=1)])
    with reading(backend) as uow:
        assert uow.trail.first_recorded_at() == T0 + timedelta(seconds=5)


def test_events_of_a_unit_of_work_left_without_commit_are_gone(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.trail.append([event("c1", CLAIM_RECEIVED)])
    with reading(backend) as uow:
        assert uow.trail.for_customer("c1", limit=10) == []


def _lease(uow: UnitOfWork, seconds: int) -> ClaimedBatch:
    batch = uow.outbox.claim_batch(now=T0 + timedelta(seconds=seconds), limit=10, lease=LEASE)
    assert batch is not None
    return batch


def test_a_batch_names_the_customers_an_earlier_ambiguous_call_may_have_reached_and_its_attempt(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["c1", "c2"], deadline=None, now=T0)
    with writing(backend) as uow:
        first = _lease(uow, 1)
        uow.outbox.release_for_retry(first, available_at=T0, error="timeout", maybe_applied=True)
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["c3"], deadline=None, now=T0)
    with writing(backend) as uow:
        second = _lease(uow, 2)
    assert first.attempt == 1 and first.resent_customers == frozenset()
    assert second.attempt == 2 and second.resent_customers == {"c1", "c2"}
    assert second.previously_sent == 2


def test_a_status_call_is_recorded_once_per_call_and_the_sent_rows_point_at_it(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["c1", "c2"], deadline=None, now=T0)
    with writing(backend) as uow:
        first = _lease(uow, 1)
        lost = uow.trail.record_status_call(first, outcome=CALL_AMBIGUOUS, error="reset " * 100, now=T0)
        uow.outbox.release_for_retry(first, available_at=T0, error="reset", maybe_applied=True)
    with writing(backend) as uow:
        second = _lease(uow, 2)
        call = uow.trail.record_status_call(
            second, outcome=CALL_SENT, error=None, now=T0 + timedelta(seconds=2)
        )
        assert uow.outbox.mark_sent(second, now=T0 + timedelta(seconds=2), call_id=call) == 2
    with reading(backend) as uow:
        status = uow.trail.status_of(1, "c1")
        nobody = uow.trail.status_of(1, "c3")
        elsewhere = uow.trail.status_of(2, "c1")
    assert lost is not None and call is not None and call != lost
    assert nobody is None and elsewhere is None
    assert status == StatusRecord(
        queued_at=T0, sent_at=T0 + timedelta(seconds=2), dead_at=None, sends=2, attempts=2, last_error=None,
        last_call=StatusCall(call, T0 + timedelta(seconds=2), size=2, attempt=2, outcome=CALL_SENT),
    )  # fmt: skip


def test_a_queued_status_has_no_call_yet(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["c1"], deadline=None, now=T0)
    with reading(backend) as uow:
        status = uow.trail.status_of(1, "c1")
    assert status is not None and status.last_call is None and status.sent_at is None and status.sends == 0


def test_a_customer_approved_with_their_page_is_told_by_the_pages_row_and_its_last_call(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["a", "b", "c"])
    with writing(backend) as uow:
        batch = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        assert batch is not None and batch.attempt == 1
        call = uow.trail.record_status_call(batch, outcome=CALL_SENT, error=None, now=T0)
        assert uow.outbox.mark_sent(batch, now=T0, call_id=call) == 2
    with reading(backend) as uow:
        sent, waiting = uow.trail.status_of(1, "b"), uow.trail.status_of(1, "c")
        scrubbed = uow.trail.status_of(1, "scrubbed-0")
    assert call is not None and scrubbed is None
    assert sent == StatusRecord(
        queued_at=T0, sent_at=T0, dead_at=None, sends=1, attempts=1, last_error=None,
        last_call=StatusCall(call, T0, size=2, attempt=1, outcome=CALL_SENT),
    )  # fmt: skip
    assert (
        waiting is not None and waiting.sent_at is None and waiting.sends == 0 and waiting.last_call is None
    )


def test_an_admitted_claim_puts_its_received_steps_on_the_trail_in_the_same_unit_of_work(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM, state=CampaignState.READY))
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("alice", segment="gold"), decision("bob", eligible=False)])
    drafts = {
        "alice": replace(draft("alice", key="k-1"), client_name="shop", key_id="key-7"),
        "bob": draft("bob", client_id=None),
        "carol": replace(draft("carol"), client_name="ünï\tab\tcode", key_id=None),
    }
    with writing(backend) as uow:
        stored = {name: uow.claims.admit(d, claimable=CLAIMABLE).stored for name, d in drafts.items()}
        assert uow.claims.admit(draft("alice"), claimable=CLAIMABLE).stored is None  # her place is taken
    with reading(backend) as uow:
        told = {name: uow.trail.for_customer(name, limit=10) for name in drafts}
    for name, claim in stored.items():
        assert claim is not None
        # The statement that admits says what trail_steps says, step for step, in that order.
        assert told[name] == trail_steps.claim_admitted(drafts[name], claim), name
    assert [e.step for e in told["bob"]] == [CLAIM_RECEIVED, CLAIM_REJECTED]
    assert told["bob"][1].details == {
        "claim_id": stored["bob"].id,
        "reason": "scrubbed:no_consent",
        "at_once": True,
    }  # type: ignore[union-attr]
    assert told["alice"][0].details["client"] == "shop" and told["alice"][0].details["segment"] == "gold"


@pytest.mark.parametrize("engine_name", ["pg_engine", "sqlite_engine"])
def test_with_the_trail_off_an_admitted_claim_leaves_no_step(
    engine_name: str, request: pytest.FixtureRequest
) -> None:
    engine = request.getfixturevalue(engine_name)
    backend = Backend(engine_name, SqlAlchemyUnitOfWorkFactory(engine, trail_enabled=False), engine=engine)
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM, state=CampaignState.READY))
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("alice")])
    with writing(backend) as uow:
        assert uow.claims.admit(draft("alice"), claimable=CLAIMABLE).stored is not None
        assert uow.claims.admit(draft("dave"), claimable=CLAIMABLE).stored is not None
    with SqlAlchemyUnitOfWorkFactory(engine)() as uow:
        assert uow.trail.for_customer("alice", limit=10) == uow.trail.for_customer("dave", limit=10) == []
