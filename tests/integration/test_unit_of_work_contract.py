"""The unit of work's contract, run on the in-memory fake and on the SQLAlchemy one (PostgreSQL and SQLite).

The unit tests of the services trust the fake; these scenarios keep it honest. Each one goes
through the port only (``app.services.unit_of_work``): state guards, leases, dedupe, conflicts,
counts. Where the fake and SQL disagree, SQL is right and the fake is fixed. Scenarios with two
units of work open at once run on PostgreSQL and the fake only: SQLite lets one writer in at a time.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError, OperationalError

from app.adapters.db.tables import inbox_events
from app.domain.audience import AudienceMember, Candidate, DecidedPage, Decision, OperatorFlags, PageCounts
from app.domain.campaigns import (
    KIND_TRIGGERED,
    PAGE_DONE,
    PAGE_PENDING,
    Campaign,
    CampaignMode,
    CampaignState,
    NewCampaign,
)
from app.domain.claims import (
    ActivatedClaim,
    Admission,
    Claim,
    ClaimDraft,
    ClaimState,
    InvalidTransition,
    NewClaim,
    ValidatedClaim,
    new_claim_id,
)
from app.domain.clients import NewClient
from app.domain.inbox import NewInboxEvent, Stored
from app.domain.outbox import OutboxStats
from app.domain.reconciliation import (
    REWARDED,
    STATUS_QUEUED,
    GrantSummary,
    IdSample,
    StatusComparison,
    StatusMatch,
)
from app.domain.rewards import RewardGrant
from app.services.unit_of_work import UnitOfWork, UnitOfWorkFactory
from tests.fakes.clients import UniqueViolation
from tests.fakes.inbox import InboxRow
from tests.fakes.tables import json_column
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory, WouldBlock
from tests.support.uow import SqlAlchemyUnitOfWorkFactory

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=60)


@dataclass
class Backend:
    """One implementation of the port, and how to plant a row the port itself can no longer write."""

    name: str
    uow: UnitOfWorkFactory
    engine: Engine | None = None
    fake: FakeUnitOfWorkFactory | None = None

    def seed_legacy_event(self, event_id: int, event_type_id: int, campaign_id: int) -> None:
        """An inbox row stored before fingerprints existed (no fingerprint, keyed on its kind alone)."""
        payload = {"EventTypeID": event_type_id, "CampaignID": campaign_id}
        dedupe_key = f"{event_type_id}:{campaign_id}"
        if self.fake is not None:
            row = InboxRow(event_id, "optimove", dedupe_key, event_type_id, campaign_id, None,
                           json_column(payload), json.dumps(payload), T0)  # fmt: skip
            self.fake.db.inbox_events.rows[event_id] = row
            return
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(
                insert(inbox_events).values(
                    id=event_id, source="optimove", dedupe_key=dedupe_key, event_type_id=event_type_id,
                    campaign_id=campaign_id, payload=payload, raw_body=json.dumps(payload), received_at=T0,
                )
            )  # fmt: skip


def _backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "fake":
        fake = FakeUnitOfWorkFactory()
        return Backend("fake", fake, fake=fake)
    engine: Engine = request.getfixturevalue(
        "pg_engine" if request.param == "postgresql" else "sqlite_engine"
    )
    return Backend(request.param, SqlAlchemyUnitOfWorkFactory(engine), engine=engine)


@pytest.fixture(params=["fake", "postgresql", "sqlite"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every implementation of the unit of work."""
    return _backend(request)


@pytest.fixture(params=["fake", "postgresql"])
def concurrent_backend(request: pytest.FixtureRequest) -> Backend:
    """The implementations that let two writing units of work be open at once."""
    return _backend(request)


@contextmanager
def writing(backend: Backend) -> Iterator[UnitOfWork]:
    """A unit of work committed when the block ends."""
    with backend.uow() as uow:
        yield uow
        uow.commit()


@contextmanager
def reading(backend: Backend) -> Iterator[UnitOfWork]:
    """A unit of work rolled back when the block ends."""
    with backend.uow() as uow:
        yield uow


def new_claim(
    customer_id: str,
    *,
    campaign_id: int = 1,
    promo_code: str | None = "PROMO",
    client_id: int | None = None,
    key: str | None = None,
    state: ClaimState = ClaimState.PENDING,
    reason: str | None = None,
    at: datetime = T0,
) -> NewClaim:
    """A claim to add."""
    return NewClaim(
        id=new_claim_id(), client_id=client_id, source="http", campaign_id=campaign_id,
        customer_id=customer_id, promo_code=promo_code, segment="gold",
        session_properties={"country": "MT", "deposits": [1, 2]}, idempotency_key=key,
        request_hash="hash", state=state, reason=reason, correlation_id="corr", created_at=at,
    )  # fmt: skip


def add_claims(backend: Backend, *claims: NewClaim) -> list[str]:
    """Add and commit the claims; their ids."""
    with writing(backend) as uow:
        assert all(uow.claims.add(claim) for claim in claims)
    return [claim.id for claim in claims]


def validated_claims(backend: Backend, *customers: str, campaign_id: int = 1) -> list[str]:
    """Claims leased and validated (with a reward of 10) at T0."""
    ids = add_claims(backend, *(new_claim(c, campaign_id=campaign_id) for c in customers))
    with writing(backend) as uow:
        uow.claims.lease_pending(campaign_id=campaign_id, promo_code="PROMO", limit=100, lease=LEASE, now=T0)
        validated = [ValidatedClaim(i, "gold", "bonus", Decimal(10)) for i in ids]
        assert sorted(uow.claims.mark_validated(validated, now=T0)) == sorted(ids)
    return ids


def states(backend: Backend, ids: list[str]) -> list[ClaimState]:
    """The claims' states, in the order of `ids`."""
    with reading(backend) as uow:
        by_id = {c.id: c.state for c in uow.claims.get_many(ids)}
    return [by_id[i] for i in ids]


def new_campaign(
    campaign_id: int,
    *,
    mode: CampaignMode = CampaignMode.AUTO,
    deadline: datetime | None = T0 + timedelta(hours=1),
    state: CampaignState = CampaignState.INGESTING,
    kind: str = "scheduled",
) -> NewCampaign:
    """A campaign to add."""
    return NewCampaign(campaign_id, mode, deadline, T0, page_size=100, kind=kind, state=state)


def add_campaigns(backend: Backend, *campaigns: NewCampaign, at: datetime = T0) -> None:
    """Add and commit the campaigns."""
    with writing(backend) as uow:
        for campaign in campaigns:
            assert uow.campaigns.add(campaign, now=at)


def decision(customer_id: str, *, eligible: bool = True, segment: str | None = None) -> Decision:
    """One decided candidate."""
    candidate = Candidate(customer_id, "PROMO", 7, {"Consent": "1"})
    return Decision(candidate, eligible, None if eligible else "no_consent", segment)


# Claims ------------------------------------------------------------------------------------------


def test_a_claim_reads_back_as_it_was_added_with_nothing_granted_yet(backend: Backend) -> None:
    claim = new_claim("alice", client_id=3, key="k-1")
    add_claims(backend, claim)
    with reading(backend) as uow:
        stored = uow.claims.get(claim.id)
        assert uow.claims.get(new_claim_id()) is None
        assert uow.claims.find_by_idempotency_key(3, "k-1") == stored
        assert uow.claims.find_by_idempotency_key(4, "k-1") is None
        assert uow.claims.find_by_customer(1, "alice") == stored
        assert uow.claims.find_by_customer(2, "alice") is None
    assert stored == Claim(
        id=claim.id, client_id=3, source="http", campaign_id=1, customer_id="alice", promo_code="PROMO",
        segment="gold", session_properties={"country": "MT", "deposits": [1, 2]}, idempotency_key="k-1",
        request_hash="hash", state=ClaimState.PENDING, reason=None, tier=None, reward_type=None,
        reward_amount=None, granted_amount=None, attempts=0, activation_attempts=0, correlation_id="corr",
        created_at=T0, updated_at=T0, validated_at=None, activated_at=None, completed_at=None,
    )  # fmt: skip


def test_a_claim_is_added_once_per_campaign_and_customer_and_once_per_client_key(backend: Backend) -> None:
    add_claims(backend, new_claim("alice", client_id=3, key="k-1"))
    with writing(backend) as uow:
        assert not uow.claims.add(new_claim("alice", client_id=4, key="k-2"))  # the same customer
        assert not uow.claims.add(new_claim("bob", client_id=3, key="k-1"))  # the same client's key
        assert uow.claims.add(new_claim("alice", campaign_id=2, client_id=3, key="k-3"))
        assert uow.claims.add(new_claim("carol", client_id=4, key="k-1"))  # another client's key
        # SQL takes no two NULLs as equal: keys without a client, or clients without a key, never clash.
        assert uow.claims.add(new_claim("dave", key="k-9"))
        assert uow.claims.add(new_claim("erin", key="k-9"))
        assert uow.claims.add(new_claim("frank", client_id=3))
        assert uow.claims.add(new_claim("grace", client_id=3))
    with reading(backend) as uow:
        assert uow.claims.counts_by_state() == {"pending": 7}


def test_a_claim_rejected_at_once_is_final_and_never_dispatched(backend: Backend) -> None:
    [rejected] = add_claims(backend, new_claim("alice", state=ClaimState.REJECTED, reason="not_in_audience"))
    with reading(backend) as uow:
        assert uow.claims.stale(stale_before=T0 + timedelta(days=1), limit=10) == []
        assert uow.claims.counts_by_reason() == {"not_in_audience": 1}
        claim = uow.claims.get(rejected)
    assert claim is not None and (claim.state, claim.reason) == (ClaimState.REJECTED, "not_in_audience")


def draft(
    customer_id: str, *, campaign_id: int = 1, client_id: int | None = 3, key: str | None = None
) -> ClaimDraft:
    """A claim to admit."""
    return ClaimDraft(
        id=new_claim_id(), client_id=client_id, source="http", campaign_id=campaign_id,
        customer_id=customer_id, session_properties={"country": "MT", "deposits": [1, 2]},
        idempotency_key=key, request_hash="hash", correlation_id="corr", created_at=T0,
    )  # fmt: skip


CLAIMABLE = frozenset({CampaignState.READY})


def test_a_claim_is_admitted_by_its_campaign_and_its_customers_audience_row(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM, state=CampaignState.READY))
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("alice", segment="gold"), decision("bob", eligible=False)])
    with writing(backend) as uow:
        eligible = uow.claims.admit(draft("alice", key="k-1"), claimable=CLAIMABLE)
        scrubbed = uow.claims.admit(draft("bob"), claimable=CLAIMABLE)
        stranger = uow.claims.admit(draft("carol"), claimable=CLAIMABLE)
    assert (eligible.mode, eligible.state) == (CampaignMode.CLAIM, CampaignState.READY)
    assert eligible.takes_claims(CLAIMABLE)
    assert eligible.stored is not None and scrubbed.stored is not None and stranger.stored is not None
    with reading(backend) as uow:
        assert uow.claims.get(eligible.stored.id) == eligible.stored
        assert uow.claims.find_by_customer(1, "bob") == scrubbed.stored
    assert eligible.stored == Claim(
        id=eligible.stored.id, client_id=3, source="http", campaign_id=1, customer_id="alice",
        promo_code="PROMO", segment="gold", session_properties={"country": "MT", "deposits": [1, 2]},
        idempotency_key="k-1", request_hash="hash", state=ClaimState.PENDING, reason=None, tier=None,
        reward_type=None, reward_amount=None, granted_amount=None, attempts=0, activation_attempts=0,
        correlation_id="corr", created_at=T0, updated_at=T0, validated_at=None, activated_at=None,
        completed_at=None,
    )  # fmt: skip
    refused = [(c.state, c.reason, c.promo_code) for c in (scrubbed.stored, stranger.stored)]
    assert refused == [
        (ClaimState.REJECTED, "scrubbed:no_consent", "PROMO"),
        (ClaimState.REJECTED, "not_in_audience", None),
    ]
    with reading(backend) as uow:  # only the pending claim waits for a validator
        stale = uow.claims.stale(stale_before=T0 + timedelta(days=1), limit=10)
        assert [claim_id for claim_id, _state in stale] == [eligible.stored.id]
        assert uow.claims.count_pending(1, "PROMO", up_to=10) == 1


