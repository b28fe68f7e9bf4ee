"""Granting rewards: each grant settled on its own, POSTs bounded, statuses queued per campaign."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from app.adapters.activators.wallet import WalletLedgerActivator
from app.domain.backoff import Backoff
from app.domain.claims import ClaimState
from app.domain.rewards import GrantKind
from app.policies.rewards import RewardCap, RewardPipeline, VipMultiplier
from app.services.activation import ActivationConfig, ActivationResult, activate_validated
from app.services.ports import RewardActivator
from tests.fakes.activators import ScriptedActivator
from tests.fakes.clock import FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import CAMPAIGN, DEADLINE, claim_campaign, claim_states, validated_claims

NO_SCALING = RewardPipeline([])
CONFIG = ActivationConfig(max_attempts=3, backoff=Backoff(base_seconds=1, max_seconds=60))


def activate(
    uow: FakeUnitOfWorkFactory,
    activator: RewardActivator,
    dispatcher: RecordingDispatcher,
    claim_ids: Sequence[str],
    *,
    clock: FixedClock | None = None,
    rewards: RewardPipeline = NO_SCALING,
    config: ActivationConfig = CONFIG,
    rng: random.Random | None = None,
) -> ActivationResult:
    return activate_validated(
        uow,
        activator,
        rewards,
        claim_ids,
        config,
        clock=clock or FixedClock(),
        rng=rng or random.Random(1),
    )


def reasons(uow: FakeUnitOfWorkFactory, ids: Sequence[str]) -> list[str | None]:
    with uow() as u:
        by_id = {claim.id: claim.reason for claim in u.claims.get_many(ids)}
    return [by_id[i] for i in ids]


def test_granted_claims_are_activated_recorded_and_their_statuses_queued_per_campaign_with_its_deadline(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    claim_campaign(uow)
    claim_campaign(uow, campaign_id=2, deadline=None)
    alice, bob = validated_claims(uow, "alice", "bob")
    [carol] = validated_claims(uow, "carol", campaign_id=2)
    activator = ScriptedActivator()
    clock.advance(seconds=5)

    result = activate(uow, activator, dispatcher, [alice, bob, carol], clock=clock)

    assert result == ActivationResult("activated", activated=3)
    assert claim_states(uow, [alice, bob, carol]) == [ClaimState.ACTIVATED] * 3
    assert {claim_id: row.external_ref for claim_id, row in db.activations.rows.items()} == {
        c: f"ref-{c[:8]}" for c in (alice, bob, carol)
    }
    assert {(r.campaign_id, r.customer_id, r.deadline) for r in db.outbox.rows.values()} == {
        (CAMPAIGN, "alice", DEADLINE), (CAMPAIGN, "bob", DEADLINE), (2, "carol", None)
    }  # fmt: skip
    assert {r.created_at for r in db.outbox.rows.values()} == {clock.now}
    assert [g.claim_id for g in activator.recorded] == [alice, bob, carol]
    assert not dispatcher.sent  # the statuses queued wake the relay through the database, not the broker
    with uow() as u:
        assert u.activations.granted_total(CAMPAIGN) == Decimal(20)


def test_each_grant_of_a_round_is_settled_on_its_own(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow, eligible=["alice", "bob", "carol", "dave"])
    ids = validated_claims(uow, "alice", "bob", "carol", "dave")
    activator = ScriptedActivator()
    activator.answer("bob", GrantKind.REFUSED, reason="limit_reached")
    activator.answer("carol", GrantKind.MISCONFIGURED, reason="HTTP 401")
    activator.answer("dave", GrantKind.RETRY, reason="HTTP 503")

    result = activate(uow, activator, dispatcher, ids)

    assert (result.outcome, result.activated, result.refused, result.failed, result.retry) == (
        "activated", 1, 1, 1, (ids[3],)
    )  # fmt: skip
    assert claim_states(uow, ids) == [
        ClaimState.ACTIVATED, ClaimState.REJECTED, ClaimState.FAILED, ClaimState.VALIDATED
    ]  # fmt: skip
    assert reasons(uow, ids) == [
        None,
        "activation_refused: limit_reached",
        "activation_misconfigured: HTTP 401",
        "activation_retry: HTTP 503",
    ]
    assert [r.customer_id for r in db.outbox.rows.values()] == ["alice"]


def test_a_round_with_only_retries_left_says_so_and_rings_no_status_round(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    ids = validated_claims(uow, "alice")
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.RETRY)

    result = activate(uow, activator, dispatcher, ids)

    assert (result.outcome, result.activated, result.retry) == ("retry", 0, tuple(ids))
    assert reasons(uow, ids) == ["activation_retry: retry"] and not dispatcher.sent


def test_an_unsettled_grant_waits_the_backoff_and_the_reconciler_leaves_it_alone_until_then(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.RETRY, reason="HTTP 503")

    result = activate(uow, activator, dispatcher, [alice], clock=clock, rng=random.Random(7))

    expected = CONFIG.backoff.delay(1, rng=random.Random(7))
    assert 0.5 <= result.retry_in_seconds == expected <= 1.0 and result.retry_after is None
    assert db.claims.rows[alice].dispatched_at == clock.now + timedelta(seconds=expected)
    with uow() as u:
        assert u.claims.stale(stale_before=clock.now + timedelta(seconds=expected), limit=10) == []


def test_the_platforms_retry_after_is_a_floor_capped_by_the_backoffs_maximum(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    alice, bob = validated_claims(uow, "alice", "bob")
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.RETRY, retry_after=20)
    activator.answer("bob", GrantKind.RETRY, retry_after=5)

    result = activate(uow, activator, dispatcher, [alice, bob])
    assert (result.retry_after, result.retry_in_seconds) == (20, 20)

    activator.answer("alice", GrantKind.RETRY, retry_after=3600)
    assert activate(uow, activator, dispatcher, [alice, bob]).retry_in_seconds == 60


def test_a_grant_is_never_posted_more_than_max_attempts_times_whoever_dispatches_it(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.RETRY, reason="timeout")

    outcomes = [activate(uow, activator, dispatcher, [alice]).outcome for _ in range(5)]

    assert outcomes == ["retry", "retry", "activated", "skipped", "skipped"]
    assert activator.attempts[alice] == CONFIG.max_attempts == 3
    assert claim_states(uow, [alice]) == [ClaimState.FAILED]
    assert reasons(uow, [alice]) == ["activation_unconfirmed: timeout after 3 attempts"]


def test_a_claim_whose_last_attempt_left_no_outcome_fails_as_unconfirmed_without_another_post(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    with uow() as u:  # three attempts were reserved; the worker making the last one died mid-call
        for _ in range(3):
            u.claims.reserve_activation_attempts([alice], max_attempts=3, now=clock())
        u.claims.schedule_activation_retry({alice: "activation_retry: HTTP 503"}, due_at=clock(), now=clock())
        u.commit()
    activator = ScriptedActivator()

    result = activate(uow, activator, dispatcher, [alice])

    assert (result.outcome, result.failed) == ("activated", 1) and not activator.attempts
    assert reasons(uow, [alice]) == ["activation_unconfirmed: HTTP 503 after 3 attempts"]


def test_a_grant_confirmed_after_its_claim_was_given_up_still_activates_and_reports_it(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, dispatcher: RecordingDispatcher, clock: FixedClock
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    activator = ScriptedActivator()

    def another_round_gives_up_meanwhile() -> None:
        with uow() as u:
            u.claims.mark_failed({alice: "activation_unconfirmed: timeout after 3 attempts"}, now=clock())
            u.commit()

    activator.during_grant = another_round_gives_up_meanwhile

    result = activate(uow, activator, dispatcher, [alice])

    assert result.activated == 1 and claim_states(uow, [alice]) == [ClaimState.ACTIVATED]
    assert [r.customer_id for r in db.outbox.rows.values()] == ["alice"] and not dispatcher.sent


def test_claims_no_longer_validated_are_skipped_without_a_post(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    activator = ScriptedActivator()
    activate(uow, activator, dispatcher, [alice])

    assert activate(uow, activator, dispatcher, [alice, "no-such-claim"]) == ActivationResult("skipped")
    assert activator.attempts[alice] == 1 and not dispatcher.sent


def test_the_reward_policies_scale_what_is_granted(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    alice, bob = validated_claims(uow, "alice", "bob", reward=Decimal(10))  # both in the gold segment
    activator = ScriptedActivator()

    activate(uow, activator, dispatcher, [alice], rewards=RewardPipeline([VipMultiplier()]))
    activate(uow, activator, dispatcher, [bob], rewards=RewardPipeline([VipMultiplier(), RewardCap(12)]))

    assert [(g.amount, g.tier, g.reward_type) for g in activator.granted] == [
        (Decimal("15.00"), "gold", "bonus"), (Decimal(12), "gold", "bonus")
    ]  # fmt: skip
    with uow() as u:
        granted = {c.customer_id: c.granted_amount for c in u.claims.get_many([alice, bob])}
    assert granted == {"alice": Decimal(15), "bob": Decimal(12)}


def test_an_offer_without_an_amount_grants_zero(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice", reward=None)
    activator = ScriptedActivator()

    activate(uow, activator, dispatcher, [alice])

    assert [g.amount for g in activator.granted] == [Decimal(0)]


def test_a_grant_the_activator_gave_no_outcome_for_is_retried(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    alice, bob = validated_claims(uow, "alice", "bob")
    activator = ScriptedActivator()
    activator.silent.add("alice")

    result = activate(uow, activator, dispatcher, [alice, bob])

    assert (result.activated, result.retry) == (1, (alice,))
    assert reasons(uow, [alice]) == ["activation_retry: the activator gave no outcome"]


def test_the_wallet_activator_credits_each_claim_once_in_the_activations_unit_of_work(
    uow: FakeUnitOfWorkFactory, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    alice, bob = validated_claims(uow, "alice", "bob")
    wallet = WalletLedgerActivator()

    activate(uow, wallet, dispatcher, [alice])
    activate(uow, wallet, dispatcher, [alice, bob])

    with uow() as u:
        assert u.activations.credits_per_claim() == {alice: 1, bob: 1}
