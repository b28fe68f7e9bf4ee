"""Submitting a claim: one per customer, replays recognised, the hopeless rejected at once, one doorbell."""

from __future__ import annotations

import pytest

from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import (
    NOT_IN_AUDIENCE,
    Admission,
    ClaimDraft,
    ClaimRequest,
    ClaimState,
    new_claim_id,
)
from app.services.claims import (
    CampaignNotClaimable,
    IdempotencyConflict,
    Submission,
    SubmittedClaim,
    UnknownCampaign,
    claim_stats,
    get_claim,
    submit_claim,
)
from app.services.unit_of_work import UnitOfWorkFactory
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWork, FakeUnitOfWorkFactory
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import CAMPAIGN, PROMO, claim_campaign

HTTP = Submission(client_id=7, idempotency_key=None, source="http", correlation_id="req-1")


def submit(
    uow: UnitOfWorkFactory,
    dispatcher: RecordingDispatcher,
    customer_id: str,
    *,
    submission: Submission = HTTP,
    campaign_id: int = CAMPAIGN,
    session: dict[str, object] | None = None,
) -> SubmittedClaim:
    request = ClaimRequest(campaign_id, customer_id, session if session is not None else {"country": "MT"})
    # A doorbell that publishes every ring: what is tested here is when the service rings at all
    # (deduplicating rings is the doorbell's job, tested with validation).
    doorbell = ValidationDoorbell(MemoryCoordination(unavailable=True), dispatcher)
    return submit_claim(uow, doorbell, request, submission, clock=FixedClock())


def keyed(key: str, client_id: int = 7) -> Submission:
    return Submission(client_id=client_id, idempotency_key=key, source="http")


def test_a_targeted_customers_claim_is_pending_with_their_promo_code_and_rings_the_doorbell_once(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)

    submitted = submit(uow, dispatcher, "alice", session={"country": "MT", "deposits": 3})

    claim = submitted.claim
    assert submitted.created and claim.state == ClaimState.PENDING and claim.reason is None
    assert (claim.campaign_id, claim.customer_id, claim.promo_code, claim.segment) == (
        CAMPAIGN,
        "alice",
        PROMO,
        "gold",
    )
    assert (claim.client_id, claim.source, claim.correlation_id, claim.created_at) == (7, "http", "req-1", T0)
    assert claim.session_properties == {"country": "MT", "deposits": 3}
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)] and len(dispatcher.sent) == 1


def test_a_second_claim_of_the_same_customer_returns_the_first_and_rings_no_doorbell(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    first = submit(uow, dispatcher, "alice", submission=keyed("click-1"))

    again = submit(uow, dispatcher, "alice", submission=keyed("click-2", client_id=8), session={"other": 1})
    unkeyed = submit(uow, dispatcher, "alice")

    assert not again.created and again.claim == first.claim == unkeyed.claim
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)]