def test_a_claim_is_admitted_once_per_customer_and_client_key(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM, state=CampaignState.READY))
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("alice"), decision("bob")])
        assert uow.claims.admit(draft("alice", key="k-1"), claimable=CLAIMABLE).stored is not None
    with writing(backend) as uow:
        again = uow.claims.admit(draft("alice", client_id=4), claimable=CLAIMABLE)
        same_key = uow.claims.admit(draft("bob", key="k-1"), claimable=CLAIMABLE)
    assert again == same_key == Admission(CampaignMode.CLAIM, CampaignState.READY, None)
    with reading(backend) as uow:
        assert uow.claims.counts_by_state() == {"pending": 1}


def test_a_campaign_that_is_unknown_or_takes_no_claims_admits_nothing(backend: Backend) -> None:
    add_campaigns(
        backend,
        new_campaign(1, mode=CampaignMode.AUTO, state=CampaignState.READY),
        new_campaign(2, mode=CampaignMode.CLAIM, state=CampaignState.INGESTING),
    )
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("alice")])
        uow.audience.write_page(2, 0, [decision("alice")])
    with writing(backend) as uow:
        auto = uow.claims.admit(draft("alice", campaign_id=1), claimable=CLAIMABLE)
        ingesting = uow.claims.admit(draft("alice", campaign_id=2), claimable=CLAIMABLE)
        unknown = uow.claims.admit(draft("alice", campaign_id=404), claimable=CLAIMABLE)
        nothing_claimable = uow.claims.admit(draft("alice", campaign_id=2), claimable=frozenset())
    assert auto == Admission(CampaignMode.AUTO, CampaignState.READY, None)
    assert ingesting == nothing_claimable == Admission(CampaignMode.CLAIM, CampaignState.INGESTING, None)
    assert unknown == Admission(None, None, None) and not unknown.takes_claims(CLAIMABLE)
    with reading(backend) as uow:
        assert uow.claims.counts_by_state() == {}


def test_a_lease_takes_the_oldest_pending_claims_of_one_campaign_and_promo_code(backend: Backend) -> None:
    newest, oldest, middle = add_claims(
        backend,
        new_claim("c", at=T0 + timedelta(seconds=3)),
        new_claim("a", at=T0 + timedelta(seconds=1)),
        new_claim("b", at=T0 + timedelta(seconds=2)),
    )
    [other_code, no_code, other_campaign] = add_claims(
        backend,
        new_claim("d", promo_code="OTHER"),
        new_claim("e", promo_code=None),
        new_claim("f", campaign_id=2),
    )
    now = T0 + timedelta(minutes=1)
    with writing(backend) as uow:
        first = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=now)
        second = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=now)
        third = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=now)
        uncoded = uow.claims.lease_pending(campaign_id=1, promo_code=None, limit=5, lease=LEASE, now=now)

    assert [c.id for c in first.claims] == [oldest, middle] and [c.id for c in second.claims] == [newest]
    assert third.claims == [] and first.lease_id != second.lease_id
    assert [c.id for c in uncoded.claims] == [no_code]
    leased = first.claims[0]
    assert (leased.state, leased.attempts, leased.updated_at) == (ClaimState.VALIDATING, 1, now)
    assert states(backend, [other_code, other_campaign]) == [ClaimState.PENDING] * 2


def test_pending_claims_are_counted_per_campaign_and_promo_code_up_to_a_bound(backend: Backend) -> None:
    add_claims(
        backend,
        *(new_claim(f"p{n}") for n in range(4)),
        new_claim("other-code", promo_code="OTHER"),
        new_claim("no-code", promo_code=None),
        new_claim("other-campaign", campaign_id=2),
    )
    with writing(backend) as uow:
        before = uow.claims.count_pending(1, "PROMO", up_to=10), uow.claims.count_pending(1, "PROMO", up_to=3)
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=1, lease=LEASE, now=T0)
        after = uow.claims.count_pending(1, "PROMO", up_to=10)
        uncoded, elsewhere = (
            uow.claims.count_pending(1, None, up_to=10),
            uow.claims.count_pending(2, "PROMO", up_to=10),
        )

    assert before == (4, 3) and after == 3, "a leased claim is validating, no longer pending"
    assert (uncoded, elsewhere) == (1, 1)


def test_claims_are_on_their_way_to_a_status_until_activated_or_final(backend: Backend) -> None:
    with reading(backend) as uow:
        assert not uow.claims.any_on_the_way()
    [claim] = add_claims(backend, new_claim("a"))
    seen = []
    with writing(backend) as uow:
        seen.append(uow.claims.any_on_the_way())  # pending
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=1, lease=LEASE, now=T0)
        seen.append(uow.claims.any_on_the_way())  # validating
        uow.claims.mark_validated([ValidatedClaim(claim, "gold", "bonus", Decimal(5))], now=T0)
        seen.append(uow.claims.any_on_the_way())  # validated
        uow.claims.mark_activated([ActivatedClaim(claim, Decimal(5))], now=T0)
        seen.append(uow.claims.any_on_the_way())  # activated: its status is in the outbox already

    assert seen == [True, True, True, False]


def test_a_released_lease_puts_back_only_its_own_claims_keeping_the_reason(backend: Backend) -> None:
    a, b, c = add_claims(
        backend,
        new_claim("a"),
        new_claim("b", at=T0 + timedelta(seconds=1)),
        new_claim("c", at=T0 + timedelta(seconds=2)),
    )
    with writing(backend) as uow:
        kept = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=T0)
        other = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=T0)
    with writing(backend) as uow:
        released = uow.claims.release_lease(kept.lease_id, reason="validation retry: " + "x" * 300, now=T0)
        assert uow.claims.release_lease(kept.lease_id, reason="again", now=T0) == []
        # Released claims are no longer validating: a late validation of them changes nothing.
        assert uow.claims.mark_validated([ValidatedClaim(a, "gold", "bonus", Decimal(1))], now=T0) == []
    assert sorted(released) == sorted([a, b])
    assert states(backend, [a, b, c]) == [ClaimState.PENDING, ClaimState.PENDING, ClaimState.VALIDATING]
    with writing(backend) as uow:
        claim = uow.claims.get(a)
        relet = uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=5, lease=LEASE, now=T0)
    assert claim is not None and claim.reason == "validation retry: " + "x" * 237  # cut to 255 characters
    assert [x.reason for x in relet.claims] == [claim.reason] * 2  # a new lease keeps the last reason
    assert other.claims[0].id == c


def test_validation_outcomes_move_only_validating_claims(backend: Backend) -> None:
    a, b, pending = add_claims(backend, new_claim("a"), new_claim("b"), new_claim("p", promo_code="LATER"))
    with writing(backend) as uow:
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=5, lease=LEASE, now=T0)
    later = T0 + timedelta(seconds=5)
    with writing(backend) as uow:
        offer = ValidatedClaim(a, "gold", "bonus", Decimal("12.5"))
        assert uow.claims.mark_validated(
            [offer, offer, ValidatedClaim(pending, None, None, None)], now=later
        ) == [a]
        reasons = {b: "budget_exhausted", a: "x", pending: "x"}
        assert uow.claims.mark_rejected(reasons, source=ClaimState.VALIDATING, now=later) == [b]
        with pytest.raises(InvalidTransition):
            uow.claims.mark_rejected({}, source=ClaimState.COMPLETED, now=later)
    with reading(backend) as uow:
        validated, rejected = uow.claims.get(a), uow.claims.get(b)
    assert validated is not None and rejected is not None
    assert (validated.state, validated.tier, validated.reward_type, validated.reward_amount) == (
        ClaimState.VALIDATED, "gold", "bonus", Decimal("12.5")
    )  # fmt: skip
    assert (validated.validated_at, validated.updated_at, validated.reason) == (later, later, None)
    assert (rejected.state, rejected.reason) == (ClaimState.REJECTED, "budget_exhausted")
    assert states(backend, [pending]) == [ClaimState.PENDING]


def test_offers_that_name_no_amount_validate_their_claims_without_one(backend: Backend) -> None:
    # OptiPromo's effect may carry a tier and no reward amount; a batch of only such offers must move too.
    a, b = add_claims(backend, new_claim("a"), new_claim("b"))
    with writing(backend) as uow:
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=5, lease=LEASE, now=T0)
    with writing(backend) as uow:
        offers = [ValidatedClaim(a, "gold", None, None), ValidatedClaim(b, None, None, None)]
        assert sorted(uow.claims.mark_validated(offers, now=T0)) == sorted([a, b])
    with reading(backend) as uow:
        claim = uow.claims.get(a)
    assert claim is not None
    assert (claim.state, claim.tier, claim.reward_type, claim.reward_amount) == (
        ClaimState.VALIDATED, "gold", None, None
    )  # fmt: skip


def test_validated_claims_are_rejected_from_validated_only(backend: Backend) -> None:
    [validated] = validated_claims(backend, "a")
    with writing(backend) as uow:
        assert uow.claims.mark_rejected({validated: "r"}, source=ClaimState.VALIDATING, now=T0) == []
        assert uow.claims.mark_rejected({validated: "refused"}, source=ClaimState.VALIDATED, now=T0) == [
            validated
        ]
    assert states(backend, [validated]) == [ClaimState.REJECTED]


def test_activation_attempts_are_reserved_for_validated_claims_up_to_the_bound(backend: Backend) -> None:
    a, b = validated_claims(backend, "a", "b")
    [pending] = add_claims(backend, new_claim("p", promo_code="LATER"))
    with writing(backend) as uow:
        assert uow.claims.reserve_activation_attempts([a, pending], max_attempts=2, now=T0) == {a: 1}
        assert uow.claims.reserve_activation_attempts([a, b], max_attempts=2, now=T0) == {a: 2, b: 1}
        assert uow.claims.reserve_activation_attempts([a, b], max_attempts=2, now=T0) == {b: 2}
        assert uow.claims.reserve_activation_attempts([a, b], max_attempts=2, now=T0) == {}
        assert uow.claims.reserve_activation_attempts([], max_attempts=2, now=T0) == {}
    with reading(backend) as uow:
        claim = uow.claims.get(a)
    assert claim is not None and claim.activation_attempts == 2


def test_a_scheduled_activation_retry_keeps_the_error_and_the_claim_out_of_the_reconciler_until_due(
    backend: Backend,
) -> None:
    [claim_id] = validated_claims(backend, "a")
    due = T0 + timedelta(hours=1)
    with writing(backend) as uow:
        uow.claims.schedule_activation_retry({claim_id: "activation_retry: 503"}, due_at=due, now=T0)
        uow.claims.schedule_activation_retry({new_claim_id(): "nobody"}, due_at=due, now=T0)
    with reading(backend) as uow:
        assert uow.claims.stale(stale_before=due - timedelta(seconds=1), limit=10) == []
        assert uow.claims.stale(stale_before=due + timedelta(seconds=1), limit=10) == [
            (claim_id, ClaimState.VALIDATED)
        ]
        claim = uow.claims.get(claim_id)
    assert claim is not None and (claim.state, claim.reason) == (
        ClaimState.VALIDATED,
        "activation_retry: 503",
    )


def test_a_grant_activates_validated_and_late_confirmed_failed_claims_and_only_activated_ones_complete(
    backend: Backend,
) -> None:
    validated, given_up = validated_claims(backend, "a", "b")
    [pending] = add_claims(backend, new_claim("p", promo_code="LATER"))
    with writing(backend) as uow:
        assert uow.claims.mark_failed({given_up: "activation_unconfirmed"}, now=T0) == [given_up]
    later = T0 + timedelta(seconds=9)
    with writing(backend) as uow:
        grants = [ActivatedClaim(c, Decimal("15")) for c in (validated, given_up, pending)]
        assert sorted(uow.claims.mark_activated(grants, now=later)) == sorted([validated, given_up])
        assert uow.claims.mark_activated(grants, now=later) == []
        assert uow.claims.mark_completed(1, ["a", "p", "nobody"], now=later) == 1
        assert uow.claims.mark_completed(1, ["a"], now=later) == 0
        assert uow.claims.mark_completed(2, ["b"], now=later) == 0
    with reading(backend) as uow:
        completed, activated = uow.claims.get(validated), uow.claims.get(given_up)
    assert completed is not None and activated is not None
    assert (completed.state, completed.granted_amount, completed.completed_at) == (
        ClaimState.COMPLETED, Decimal(15), later
    )  # fmt: skip
    assert (activated.state, activated.reason, activated.activated_at) == (ClaimState.ACTIVATED, None, later)
    assert states(backend, [pending]) == [ClaimState.PENDING]


def test_failing_takes_live_claims_only_and_cuts_long_reasons(backend: Backend) -> None:
    [validated] = validated_claims(backend, "v")
    pending, done = add_claims(
        backend, new_claim("p", promo_code="X"), new_claim("r", state=ClaimState.REJECTED, reason="r")
    )
    with writing(backend) as uow:
        failed = uow.claims.mark_failed({validated: "y" * 400, pending: "gave up", done: "no"}, now=T0)
    assert sorted(failed) == sorted([validated, pending])
    with reading(backend) as uow:
        claim = uow.claims.get(validated)
        assert uow.claims.counts_by_reason() == {"y" * 255: 1, "gave up": 1, "r": 1}
    assert claim is not None and claim.reason == "y" * 255


def test_an_expired_lease_goes_back_to_pending_and_the_reconciler_leaves_validating_claims_to_it(
    backend: Backend,
) -> None:
    [claim_id] = add_claims(backend, new_claim("a"))
    with writing(backend) as uow:
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=1, lease=LEASE, now=T0)
    with writing(backend) as uow:
        assert uow.claims.stale(stale_before=T0 + timedelta(days=1), limit=10) == []
        assert uow.claims.expire_leases(now=T0 + LEASE) == []  # runs until then, not after
        assert uow.claims.expire_leases(now=T0 + LEASE + timedelta(seconds=1)) == [claim_id]
        assert uow.claims.expire_leases(now=T0 + LEASE + timedelta(seconds=2)) == []
    assert states(backend, [claim_id]) == [ClaimState.PENDING]


def test_stale_claims_are_those_neither_touched_nor_dispatched_oldest_first(backend: Backend) -> None:
    old, older = add_claims(backend, new_claim("a", at=T0 + timedelta(seconds=2)), new_claim("b", at=T0))
    [recent] = add_claims(backend, new_claim("c", at=T0 + timedelta(minutes=5)))
    cut = T0 + timedelta(minutes=1)
    with writing(backend) as uow:
        assert uow.claims.stale(stale_before=cut, limit=10) == [
            (older, ClaimState.PENDING),
            (old, ClaimState.PENDING),
        ]
        assert uow.claims.stale(stale_before=cut, limit=1) == [(older, ClaimState.PENDING)]
        uow.claims.mark_dispatched([older], now=cut)
        assert uow.claims.stale(stale_before=cut, limit=10) == [(old, ClaimState.PENDING)]
        uow.claims.mark_dispatched([], now=cut)
        assert recent in [c for c, _ in uow.claims.stale(stale_before=T0 + timedelta(minutes=6), limit=10)]


def test_failed_claims_are_listed_oldest_first_and_replayed_with_a_fresh_budget(backend: Backend) -> None:
    first, second = validated_claims(backend, "a", "b")
    [pending] = add_claims(backend, new_claim("p", promo_code="X"))
    with writing(backend) as uow:
        uow.claims.reserve_activation_attempts([first, second], max_attempts=3, now=T0)
        uow.claims.mark_failed({second: "later"}, now=T0 + timedelta(seconds=2))
        uow.claims.mark_failed({first: "earlier"}, now=T0 + timedelta(seconds=1))
    replay = T0 + timedelta(minutes=1)
    with writing(backend) as uow:
        assert uow.claims.failed_ids() == [first, second]
        assert uow.claims.failed_ids(limit=1) == [first]
        assert uow.claims.reopen_failed([first, pending], now=replay) == [first]
        assert uow.claims.reopen_failed([], now=replay) == []
    with reading(backend) as uow:
        claim = uow.claims.get(first)
        assert first not in [c for c, _ in uow.claims.stale(stale_before=replay, limit=10)]  # just dispatched
    assert claim is not None
    assert (claim.state, claim.reason, claim.activation_attempts, claim.attempts) == (
        ClaimState.PENDING,
        None,
        0,
        1,
    )


def test_claims_are_counted_by_state_and_by_reason_per_campaign_or_overall(backend: Backend) -> None:
    add_claims(
        backend,
        new_claim("a"),
        new_claim("b", state=ClaimState.REJECTED, reason="not_in_audience"),
        new_claim("c", state=ClaimState.REJECTED, reason="not_in_audience"),
        new_claim("d", campaign_id=2, state=ClaimState.REJECTED, reason="scrubbed:fraud"),
        new_claim("e", campaign_id=2),
    )
    with reading(backend) as uow:
        assert uow.claims.counts_by_state() == {"pending": 2, "rejected": 3}
        assert uow.claims.counts_by_state(1) == {"pending": 1, "rejected": 2}
        assert uow.claims.counts_by_state(3) == {}
        assert uow.claims.counts_by_reason() == {"not_in_audience": 2, "scrubbed:fraud": 1}
        assert uow.claims.counts_by_reason(2) == {"scrubbed:fraud": 1}


# Campaigns and pages -----------------------------------------------------------------------------


def test_a_campaign_is_created_once_with_its_counters_at_zero(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(7))
    with writing(backend) as uow:
        assert not uow.campaigns.add(new_campaign(7, mode=CampaignMode.CLAIM), now=T0 + timedelta(seconds=1))
        campaign = uow.campaigns.get(7, lock=True)
        assert uow.campaigns.get(8) is None and uow.campaigns.get(8, lock=True) is None
    assert campaign == Campaign(
        id=7, kind="scheduled", mode=CampaignMode.AUTO, state=CampaignState.INGESTING,
        clearance_required_by=T0 + timedelta(hours=1), page_size=100, last_page=None, rows_ingested=0,
        eligible_count=0, scrubbed_count=0, approved_count=0, approval_calls=0, resent_count=0,
        pages_done=0, at_risk_since=None, created_at=T0, ingest_started_at=T0, ingest_finished_at=None,
        approvals_finished_at=None, error=None,
    )  # fmt: skip


def test_campaigns_move_only_from_the_states_each_move_expects(backend: Backend) -> None:
    add_campaigns(
        backend,
        new_campaign(1),
        new_campaign(2),
        new_campaign(3),
        new_campaign(4, kind=KIND_TRIGGERED, state=CampaignState.READY),
    )
    t = T0 + timedelta(minutes=3)
    with writing(backend) as uow:
        assert uow.campaigns.finish_ingest(1, CampaignState.APPROVING, now=t)
        assert not uow.campaigns.finish_ingest(1, CampaignState.READY, now=t)
        assert not uow.campaigns.fail_ingest(1, error="late", now=t)
        assert uow.campaigns.finish_approvals(1, now=t) and not uow.campaigns.finish_approvals(1, now=t)
        assert uow.campaigns.finish_ingest(2, CampaignState.APPROVED, now=t)
        assert uow.campaigns.fail_ingest(3, error="e" * 2500, now=t)
        assert not uow.campaigns.cancel(3, now=t) and not uow.campaigns.cancel(1, now=t)
        assert uow.campaigns.cancel(4, now=t) and not uow.campaigns.cancel(4, now=t)
        assert not uow.campaigns.cancel(99, now=t) and not uow.campaigns.finish_ingest(
            99, CampaignState.READY, now=t
        )
    with reading(backend) as uow:
        approved, direct, failed, canceled = (uow.campaigns.get(i) for i in (1, 2, 3, 4))
    assert approved is not None and direct is not None and failed is not None and canceled is not None
    assert (approved.state, approved.ingest_finished_at, approved.approvals_finished_at) == (
        CampaignState.APPROVED,
        t,
        t,
    )
    assert (direct.state, direct.approvals_finished_at) == (CampaignState.APPROVED, t)
    assert (failed.state, failed.error) == (CampaignState.FAILED, "e" * 2000)
    assert canceled.state == CampaignState.CANCELED


def test_page_counters_add_up_and_the_first_short_page_is_the_last(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1))
    t = T0 + timedelta(minutes=1)
    with writing(backend) as uow:
        uow.campaigns.add_page_counters(1, rows=100, eligible=90, scrubbed=10, last_page=None, now=t)
        uow.campaigns.add_page_counters(1, rows=40, eligible=30, scrubbed=10, last_page=5, now=t)
        uow.campaigns.add_page_counters(1, rows=0, eligible=0, scrubbed=0, last_page=3, now=t)
        uow.campaigns.add_page_counters(1, rows=0, eligible=0, scrubbed=0, last_page=4, now=t)
        uow.campaigns.add_page_counters(99, rows=1, eligible=1, scrubbed=0, last_page=0, now=t)
        uow.campaigns.add_approvals_sent(1, customers=120, resent=3, now=t)
        uow.campaigns.add_approvals_sent(1, customers=0, resent=0, now=t)
        uow.campaigns.record_error(1, "r" * 3000, now=t)
        assert uow.campaigns.mark_at_risk(1, now=t) and not uow.campaigns.mark_at_risk(
            1, now=t + timedelta(seconds=1)
        )
        assert not uow.campaigns.mark_at_risk(99, now=t)
    with reading(backend) as uow:
        campaign = uow.campaigns.get(1)
    assert campaign is not None
    assert (
        campaign.rows_ingested,
        campaign.eligible_count,
        campaign.scrubbed_count,
        campaign.pages_done,
    ) == (140, 120, 20, 4)
    assert (campaign.last_page, campaign.approved_count, campaign.approval_calls, campaign.resent_count) == (
        3,
        120,
        2,
        3,
    )
    assert (campaign.error, campaign.at_risk_since) == ("r" * 2000, t)


def test_recent_campaigns_come_newest_first_and_live_ones_earliest_deadline_first(backend: Backend) -> None:
    # Campaigns without a deadline are left out: PostgreSQL sorts them last and SQLite first.
    add_campaigns(backend, new_campaign(1, deadline=T0 + timedelta(hours=3)), at=T0)
    add_campaigns(backend, new_campaign(2, deadline=T0 + timedelta(hours=1)), at=T0 + timedelta(seconds=1))
    add_campaigns(
        backend, new_campaign(3, state=CampaignState.READY, deadline=T0), at=T0 + timedelta(seconds=2)
    )
    add_campaigns(backend, new_campaign(4, deadline=T0 + timedelta(hours=2)), at=T0 + timedelta(seconds=3))
    with reading(backend) as uow:
        assert [c.id for c in uow.campaigns.recent()] == [4, 3, 2, 1]
        assert [c.id for c in uow.campaigns.recent(limit=2)] == [4, 3]
        assert [c.id for c in uow.campaigns.in_states(frozenset({CampaignState.INGESTING}))] == [2, 4, 1]
        assert uow.campaigns.in_states(frozenset({CampaignState.FAILED})) == []