def test_a_replay_with_the_same_idempotency_key_and_body_returns_the_same_claim(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    first = submit(uow, dispatcher, "alice", submission=keyed("k"))

    replay = submit(uow, dispatcher, "alice", submission=keyed("k"))

    assert not replay.created and replay.claim == first.claim
    assert len(dispatcher.validations) == 1


def test_an_idempotency_key_reused_with_another_body_is_a_conflict_and_writes_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    submit(uow, dispatcher, "alice", submission=keyed("k"))

    with pytest.raises(IdempotencyConflict):
        submit(uow, dispatcher, "bob", submission=keyed("k"))
    with pytest.raises(IdempotencyConflict):
        submit(uow, dispatcher, "alice", submission=keyed("k"), session={"country": "UK"})

    assert [row.customer_id for row in db.claims.rows.values()] == ["alice"]
    assert len(dispatcher.validations) == 1


def test_the_same_key_from_another_client_is_another_claim(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    submit(uow, dispatcher, "alice", submission=keyed("k", client_id=7))

    other = submit(uow, dispatcher, "bob", submission=keyed("k", client_id=8))

    assert other.created and other.claim.customer_id == "bob"


def test_a_customer_outside_the_audience_is_rejected_at_once_and_never_validated(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)

    submitted = submit(uow, dispatcher, "stranger")

    assert submitted.created
    assert (submitted.claim.state, submitted.claim.reason) == (ClaimState.REJECTED, NOT_IN_AUDIENCE)
    assert submitted.claim.promo_code is None and not dispatcher.sent


def test_a_scrubbed_customers_claim_is_rejected_at_once_with_the_scrub_reason(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow, scrubbed={"mallory": "fraud_flagged"})

    submitted = submit(uow, dispatcher, "mallory")

    assert (submitted.claim.state, submitted.claim.reason) == (ClaimState.REJECTED, "scrubbed:fraud_flagged")
    assert not dispatcher.sent
    assert submit(uow, dispatcher, "mallory").claim == submitted.claim  # a retry gets the same answer


@pytest.mark.parametrize(
    ("mode", "state"),
    [
        (CampaignMode.AUTO, CampaignState.APPROVING),
        (CampaignMode.CLAIM, CampaignState.INGESTING),
        (CampaignMode.CLAIM, CampaignState.CANCELED),
        (CampaignMode.CLAIM, CampaignState.FAILED),
    ],
)
def test_a_campaign_that_takes_no_claims_refuses_them_before_anything_is_written(
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    dispatcher: RecordingDispatcher,
    mode: CampaignMode,
    state: CampaignState,
) -> None:
    claim_campaign(uow, mode=mode, state=state)

    with pytest.raises(CampaignNotClaimable, match=f"mode {mode}, state {state}"):
        submit(uow, dispatcher, "alice")

    assert not db.claims.rows and not dispatcher.sent


def test_a_claim_for_a_campaign_optimove_never_announced_is_refused(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher
) -> None:
    with pytest.raises(UnknownCampaign):
        submit(uow, dispatcher, "alice", campaign_id=404)
    assert not db.claims.rows and not dispatcher.sent


def test_an_existing_claim_is_still_answered_once_its_campaign_takes_no_more_claims(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    claim_campaign(uow)
    first = submit(uow, dispatcher, "alice", submission=keyed("k"))
    with uow() as u:
        u.campaigns.cancel(CAMPAIGN, now=clock())
        u.commit()

    assert submit(uow, dispatcher, "alice", submission=keyed("k")).claim == first.claim


class RacingUnitOfWork(FakeUnitOfWork):
    """A unit of work in which another request stores the same customer's claim just before this one."""

    def __init__(self, db: FakeDatabase, dispatcher: RecordingDispatcher) -> None:
        super().__init__(db)
        self.dispatcher = dispatcher

    def __enter__(self) -> RacingUnitOfWork:
        super().__enter__()
        admit = self.claims.admit

        def admit_after_a_rival(draft: ClaimDraft, *, claimable: frozenset[CampaignState]) -> Admission:
            rival = FakeUnitOfWorkFactory(self.db)
            assert submit(rival, self.dispatcher, draft.customer_id, submission=keyed("rival", 99)).created
            return admit(draft, claimable=claimable)

        self.claims.admit = admit_after_a_rival  # type: ignore[method-assign]
        return self


def test_a_claim_that_loses_a_race_to_another_of_the_same_customer_returns_the_winner_and_rings_once(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)

    racing = submit(lambda: RacingUnitOfWork(db, dispatcher), dispatcher, "alice", submission=keyed("mine"))

    assert not racing.created and racing.claim.idempotency_key == "rival"
    assert [row.idempotency_key for row in db.claims.rows.values()] == ["rival"]
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)]  # rung once, by the winner


def test_text_that_cannot_be_a_claim_id_is_not_even_looked_up(uow: FakeUnitOfWorkFactory) -> None:
    assert get_claim(uow, "'; DROP TABLE claims; --") is None
    assert get_claim(uow, new_claim_id().upper()) is None
    assert uow.opened == 0
    assert get_claim(uow, new_claim_id()) is None and uow.opened == 1


def test_a_stored_claim_is_read_back_by_its_id(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    submitted = submit(uow, dispatcher, "alice")
    assert get_claim(uow, submitted.claim.id) == submitted.claim


def test_claim_stats_count_claims_by_state_and_the_refused_by_reason(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow, scrubbed={"mallory": "fraud_flagged"})
    claim_campaign(uow, campaign_id=2)
    for customer in ("alice", "bob", "mallory", "stranger", "alien"):
        submit(uow, dispatcher, customer)
    submit(uow, dispatcher, "alice", campaign_id=2)

    by_state, by_reason = claim_stats(uow, CAMPAIGN)

    assert by_state == {"pending": 2, "rejected": 3}
    assert by_reason == {NOT_IN_AUDIENCE: 2, "scrubbed:fraud_flagged": 1}
    assert claim_stats(uow)[0] == {"pending": 3, "rejected": 3}