def test_pages_are_created_once_and_claimed_done_once(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        assert uow.pages.create(1, range(3), now=T0) == [0, 1, 2]
        assert uow.pages.create(1, [2, 3, 3], now=T0) == [3]
        assert uow.pages.claim(1, 0, row_count=100, first_customer_id="c-0", now=T0)
        assert not uow.pages.claim(1, 0, row_count=100, first_customer_id="c-0", now=T0)
        assert not uow.pages.claim(1, 9, row_count=1, first_customer_id="c-9", now=T0)
        assert uow.pages.claim(1, 2, row_count=0, first_customer_id=None, now=T0)
        uow.pages.record_error(1, 1, "timeout " * 400)
        uow.pages.record_error(1, 9, "no page")
    with reading(backend) as uow:
        assert [uow.pages.state(1, n) for n in range(5)] == [
            PAGE_DONE,
            PAGE_PENDING,
            PAGE_DONE,
            PAGE_PENDING,
            None,
        ]
        assert uow.pages.repeats_another_page(1, 1, "c-0") and not uow.pages.repeats_another_page(1, 0, "c-0")
        assert not uow.pages.repeats_another_page(2, 1, "c-0")
        assert (uow.pages.count_done_through(1, 1), uow.pages.count_done_through(1, 2)) == (1, 2)
        assert uow.pages.count_done_through(2, 5) == 0


def test_stale_pages_of_ingesting_campaigns_are_dispatched_again_most_urgent_first(backend: Backend) -> None:
    add_campaigns(
        backend,
        new_campaign(1, deadline=T0 + timedelta(hours=2)),
        new_campaign(2, deadline=T0 + timedelta(hours=1)),
        new_campaign(3, state=CampaignState.READY),
    )
    with writing(backend) as uow:
        for campaign_id in (1, 2, 3):
            uow.pages.create(campaign_id, range(2), now=T0)
        uow.pages.claim(2, 0, row_count=1, first_customer_id="x", now=T0)
        uow.pages.create(1, [5], now=T0 + timedelta(minutes=10))  # dispatched recently
    now, cut = T0 + timedelta(minutes=15), T0 + timedelta(minutes=5)
    with writing(backend) as uow:
        assert uow.pages.claim_stale(now=now, stale_before=cut, limit=2) == [(2, 1), (1, 0)]
        assert uow.pages.claim_stale(now=now, stale_before=cut, limit=10) == [(1, 1)]
        assert uow.pages.claim_stale(now=now, stale_before=cut, limit=10) == []
    with reading(backend) as uow:
        later = now + timedelta(minutes=10)
        assert uow.pages.claim_stale(now=later, stale_before=now + timedelta(seconds=1), limit=10) == [
            (2, 1), (1, 0), (1, 1), (1, 5)
        ]  # fmt: skip


# The audience ------------------------------------------------------------------------------------


def test_a_page_write_keeps_rows_already_there_and_counts_the_rows_the_page_owns(backend: Backend) -> None:
    with writing(backend) as uow:
        first = uow.audience.write_page(1, 0, [decision("a", segment="gold"), decision("b", eligible=False)])
        second = uow.audience.write_page(1, 1, [decision("b"), decision("c"), decision("c", eligible=False)])
        again = uow.audience.write_page(1, 0, [decision("a", eligible=False), decision("d")])
        empty = uow.audience.write_page(1, 7, [])
    assert (first, second, empty) == (PageCounts(2, 1, 1), PageCounts(1, 1, 0), PageCounts(0, 0, 0))
    assert again == PageCounts(3, 2, 1)  # the page's rows, old and new; "a" kept as first written
    with reading(backend) as uow:
        assert uow.audience.member(1, "a") == AudienceMember(True, None, "PROMO", "gold")
        assert uow.audience.member(1, "b") == AudienceMember(False, "no_consent", "PROMO", None)
        assert uow.audience.member(1, "c") == AudienceMember(True, None, "PROMO", None)
        assert uow.audience.member(2, "a") is None


def test_a_page_written_column_by_column_counts_and_keeps_rows_as_a_list_of_decisions_would(
    backend: Backend,
) -> None:
    with writing(backend) as uow:
        fresh = uow.audience.write_page(
            1, 0, DecidedPage.of([decision("a", segment="gold"), decision("b", eligible=False)])
        )
        # "b" is on page 0 already: the page keeps its other rows and counts only what it owns.
        overlapping = uow.audience.write_page(1, 1, DecidedPage.of([decision("b"), decision("c")]))
        rewritten = uow.audience.write_page(1, 1, DecidedPage.of([decision("c"), decision("d")]))
    assert (fresh, overlapping, rewritten) == (PageCounts(2, 1, 1), PageCounts(1, 1, 0), PageCounts(2, 2, 0))
    with reading(backend) as uow:
        assert uow.audience.member(1, "a") == AudienceMember(True, None, "PROMO", "gold")
        assert uow.audience.member(1, "b") == AudienceMember(False, "no_consent", "PROMO", None)
        assert uow.audience.scrub_breakdown(1) == {"no_consent": 1}
        assert uow.audience.segment_breakdown(1) == {"gold": 1, "None": 2}


def test_the_audience_only_narrows_and_breaks_down_by_reason_and_segment(backend: Backend) -> None:
    with writing(backend) as uow:
        add = uow.audience.add_member_if_absent
        assert add(1, "a", page_no=-1, promo_code="P", segment="vip", eligible=True, scrub_reason=None)
        assert not add(1, "a", page_no=-1, promo_code="P", segment=None, eligible=False, scrub_reason="fraud")
        assert add(1, "b", page_no=-1, promo_code=None, segment=None, eligible=True, scrub_reason=None)
        assert add(1, "c", page_no=-1, promo_code=None, segment=None, eligible=False, scrub_reason="fraud")
        assert add(2, "a", page_no=-1, promo_code=None, segment=None, eligible=False, scrub_reason=None)
        assert uow.audience.scrub_member(1, "a", reason="no_consent")
        assert not uow.audience.scrub_member(1, "a", reason="fraud")
        assert not uow.audience.scrub_member(1, "zed", reason="fraud")
    with reading(backend) as uow:
        assert uow.audience.member(1, "a") == AudienceMember(False, "no_consent", "P", "vip")
        assert uow.audience.scrub_breakdown(1) == {"no_consent": 1, "fraud": 1}
        assert uow.audience.scrub_breakdown(2) == {"None": 1}  # str() of a NULL reason
        assert uow.audience.segment_breakdown(1) == {"None": 1}
        assert uow.audience.segment_breakdown(3) == {}


def test_a_stored_audience_is_read_back_in_pages_of_customers_with_their_verdicts(backend: Backend) -> None:
    with writing(backend) as uow:
        uow.audience.write_page(1, 0, [decision("d", segment="gold"), decision("b", eligible=False)])
        uow.audience.write_page(1, 1, [decision("a", segment="silver"), decision("c")])
        uow.audience.write_page(2, 0, [decision("aa")])
        add = uow.audience.add_member_if_absent
        assert add(1, "e", page_no=-1, promo_code=None, segment=None, eligible=True, scrub_reason=None)
    with reading(backend) as uow:
        first = uow.audience.decisions_page(1, after=None, limit=2)
        second = uow.audience.decisions_page(1, after=first[-1].candidate.customer_id, limit=2)
        third = uow.audience.decisions_page(1, after=second[-1].candidate.customer_id, limit=2)
        assert uow.audience.decisions_page(1, after="e", limit=2) == []
        assert uow.audience.decisions_page(3, after=None, limit=2) == []
    assert [d.candidate.customer_id for d in first + second + third] == ["a", "b", "c", "d", "e"]
    assert first == [
        Decision(Candidate("a", "PROMO", 7, {"Consent": "1"}), True, None, "silver"),
        Decision(Candidate("b", "PROMO", 7, {"Consent": "1"}), False, "no_consent", None),
    ]
    assert third == [Decision(Candidate("e", None, None, {}), True, None, None)]  # added by the gateway


# The outbox --------------------------------------------------------------------------------------


def test_statuses_are_queued_once_per_campaign_and_customer(backend: Backend) -> None:
    deadline = T0 + timedelta(hours=1)
    with writing(backend) as uow:
        assert uow.outbox.enqueue_statuses(1, ["a", "b", "a"], deadline=deadline, now=T0) == 2
        assert (
            uow.outbox.enqueue_statuses(1, ["a", "c"], deadline=deadline, now=T0 + timedelta(seconds=1)) == 1
        )
        assert uow.outbox.enqueue_statuses(2, ["a"], deadline=None, now=T0) == 1
        assert uow.outbox.enqueue_statuses(1, [], deadline=None, now=T0) == 0
        uow.audience.write_page(3, 0, [decision("x"), decision("y", eligible=False), decision("z")])
        uow.audience.write_page(3, 1, [decision("w")])
        assert uow.outbox.enqueue_statuses(3, ["z"], deadline=None, now=T0) == 1
        assert uow.outbox.enqueue_page_approvals(3, 0, deadline=None, now=T0) == 1
        assert uow.outbox.enqueue_page_approvals(3, 0, deadline=None, now=T0) == 0
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(3, 0, 0, 0, T0)
        assert uow.outbox.stats() == OutboxStats(6, 0, 0, 0, T0)
        assert (uow.outbox.pending_count(3), uow.outbox.pending_count(9)) == (2, 0)


def test_a_batch_is_leased_from_the_most_urgent_campaign_with_rows_due(backend: Backend) -> None:
    add_campaigns(
        backend,
        new_campaign(1, deadline=T0 + timedelta(hours=2)),
        new_campaign(2, deadline=T0 + timedelta(hours=1)),
        new_campaign(3, deadline=None),
    )
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a", "b"], deadline=T0 + timedelta(hours=2), now=T0)
        uow.outbox.enqueue_statuses(2, ["c", "d", "e"], deadline=T0 + timedelta(hours=1), now=T0)
        uow.outbox.enqueue_statuses(3, ["f"], deadline=None, now=T0)
        uow.outbox.enqueue_statuses(4, ["g"], deadline=None, now=T0)  # no campaign row: never leased
        assert uow.outbox.claim_batch(now=T0 - timedelta(seconds=1), limit=10, lease=LEASE) is None
    with writing(backend) as uow:
        batches = [uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE) for _ in range(5)]
    assert [(b.campaign_id, [c for c, _ in b.customers]) for b in batches if b is not None] == [
        (2, ["c", "d"]), (2, ["e"]), (1, ["a", "b"]), (3, ["f"])
    ]  # fmt: skip
    assert batches[4] is None
    first = batches[0]
    assert first is not None
    assert (first.kind, first.deadline, first.previously_sent) == (
        "promotion_status",
        T0 + timedelta(hours=1),
        0,
    )
    with reading(backend) as uow:
        assert uow.outbox.claim_batch(now=T0 + LEASE, limit=10, lease=LEASE) is None  # leases still run


def test_linger_holds_a_campaigns_rows_until_the_oldest_is_old_enough_or_a_batch_is_full(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    linger = timedelta(seconds=10)
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a", "b"], deadline=None, now=T0)
    with reading(backend) as uow:
        assert (
            uow.outbox.claim_batch(now=T0 + timedelta(seconds=5), limit=3, lease=LEASE, linger=linger) is None
        )
        full = uow.outbox.claim_batch(now=T0 + timedelta(seconds=5), limit=2, lease=LEASE, linger=linger)
        assert full is not None and len(full.customers) == 2
    with reading(backend) as uow:
        ripe = uow.outbox.claim_batch(now=T0 + linger, limit=3, lease=LEASE, linger=linger)
    assert ripe is not None and len(ripe.customers) == 2


def test_the_lease_id_fences_a_relay_whose_lease_ran_out_and_its_rows_count_as_resent(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a", "b"], deadline=None, now=T0)
    with writing(backend) as uow:
        lost = uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE)
    later = T0 + LEASE + timedelta(seconds=1)
    with writing(backend) as uow:
        fresh = uow.outbox.claim_batch(now=later, limit=10, lease=LEASE)
    assert lost is not None and fresh is not None and lost.lease_id != fresh.lease_id
    assert fresh.previously_sent == 2  # the dead relay's call may have reached Optimove
    with writing(backend) as uow:
        assert uow.outbox.attempts_of(lost) == 0 and uow.outbox.attempts_of(fresh) == 2
        assert uow.outbox.mark_sent(lost, now=later) == 0
        assert uow.outbox.release_for_retry(lost, available_at=later, error="x", maybe_applied=True) == 0
        assert uow.outbox.mark_dead(lost, now=later, error="x") == 0
        assert uow.outbox.mark_sent(fresh, now=later) == 2
        assert uow.outbox.mark_sent(fresh, now=later) == 0
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 2, 0, 2, None)
        assert uow.outbox.claim_batch(now=later + timedelta(days=1), limit=10, lease=LEASE) is None


def test_a_batch_given_back_waits_until_it_is_due_and_counts_a_call_that_may_have_landed(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a", "b"], deadline=None, now=T0)
        uow.outbox.enqueue_statuses(1, ["c"], deadline=None, now=T0)
    with writing(backend) as uow:
        ambiguous = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        refused = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
    assert ambiguous is not None and refused is not None
    retry_at = T0 + timedelta(seconds=30)
    with writing(backend) as uow:
        assert (
            uow.outbox.release_for_retry(
                ambiguous, available_at=retry_at, error="e" * 2500, maybe_applied=True
            )
            == 2
        )
        assert (
            uow.outbox.release_for_retry(refused, available_at=retry_at, error="429", maybe_applied=False)
            == 1
        )
        assert uow.outbox.claim_batch(now=retry_at - timedelta(seconds=1), limit=10, lease=LEASE) is None
    with writing(backend) as uow:
        again = uow.outbox.claim_batch(now=retry_at, limit=10, lease=LEASE)
        assert again is not None and again.previously_sent == 2 and len(again.customers) == 3
        assert uow.outbox.attempts_of(again) == 2
        assert uow.outbox.mark_sent(again, now=retry_at) == 3
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 3, 0, 2, None)


def test_dead_rows_stay_visible_and_a_canceled_campaign_stops_only_its_pending_rows(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1), new_campaign(2))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a"], deadline=None, now=T0)
        uow.outbox.enqueue_statuses(1, ["b", "c"], deadline=None, now=T0 + timedelta(seconds=1))
        uow.outbox.enqueue_statuses(2, ["d"], deadline=None, now=T0)
    with writing(backend) as uow:
        sent = uow.outbox.claim_batch(now=T0, limit=1, lease=LEASE)
        assert sent is not None and uow.outbox.mark_sent(sent, now=T0) == 1
        dead = uow.outbox.claim_batch(now=T0 + timedelta(seconds=1), limit=1, lease=LEASE)
        assert dead is not None and uow.outbox.mark_dead(dead, now=T0, error="401") == 1
        leased = uow.outbox.claim_batch(now=T0 + timedelta(seconds=1), limit=1, lease=LEASE)
        assert leased is not None and leased.campaign_id == 1
    with writing(backend) as uow:
        assert uow.outbox.cancel_campaign(1, now=T0, reason="campaign canceled") == 1
        assert uow.outbox.cancel_campaign(1, now=T0, reason="again") == 0
        assert uow.outbox.mark_sent(leased, now=T0) == 0
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 1, 2, 0, None)
        assert uow.outbox.stats(2) == OutboxStats(1, 0, 0, 0, T0)


def ingested_pages(backend: Backend, campaign_id: int, *pages: list[str]) -> None:
    """Write pages of eligible customers (and one scrubbed per page) and queue their approvals."""
    with writing(backend) as uow:
        for page_no, customers in enumerate(pages):
            counts = uow.audience.write_page(
                campaign_id,
                page_no,
                [*(decision(c) for c in customers), decision(f"scrubbed-{page_no}", eligible=False)],
            )
            queued = uow.outbox.enqueue_page_approvals(
                campaign_id, page_no, deadline=T0 + timedelta(hours=1), now=T0, eligible=counts.eligible
            )
            assert queued == len(customers)
            assert uow.outbox.enqueue_page_approvals(campaign_id, page_no, deadline=None, now=T0) == 0


def test_a_pages_approvals_are_one_unit_sent_in_customer_order_several_pages_or_part_of_one_a_call(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["c", "a", "b"], ["e", "d"], ["f"])
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(6, 0, 0, 0, T0)
        assert uow.outbox.backlog(1) == (6, T0) and uow.outbox.pending_count(1) == 6
    sent = []
    with writing(backend) as uow:
        while (batch := uow.outbox.claim_batch(now=T0, limit=4, lease=LEASE)) is not None:
            assert batch.previously_sent == 0
            sent.append([c for c, _ in batch.customers])
            assert uow.outbox.mark_sent(batch, now=T0) == len(batch.customers)
            assert uow.outbox.mark_sent(batch, now=T0) == 0
    assert sent == [["a", "b", "c", "d"], ["e", "f"]]
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 6, 0, 0, None)
        assert uow.outbox.pending_count(1) == 0


def test_an_auto_campaign_still_ingesting_holds_its_approvals_until_a_call_is_full_or_the_linger_is_over(
    backend: Backend,
) -> None:
    # Whatever the budget: each call spent on part of a batch is a call fewer for the pages still to
    # come (sampled in a limited run of 1,000,000: 50 of 97 calls carried a single page's approvals).
    add_campaigns(backend, new_campaign(1), new_campaign(2, state=CampaignState.APPROVING))
    ingested_pages(backend, 1, ["a", "b"], ["c"])
    ingested_pages(backend, 2, ["x"])
    linger = timedelta(seconds=10)
    soon = T0 + timedelta(seconds=5)
    with reading(backend) as uow:
        batch = uow.outbox.claim_batch(now=soon, limit=4, lease=LEASE, approvals_linger=linger)
        assert batch is not None and batch.campaign_id == 2  # no longer ingesting: it goes at once
        assert uow.outbox.claim_batch(now=soon, limit=4, lease=LEASE, approvals_linger=linger) is None
        full = uow.outbox.claim_batch(now=soon, limit=3, lease=LEASE, approvals_linger=linger)
        assert full is not None and [c for c, _ in full.customers] == ["a", "b", "c"]
    with reading(backend) as uow:
        ripe = uow.outbox.claim_batch(now=T0 + linger, limit=4, lease=LEASE, approvals_linger=linger)
        assert ripe is not None and ripe.campaign_id == 1 and len(ripe.customers) == 3
    with writing(backend) as uow:
        uow.campaigns.finish_ingest(1, CampaignState.APPROVING, now=soon)
    with reading(backend) as uow:
        done = uow.outbox.claim_batch(now=soon, limit=4, lease=LEASE, approvals_linger=linger)
        assert done is not None and done.campaign_id == 1 and len(done.customers) == 3


def test_a_customer_with_a_status_row_of_their_own_is_not_sent_again_with_their_page(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["b"], deadline=None, now=T0)
    ingested_pages(backend, 1, ["a", "c"])
    with writing(backend) as uow:
        uow.audience.write_page(1, 1, [decision("b"), decision("d")])  # "b" was listed on page 0's turn
        assert uow.outbox.enqueue_page_approvals(1, 1, deadline=None, now=T0, eligible=2) == 1
        batches = [uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE) for _ in range(3)]
    customers = sorted(c for b in batches if b is not None for c, _ in b.customers)
    assert customers == ["a", "b", "c", "d"] and batches[2] is None


def test_a_range_in_flight_when_its_relay_died_becomes_rows_of_its_own_counted_as_resent(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["a", "b", "c"])
    with writing(backend) as uow:
        lost = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
    assert lost is not None and [c for c, _ in lost.customers] == ["a", "b"]
    later = T0 + LEASE + timedelta(seconds=1)
    with writing(backend) as uow:
        again = uow.outbox.claim_batch(now=later, limit=10, lease=LEASE)
        assert again is not None and again.previously_sent == 2
        assert sorted(c for c, _ in again.customers) == ["a", "b"]
        assert uow.outbox.mark_sent(lost, now=later) == 0
        assert uow.outbox.mark_sent(again, now=later) == 2
        rest = uow.outbox.claim_batch(now=later, limit=10, lease=LEASE)
        assert rest is not None and [c for c, _ in rest.customers] == ["c"] and rest.previously_sent == 0
        assert uow.outbox.mark_sent(rest, now=later) == 1
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 3, 0, 2, None)
        assert uow.reconciliation.resent_statuses(1, examples=5).examples == ("a", "b")


def test_a_pages_range_given_back_is_split_off_when_the_call_may_have_landed_and_kept_when_not(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["a", "b", "c", "d"])
    retry_at = T0 + timedelta(seconds=30)
    with writing(backend) as uow:
        refused = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        assert refused is not None
        assert (
            uow.outbox.release_for_retry(refused, available_at=retry_at, error="429", maybe_applied=False)
            == 2
        )
        assert uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE) is None  # backing off
        same = uow.outbox.claim_batch(now=retry_at, limit=2, lease=LEASE)
        assert same is not None and same.customers == refused.customers and same.previously_sent == 0
        assert uow.outbox.attempts_of(same) == 2
        assert uow.outbox.release_for_retry(same, available_at=retry_at, error="503", maybe_applied=True) == 2
        resent = uow.outbox.claim_batch(now=retry_at, limit=10, lease=LEASE)
        assert resent is not None and resent.previously_sent == 2 and len(resent.customers) == 2
        assert uow.outbox.mark_sent(resent, now=retry_at) == 2
        rest = uow.outbox.claim_batch(now=retry_at, limit=10, lease=LEASE)
        assert rest is not None and [c for c, _ in rest.customers] == ["c", "d"]
        assert uow.outbox.mark_sent(rest, now=retry_at) == 2
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 4, 0, 2, None)


def test_a_pages_range_given_up_on_dies_customer_by_customer_and_a_cancel_stops_the_rest(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["a", "b", "c"], ["d", "e"])
    with writing(backend) as uow:
        refused = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        assert refused is not None and uow.outbox.mark_dead(refused, now=T0, error="401") == 2
        sent = uow.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        assert sent is not None and [c for c, _ in sent.customers] == ["c", "d"]
        assert uow.outbox.mark_sent(sent, now=T0) == 2
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(1, 2, 2, 0, T0)
        assert uow.campaigns.get(1).dead_count == 2  # type: ignore[union-attr]
    with writing(backend) as uow:
        assert uow.outbox.cancel_campaign(1, now=T0, reason="campaign canceled") == 1
    with reading(backend) as uow:
        assert uow.outbox.stats(1) == OutboxStats(0, 2, 3, 0, None)
        assert uow.campaigns.get(1).dead_count == 3  # type: ignore[union-attr]
        comparison = uow.reconciliation.compare_statuses_with_grants(
            1, late_before=T0, examples=5, examples_of=frozenset({StatusMatch.DEAD_WITHOUT_REWARD})
        )
    assert comparison.counts == {StatusMatch.SENT_WITHOUT_REWARD: 2, StatusMatch.DEAD_WITHOUT_REWARD: 3}
    assert comparison.examples[StatusMatch.DEAD_WITHOUT_REWARD] == ("a", "b", "e")


# The inbox ---------------------------------------------------------------------------------------


def inbox_event(
    campaign_id: int, fingerprint: str, *, event_type_id: int = 5, at: datetime = T0
) -> NewInboxEvent:
    """An event to store, its payload naming its fingerprint."""
    payload = {"EventTypeID": event_type_id, "CampaignID": campaign_id, "Fingerprint": fingerprint}
    return NewInboxEvent(
        "optimove", event_type_id, campaign_id, fingerprint, payload, json.dumps(payload), at
    )


def test_an_event_is_stored_once_and_one_that_differs_is_kept_apart_once(backend: Backend) -> None:
    with writing(backend) as uow:
        assert uow.inbox.store(inbox_event(1, "first")).stored == Stored.NEW
        assert (
            uow.inbox.store(inbox_event(1, "first", at=T0 + timedelta(seconds=1))).stored == Stored.DUPLICATE
        )
        conflict = uow.inbox.store(inbox_event(1, "second", at=T0 + timedelta(seconds=2)))
        assert uow.inbox.store(inbox_event(1, "second")).stored == Stored.DUPLICATE
        assert (
            uow.inbox.store(inbox_event(1, "third", at=T0 + timedelta(seconds=3))).stored == Stored.CONFLICT
        )
        assert uow.inbox.store(inbox_event(1, "first", event_type_id=4)).stored == Stored.NEW
        assert uow.inbox.store(inbox_event(2, "second")).stored == Stored.NEW
    assert conflict.stored == Stored.CONFLICT and conflict.first_payload == inbox_event(1, "first").payload
    with reading(backend) as uow:
        first = uow.inbox.get(conflict.first_event_id or 0)
        count, latest = uow.inbox.conflicts_for(1)
        assert uow.inbox.conflicts_for(1, limit=1)[1] == latest[:1]
        assert uow.inbox.conflicts_for(2) == (0, [])
    assert first is not None and (first.campaign_id, first.processed) == (1, False)
    assert count == 2 and [c.payload["Fingerprint"] for c in latest] == ["third", "second"]
    assert {c.first_event_id for c in latest} == {first.id} and latest[1].received_at == T0 + timedelta(
        seconds=2
    )


def test_an_event_stored_before_fingerprints_makes_any_later_one_of_its_kind_a_duplicate(
    backend: Backend,
) -> None:
    backend.seed_legacy_event(1000, 5, 1)
    with writing(backend) as uow:
        assert uow.inbox.store(inbox_event(1, "new-style")).stored == Stored.DUPLICATE
        assert uow.inbox.conflicts_for(1) == (0, [])
        legacy = uow.inbox.get(1000)
    assert legacy is not None and legacy.payload == {"EventTypeID": 5, "CampaignID": 1}


def test_events_are_dispatched_until_processed_and_processed_once(backend: Backend) -> None:
    with writing(backend) as uow:
        uow.inbox.store(inbox_event(1, "a"))
        uow.inbox.store(inbox_event(2, "a"))
        uow.inbox.store(inbox_event(1, "conflicting"))  # processed at once: never dispatched
    with writing(backend) as uow:
        first, second = uow.inbox.claim_for_dispatch(now=T0, stale_before=T0, limit=10)
        assert uow.inbox.claim_for_dispatch(now=T0, stale_before=T0, limit=10) == []
    later = T0 + timedelta(minutes=5)
    with writing(backend) as uow:
        assert uow.inbox.mark_processed(first, now=later, outcome="campaign_started")
        assert not uow.inbox.mark_processed(first, now=later, outcome="again")
        assert not uow.inbox.mark_processed(999_999, now=later, outcome="nothing")
        assert uow.inbox.claim_for_dispatch(now=later, stale_before=later, limit=10) == [second]
    with reading(backend) as uow:
        event = uow.inbox.get(first)
        assert uow.inbox.get(999_999) is None
    assert event is not None and event.processed and first < second


# Activations, clients, operator data, settings --------------------------------------------------


def test_grants_and_wallet_credits_are_recorded_once_per_claim_and_summed_per_campaign(
    backend: Backend,
) -> None:
    a, b = validated_claims(backend, "a", "b")
    [other] = validated_claims(backend, "c", campaign_id=2)
    grants = [RewardGrant(i, 1, c, "PROMO", "gold", "bonus", Decimal(amount))
              for i, c, amount in ((a, "a", "1.25"), (b, "b", "2.5"))]  # fmt: skip
    with writing(backend) as uow:
        assert (
            uow.activations.record([(grants[0], "ref-1"), (grants[1], None)], activator="http", now=T0) == 2
        )
        assert uow.activations.record([(grants[0], "ref-2")], activator="http", now=T0) == 0
        assert uow.activations.record([], activator="http", now=T0) == 0
        elsewhere = RewardGrant(other, 2, "c", None, None, None, Decimal(100))
        assert uow.activations.record([(elsewhere, None)], activator="wallet", now=T0) == 1
        assert uow.activations.credit_wallets([grants[0], grants[0], elsewhere], now=T0) == 2
        assert uow.activations.credit_wallets([], now=T0) == 0
    with reading(backend) as uow:
        assert uow.activations.granted_total(1) == Decimal("3.75")
        assert uow.activations.granted_total(3) == Decimal(0)
        assert uow.activations.credits_per_claim() == {a: 1, other: 1}


def test_a_client_name_is_taken_once_and_a_revoked_client_stays_listed(backend: Backend) -> None:
    with writing(backend) as uow:
        first = uow.clients.add(NewClient("shop", "abc123", "h1", 600, frozenset({"claims", "admin"}), T0))
        assert uow.clients.add(NewClient("shop", "def456", "h2", 60, frozenset({"claims"}), T0)) is None
        second = uow.clients.add(NewClient("app", "def456", "h3", 60, frozenset(), T0))
        assert first is not None and second is not None and first != second
        assert uow.clients.revoke("shop", now=T0) and not uow.clients.revoke("shop", now=T0)
        assert not uow.clients.revoke("nobody", now=T0)
    with reading(backend) as uow:
        shop = uow.clients.find_by_key_id("abc123")
        assert uow.clients.find_by_key_id("def456") is not None and uow.clients.find_by_key_id("zzz") is None
        assert [c.name for c in uow.clients.all()] == ["shop", "app"]
    assert shop is not None
    assert (shop.id, shop.key_hash, shop.rate_limit_per_minute, shop.revoked, shop.scopes) == (
        first, "h1", 600, True, frozenset({"claims", "admin"})
    )  # fmt: skip


def test_a_taken_key_id_under_another_name_is_an_error_not_a_taken_name(backend: Backend) -> None:
    with writing(backend) as uow:
        assert uow.clients.add(NewClient("shop", "abc123", "h1", 600, frozenset({"claims"}), T0)) is not None
    with pytest.raises((IntegrityError, UniqueViolation)), writing(backend) as uow:
        uow.clients.add(NewClient("other", "abc123", "h2", 600, frozenset({"claims"}), T0))


def test_operator_flags_are_inserted_or_replaced_per_customer(backend: Backend) -> None:
    with writing(backend) as uow:
        assert not uow.operator_data.has_any()
        rows = [("a", OperatorFlags(consent=False)), ("b", OperatorFlags(fraud=True, vip_level=3))]
        assert uow.operator_data.save(rows, now=T0) == 2
        assert uow.operator_data.save([("a", OperatorFlags(vip_level=1))], now=T0) == 1
        assert uow.operator_data.save([], now=T0) == 0
    with reading(backend) as uow:
        assert uow.operator_data.has_any()
        assert uow.operator_data.flags_for(["a", "b", "c"]) == {
            "a": OperatorFlags(consent=None, fraud=None, vip_level=1),
            "b": OperatorFlags(consent=None, fraud=True, vip_level=3),
        }
        assert uow.operator_data.flags_for([]) == {}


def test_campaign_settings_change_only_the_fields_given(backend: Backend) -> None:
    with writing(backend) as uow:
        assert uow.campaign_settings.get(5) is None
        uow.campaign_settings.save(5, now=T0, updated_by="ops", kind=KIND_TRIGGERED, notes="launch")
        uow.campaign_settings.save(5, now=T0 + timedelta(seconds=1), updated_by=None, mode="claim")
        uow.campaign_settings.save(6, now=T0, updated_by=None)
    with reading(backend) as uow:
        five, six = uow.campaign_settings.get(5), uow.campaign_settings.get(6)
    assert five is not None and six is not None
    assert (five.kind, five.mode, five.notes, five.updated_by, five.updated_at) == (
        KIND_TRIGGERED, "claim", "launch", None, T0 + timedelta(seconds=1)
    )  # fmt: skip
    assert (six.kind, six.mode, six.notes) == (None, None, None)


# Reconciliation ----------------------------------------------------------------------------------


def reward(
    backend: Backend, *customers: str, campaign_id: int = 1, amount: str = "10", wallet: bool = True
) -> list[str]:
    """Claims validated and granted as the wallet activator does (an activation record and a credit
    each; with `wallet` False, as the HTTP activator does: the record only)."""
    ids = validated_claims(backend, *customers, campaign_id=campaign_id)
    grants = [RewardGrant(i, campaign_id, c, "PROMO", "gold", "bonus", Decimal(amount))
              for i, c in zip(ids, customers, strict=True)]  # fmt: skip
    with writing(backend) as uow:
        uow.claims.mark_activated([ActivatedClaim(i, Decimal(amount)) for i in ids], now=T0)
        uow.activations.record([(g, None) for g in grants], activator="wallet", now=T0)
        if wallet:
            uow.activations.credit_wallets(grants, now=T0)
    return ids


def credit_without_claim(
    backend: Backend, customer_id: str, *, amount: str = "5", campaign_id: int = 1
) -> None:
    """A wallet credit that no claim (and no activation record) stands behind."""
    grant = RewardGrant(new_claim_id(), campaign_id, customer_id, None, None, None, Decimal(amount))
    with writing(backend) as uow:
        assert uow.activations.credit_wallets([grant], now=T0) == 1


def statuses(
    backend: Backend, campaign_id: int, customers: list[str], *, end: str | None, at: datetime = T0
) -> None:
    """Queue statuses at `at`, then send them ("sent"), dead-letter them ("dead") or leave them (None).

    The campaign's other due rows must be final already: the batch takes every row due.
    """
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(campaign_id, customers, deadline=None, now=at)
    if end is None:
        return
    with writing(backend) as uow:
        batch = uow.outbox.claim_batch(now=at, limit=100, lease=LEASE)
        assert batch is not None and sorted(c for c, _ in batch.customers) == sorted(customers)
        if end == "sent":
            assert uow.outbox.mark_sent(batch, now=at) == len(customers)
        else:
            assert uow.outbox.mark_dead(batch, now=at, error="401") == len(customers)


def test_each_customer_with_a_grant_or_a_status_is_matched_once(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM))
    reward(backend, "r-dead", "r-late", "r-missing", "r-sent", "r-wait")
    credit_without_claim(backend, "w-missing")  # a credit with no claim behind it is a reward all the same
    statuses(backend, 1, ["r-sent", "u-sent"], end="sent")
    statuses(backend, 1, ["r-dead", "u-dead"], end="dead")
    statuses(backend, 1, ["r-late", "u-queued"], end=None)
    statuses(backend, 1, ["r-wait"], end=None, at=T0 + timedelta(hours=1))
    reward(backend, "r-elsewhere", campaign_id=2)  # another campaign's: never counted
    statuses(backend, 2, ["r-elsewhere", "u-elsewhere"], end=None)
    late_before = T0 + timedelta(minutes=30)
    with reading(backend) as uow:
        compare = uow.reconciliation.compare_statuses_with_grants
        first_of_each = compare(1, late_before=late_before, examples=1, examples_of=frozenset(StatusMatch))
        missing_only = compare(
            1, late_before=late_before, examples=5, examples_of=frozenset({StatusMatch.MISSING})
        )
        counts_only = compare(1, late_before=late_before, examples=0, examples_of=frozenset(StatusMatch))
        nothing = compare(3, late_before=late_before, examples=5, examples_of=frozenset(StatusMatch))
    assert first_of_each.counts == {
        StatusMatch.REPORTED: 1, StatusMatch.WAITING: 1, StatusMatch.LATE: 1, StatusMatch.DEAD: 1,
        StatusMatch.MISSING: 2, StatusMatch.SENT_WITHOUT_REWARD: 1, StatusMatch.QUEUED_WITHOUT_REWARD: 1,
        StatusMatch.DEAD_WITHOUT_REWARD: 1,
    }  # fmt: skip
    assert first_of_each.examples == {
        StatusMatch.REPORTED: ("r-sent",), StatusMatch.WAITING: ("r-wait",), StatusMatch.LATE: ("r-late",),
        StatusMatch.DEAD: ("r-dead",), StatusMatch.MISSING: ("r-missing",),
        StatusMatch.SENT_WITHOUT_REWARD: ("u-sent",), StatusMatch.QUEUED_WITHOUT_REWARD: ("u-queued",),
        StatusMatch.DEAD_WITHOUT_REWARD: ("u-dead",),
    }  # fmt: skip
    assert missing_only.examples == {StatusMatch.MISSING: ("r-missing", "w-missing")}
    assert missing_only.sample(StatusMatch.DEAD) == IdSample(1, ())
    assert missing_only.total(STATUS_QUEUED) == 3 and missing_only.total(REWARDED) == 6
    assert counts_only.counts == first_of_each.counts and counts_only.examples == {}
    assert nothing == StatusComparison()


def test_grants_are_counted_once_per_claim_and_customers_credited_twice_are_named(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM))
    reward(backend, "a", amount="10")  # an activation record and a wallet credit: one grant
    reward(backend, "b", amount="2.5", wallet=False)  # a record only (the HTTP activator)
    credit_without_claim(backend, "a", amount="10")  # a second credit for "a"
    credit_without_claim(backend, "z", amount="1.25")
    reward(backend, "elsewhere", campaign_id=2)
    with reading(backend) as uow:
        summary = uow.reconciliation.grant_summary(1, examples=5)
        counted = uow.reconciliation.grant_summary(1, examples=0)
        nothing = uow.reconciliation.grant_summary(3, examples=5)
    assert summary == GrantSummary(
        customers=3, credits=4, amount=Decimal("23.75"), rewarded_more_than_once=IdSample(1, ("a",))
    )
    assert counted.rewarded_more_than_once == IdSample(1, ())
    assert nothing == GrantSummary()


def test_statuses_sent_in_more_than_one_call_are_named(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1), new_campaign(2))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["b", "a"], deadline=None, now=T0)
    with writing(backend) as uow:
        ambiguous = uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE)
        assert ambiguous is not None
        uow.outbox.release_for_retry(ambiguous, available_at=T0, error="timeout", maybe_applied=True)
        uow.outbox.enqueue_statuses(1, ["c"], deadline=None, now=T0)
    with writing(backend) as uow:
        retried = uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE)  # "c" goes once, with them
        assert retried is not None and uow.outbox.mark_sent(retried, now=T0) == 3
    statuses(backend, 2, ["d"], end="sent")
    with reading(backend) as uow:
        assert uow.reconciliation.resent_statuses(1, examples=1) == IdSample(2, ("a",))
        assert uow.reconciliation.resent_statuses(1, examples=0) == IdSample(2)
        assert uow.reconciliation.resent_statuses(2, examples=5) == IdSample(0)


def test_stuck_claims_are_those_the_reconciler_would_dispatch_again(backend: Backend) -> None:
    now = T0 + timedelta(minutes=5)
    stale_before = now - timedelta(minutes=1)
    [validated_long_ago, retry_scheduled] = validated_claims(backend, "v1", "v2")
    [activated] = validated_claims(backend, "v3")
    [old, fresh] = add_claims(
        backend, new_claim("p1"), new_claim("p2", at=stale_before + timedelta(seconds=1))
    )
    [validating] = add_claims(backend, new_claim("l1", promo_code="OTHER"))
    add_claims(backend, new_claim("x1", campaign_id=2))
    with writing(backend) as uow:
        uow.claims.schedule_activation_retry({retry_scheduled: "activation_retry: 503"}, due_at=now, now=T0)
        uow.claims.mark_activated([ActivatedClaim(activated, Decimal(1))], now=T0)
        uow.claims.lease_pending(campaign_id=1, promo_code="OTHER", limit=1, lease=LEASE, now=T0)
    with reading(backend) as uow:
        stuck = uow.reconciliation.stuck_claims(1, stale_before=stale_before, now=now, examples=5)
        counted = uow.reconciliation.stuck_claims(1, stale_before=stale_before, now=now, examples=0)
        before_the_lease_ran_out = uow.reconciliation.stuck_claims(
            1, stale_before=T0, now=T0 + timedelta(seconds=1), examples=5
        )
    assert stuck.count == 3 and set(stuck.examples) == {validated_long_ago, old, validating}
    assert counted == IdSample(3) and before_the_lease_ran_out == IdSample(0)
    assert fresh not in stuck.examples


def test_missing_statuses_of_rewarded_customers_are_queued_once(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM))
    reward(backend, "a", "b", "c")
    credit_without_claim(backend, "w")
    statuses(backend, 1, ["a"], end="sent")
    statuses(backend, 1, ["b"], end="dead")
    deadline, later = T0 + timedelta(hours=1), T0 + timedelta(minutes=1)
    with writing(backend) as uow:
        assert uow.reconciliation.queue_missing_statuses(1, deadline=deadline, now=later) == 2
        assert uow.reconciliation.queue_missing_statuses(1, deadline=deadline, now=later) == 0
        assert uow.reconciliation.queue_missing_statuses(3, deadline=None, now=later) == 0
    with writing(backend) as uow:
        comparison = uow.reconciliation.compare_statuses_with_grants(
            1, late_before=later, examples=0, examples_of=frozenset()
        )
        batch = uow.outbox.claim_batch(now=later, limit=10, lease=LEASE)
    assert comparison.counts == {StatusMatch.REPORTED: 1, StatusMatch.DEAD: 1, StatusMatch.WAITING: 2}
    assert batch is not None and sorted(c for c, _ in batch.customers) == ["c", "w"]
    assert batch.deadline == deadline and batch.customers[0][1] is True


def test_dead_statuses_of_rewarded_customers_are_queued_again_as_new(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM), new_campaign(2))
    reward(backend, "a", "b")
    reward(backend, "c", campaign_id=2)
    statuses(backend, 1, ["a", "b", "u"], end="dead")  # "u" has no reward: it stays dead
    statuses(backend, 2, ["c"], end="dead")  # another campaign's
    later = T0 + timedelta(hours=1)
    with writing(backend) as uow:
        assert uow.reconciliation.requeue_dead_statuses(1, now=later) == 2
        assert uow.reconciliation.requeue_dead_statuses(1, now=later) == 0
    with writing(backend) as uow:
        one, two = uow.campaigns.get(1), uow.campaigns.get(2)
        comparison = uow.reconciliation.compare_statuses_with_grants(
            1, late_before=later, examples=0, examples_of=frozenset()
        )
        assert uow.outbox.backlog(1) == (2, later)
        assert uow.outbox.claim_batch(now=later - timedelta(seconds=1), limit=10, lease=LEASE) is None
        batch = uow.outbox.claim_batch(now=later, limit=10, lease=LEASE)
        assert batch is not None and uow.outbox.attempts_of(batch) == 1  # a fresh budget of attempts
    assert one is not None and two is not None and (one.dead_count, two.dead_count) == (1, 1)
    assert comparison.counts == {StatusMatch.WAITING: 2, StatusMatch.DEAD_WITHOUT_REWARD: 1}
    assert (batch.campaign_id, sorted(c for c, _ in batch.customers)) == (1, ["a", "b"])


# Transactions ------------------------------------------------------------------------------------


def test_changes_are_seen_by_others_only_once_committed_and_are_gone_without_a_commit(
    concurrent_backend: Backend,
) -> None:
    backend = concurrent_backend
    with backend.uow() as writer, backend.uow() as other:
        assert writer.campaigns.add(new_campaign(1), now=T0)
        assert writer.campaigns.get(1) is not None and other.campaigns.get(1) is None
        writer.commit()
        assert other.campaigns.get(1) is not None  # a new statement sees what was committed
        assert writer.campaigns.add(new_campaign(2), now=T0)  # a new transaction, never committed
    with reading(backend) as uow:
        assert uow.campaigns.get(1) is not None and uow.campaigns.get(2) is None


def test_a_unit_of_work_left_without_commit_changes_nothing(backend: Backend) -> None:
    [claim_id] = add_claims(backend, new_claim("a"))
    with backend.uow() as uow:
        uow.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=1, lease=LEASE, now=T0)
        uow.outbox.enqueue_statuses(1, ["a"], deadline=None, now=T0)
    with pytest.raises(RuntimeError, match="boom"), backend.uow() as uow:
        uow.claims.mark_failed({claim_id: "x"}, now=T0)
        uow.commit()
        uow.campaigns.add(new_campaign(1), now=T0)
        raise RuntimeError("boom")
    with reading(backend) as uow:
        assert uow.outbox.stats() == OutboxStats(0, 0, 0, 0, None) and uow.campaigns.get(1) is None
    assert states(backend, [claim_id]) == [ClaimState.FAILED]


def test_two_open_units_of_work_lease_disjoint_claims_and_outbox_rows(concurrent_backend: Backend) -> None:
    backend = concurrent_backend
    add_campaigns(backend, new_campaign(1))
    add_claims(backend, *(new_claim(f"c{n}", at=T0 + timedelta(seconds=n)) for n in range(4)))
    with writing(backend) as uow:
        uow.outbox.enqueue_statuses(1, ["a", "b", "c"], deadline=None, now=T0)
    with backend.uow() as first, backend.uow() as second:
        lease_a = first.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=2, lease=LEASE, now=T0)
        lease_b = second.claims.lease_pending(campaign_id=1, promo_code="PROMO", limit=3, lease=LEASE, now=T0)
        batch_a = first.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
        batch_b = second.outbox.claim_batch(now=T0, limit=2, lease=LEASE)
    assert [c.customer_id for c in lease_a.claims] == ["c0", "c1"]
    assert [c.customer_id for c in lease_b.claims] == ["c2", "c3"]
    assert batch_a is not None and batch_b is not None
    assert batch_a.customers == [("a", True), ("b", True)] and batch_b.customers == [("c", True)]


def test_while_its_campaign_ingests_a_second_relay_leaves_what_the_first_did_not_take_to_fill_a_later_call(
    concurrent_backend: Backend,
) -> None:
    # Both relays see a full batch due; the first leases it, and the second, skipping the rows the
    # first holds, would have sent the rest as a call of its own (seen: 14 of 92 calls in a limited run).
    backend = concurrent_backend
    add_campaigns(backend, new_campaign(1))
    ingested_pages(backend, 1, ["a", "b"], ["c", "d"], ["e"])
    linger = timedelta(seconds=10)
    with backend.uow() as first, backend.uow() as second:
        batch_a = first.outbox.claim_batch(now=T0, limit=4, lease=LEASE, approvals_linger=linger)
        batch_b = second.outbox.claim_batch(now=T0, limit=4, lease=LEASE, approvals_linger=linger)
    assert batch_a is not None and [c for c, _ in batch_a.customers] == ["a", "b", "c", "d"]
    assert batch_b is None
    with backend.uow() as first, backend.uow() as second:  # once the rest is old enough, it goes
        batch_a = first.outbox.claim_batch(now=T0 + linger, limit=4, lease=LEASE, approvals_linger=linger)
        batch_b = second.outbox.claim_batch(now=T0 + linger, limit=4, lease=LEASE, approvals_linger=linger)
    assert batch_a is not None and batch_b is not None and [c for c, _ in batch_b.customers] == ["e"]


def test_a_unit_of_work_commits_and_goes_on_in_a_new_transaction(backend: Backend) -> None:
    with backend.uow() as uow:
        uow.campaigns.add(new_campaign(1), now=T0)
        uow.commit()
        uow.campaigns.add(new_campaign(2), now=T0)
        uow.commit()
        uow.campaigns.add(new_campaign(3), now=T0)
    with reading(backend) as uow:
        assert [c.id for c in uow.campaigns.recent()] in ([1, 2], [2, 1])


def test_a_unit_of_work_is_used_inside_its_with_block(backend: Backend) -> None:
    uow = backend.uow()
    with pytest.raises(RuntimeError, match="not open"):
        uow.commit()
    with uow:
        uow.limit_statement_time(5_000)
        uow.campaigns.add(new_campaign(1), now=T0)
        uow.commit()
    with pytest.raises(RuntimeError, match="not open"):
        uow.limit_statement_time(5_000)


# Where PostgreSQL waits for another open transaction, the single-threaded fake cannot: it refuses.
# PostgreSQL's wait is cut short here by the statement time limit.
BLOCKED = (OperationalError, WouldBlock)


def test_a_row_another_open_unit_of_work_changed_is_waited_for(concurrent_backend: Backend) -> None:
    backend = concurrent_backend
    [claim_id] = add_claims(backend, new_claim("a"))
    with backend.uow() as first, backend.uow() as second:
        assert first.claims.mark_failed({claim_id: "first"}, now=T0) == [claim_id]
        second.limit_statement_time(200)
        with pytest.raises(BLOCKED):
            second.claims.mark_failed({claim_id: "second"}, now=T0)
    with reading(backend) as uow:
        assert uow.claims.counts_by_state() == {"pending": 1}


def test_a_campaign_another_open_unit_of_work_locked_is_waited_for(concurrent_backend: Backend) -> None:
    backend = concurrent_backend
    add_campaigns(backend, new_campaign(1))
    with backend.uow() as first, backend.uow() as second:
        assert first.campaigns.get(1, lock=True) is not None
        assert second.campaigns.get(1) is not None  # reading needs no lock
        second.limit_statement_time(200)
        with pytest.raises(BLOCKED):
            second.campaigns.get(1, lock=True)


def test_an_insert_clashing_with_one_not_yet_committed_is_waited_for(concurrent_backend: Backend) -> None:
    backend = concurrent_backend
    with backend.uow() as first, backend.uow() as second:
        assert first.claims.add(new_claim("a"))
        second.limit_statement_time(200)
        with pytest.raises(BLOCKED):
            second.claims.add(new_claim("a"))


# Operator control: holds, modes, reservations, rules, switches -------------------------------------


def test_a_live_campaign_is_held_once_and_released_once(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1), new_campaign(2, state=CampaignState.CANCELED))
    with writing(backend) as uow:
        assert uow.campaigns.hold(1, "safeguard:max_audience: too many", now=T0)
        assert not uow.campaigns.hold(1, "again", now=T0)
        assert not uow.campaigns.hold(2, "a canceled campaign is not held", now=T0)
        assert not uow.campaigns.hold(99, "unknown", now=T0)
    with reading(backend) as uow:
        held = uow.campaigns.get(1)
        assert held is not None and held.hold == "safeguard:max_audience: too many"
    with writing(backend) as uow:
        assert uow.campaigns.release(1, now=T0)
        assert not uow.campaigns.release(1, now=T0)
    with reading(backend) as uow:
        released = uow.campaigns.get(1)
        assert released is not None and released.hold is None


def test_the_first_page_settles_the_mode_once_and_records_the_first_promo_code(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM))
    with writing(backend) as uow:
        assert uow.campaigns.settle_first_page(
            1, mode=CampaignMode.AUTO, mode_from="rule:WELCOME*", promo_code=None, now=T0
        )
        assert uow.campaigns.settle_first_page(
            1, mode=CampaignMode.CLAIM, mode_from="environment", promo_code="WELCOME10", now=T0
        )
        assert not uow.campaigns.settle_first_page(
            1, mode=CampaignMode.CLAIM, mode_from="environment", promo_code="OTHER", now=T0
        )
    with reading(backend) as uow:
        campaign = uow.campaigns.get(1)
    assert campaign is not None
    assert (campaign.mode, campaign.mode_from, campaign.promo_code) == (
        CampaignMode.AUTO, "rule:WELCOME*", "WELCOME10"
    )  # fmt: skip


def test_a_campaign_created_with_its_mode_source_keeps_it(backend: Backend) -> None:
    with writing(backend) as uow:
        new = NewCampaign(1, CampaignMode.AUTO, None, None, 100, mode_from="settings")
        assert uow.campaigns.add(new, now=T0)
    with reading(backend) as uow:
        campaign = uow.campaigns.get(1)
    assert campaign is not None and (campaign.mode_from, campaign.rewards_reserved) == ("settings", 0)
    assert campaign.amount_reserved == Decimal(0)


def test_only_an_ingesting_campaign_changes_mode(backend: Backend) -> None:
    add_campaigns(backend, new_campaign(1), new_campaign(2, state=CampaignState.READY))
    with writing(backend) as uow:
        assert uow.campaigns.change_mode(1, CampaignMode.CLAIM, mode_from="settings", now=T0)
        assert not uow.campaigns.change_mode(2, CampaignMode.AUTO, mode_from="settings", now=T0)
    with reading(backend) as uow:
        one, two = uow.campaigns.get(1), uow.campaigns.get(2)
    assert one is not None and (one.mode, one.mode_from) == (CampaignMode.CLAIM, "settings")
    assert two is not None and two.mode == CampaignMode.AUTO


def test_rewards_are_reserved_once_per_validated_claim_and_given_back_unless_granted(
    backend: Backend,
) -> None:
    add_campaigns(backend, new_campaign(1, mode=CampaignMode.CLAIM))
    a, b, c = validated_claims(backend, "a", "b", "c")
    [pending] = add_claims(backend, new_claim("d"))
    with writing(backend) as uow:
        reserved = uow.claims.reserve_rewards(
            1, {a: Decimal("10.5"), b: Decimal(20), pending: Decimal(5)}, now=T0
        )
        assert sorted(reserved) == sorted([a, b])
        assert uow.claims.reserve_rewards(1, {a: Decimal(99), c: Decimal(1)}, now=T0) == [c]
        assert uow.claims.reserve_rewards(2, {a: Decimal(1)}, now=T0) == []  # another campaign's claim
    with reading(backend) as uow:
        campaign = uow.campaigns.get(1)
        held = {claim.id: claim.reserved_amount for claim in uow.claims.get_many([a, b, c, pending])}
    assert campaign is not None
    assert (campaign.rewards_reserved, campaign.amount_reserved) == (3, Decimal("31.5"))
    assert held == {a: Decimal("10.5"), b: Decimal(20), c: Decimal(1), pending: None}
    with writing(backend) as uow:
        uow.claims.mark_activated([ActivatedClaim(a, Decimal("10.5"))], now=T0)
        uow.claims.mark_rejected({b: "activation_refused: no"}, source=ClaimState.VALIDATED, now=T0)
        assert uow.claims.release_reservations([a, b, b, pending], now=T0) == 1
        assert uow.claims.release_reservations([], now=T0) == 0
    with reading(backend) as uow:
        campaign = uow.campaigns.get(1)
        after = {claim.id: claim.reserved_amount for claim in uow.claims.get_many([a, b])}
    assert campaign is not None
    assert (campaign.rewards_reserved, campaign.amount_reserved) == (2, Decimal("11.5"))
    assert after == {a: Decimal("10.5"), b: None}


def test_rules_are_saved_by_pattern_replaced_listed_and_deleted(backend: Backend) -> None:
    from app.domain.safeguards import Safeguards, SettingsRule

    with writing(backend) as uow:
        uow.settings_rules.save(SettingsRule("WELCOME*", 5, "auto", Safeguards(100, None, None)), now=T0)
        uow.settings_rules.save(
            SettingsRule("BONUS?", 0, None, Safeguards(None, 50, Decimal("1000.25")), "vip", "ops"), now=T0
        )
        uow.settings_rules.save(
            SettingsRule("WELCOME*", 7, "claim", Safeguards(None, 3, None)), now=T0 + timedelta(seconds=1)
        )
    with reading(backend) as uow:
        rules = uow.settings_rules.all()
    assert [(r.pattern, r.priority, r.mode, r.safeguards, r.notes, r.updated_by) for r in rules] == [
        ("BONUS?", 0, None, Safeguards(None, 50, Decimal("1000.25")), "vip", "ops"),
        ("WELCOME*", 7, "claim", Safeguards(None, 3, None), None, None),
    ]
    assert rules[1].updated_at == T0 + timedelta(seconds=1)
    with writing(backend) as uow:
        assert uow.settings_rules.delete("BONUS?")
        assert not uow.settings_rules.delete("BONUS?")
    with reading(backend) as uow:
        assert [r.pattern for r in uow.settings_rules.all()] == ["WELCOME*"]


def test_a_switch_is_off_until_set_and_reports_whether_a_change_changed_it(backend: Backend) -> None:
    with reading(backend) as uow:
        assert uow.switches.get("pause") is None
    with writing(backend) as uow:
        assert uow.switches.set("pause", on=True, by="cli", reason="incident 42", now=T0)
        assert not uow.switches.set("pause", on=True, by="api", reason="again", now=T0)
    with reading(backend) as uow:
        switch = uow.switches.get("pause")
    assert switch is not None and (switch.on, switch.by, switch.at, switch.reason) == (
        True, "cli", T0, "incident 42"
    )  # fmt: skip
    with writing(backend) as uow:
        assert uow.switches.set("pause", on=False, by="api", reason=None, now=T0 + timedelta(seconds=1))
    with reading(backend) as uow:
        off = uow.switches.get("pause")
    assert off is not None and (off.on, off.by) == (False, "api")


def test_campaign_settings_keep_the_safeguards_given(backend: Backend) -> None:
    with writing(backend) as uow:
        uow.campaign_settings.save(
            5, now=T0, updated_by="ops", max_audience=1000, max_rewards=50, max_reward_amount=Decimal("12.5")
        )
        uow.campaign_settings.save(5, now=T0, updated_by="ops", max_rewards=None)
    with reading(backend) as uow:
        five = uow.campaign_settings.get(5)
    assert five is not None
    assert (five.max_audience, five.max_rewards, five.max_reward_amount) == (1000, None, Decimal("12.5"))


def test_held_campaigns_send_nothing_and_the_pause_holds_back_only_auto_approvals(backend: Backend) -> None:
    add_campaigns(
        backend,
        new_campaign(1, mode=CampaignMode.AUTO),
        new_campaign(2, mode=CampaignMode.CLAIM, deadline=T0 + timedelta(hours=2)),
        new_campaign(3, mode=CampaignMode.CLAIM, deadline=T0 + timedelta(hours=3)),
    )
    with writing(backend) as uow:
        for campaign_id in (1, 2, 3):
            uow.outbox.enqueue_statuses(campaign_id, ["x"], deadline=None, now=T0)
        uow.campaigns.hold(2, "held", now=T0)
    with writing(backend) as uow:
        paused = uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE, approvals_paused=True)
        assert paused is not None and paused.campaign_id == 3
        assert uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE, approvals_paused=True) is None
        running = uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE)
        assert running is not None and running.campaign_id == 1
        assert uow.outbox.claim_batch(now=T0, limit=10, lease=LEASE) is None  # 2 is held
