"""Operator control in memory: settings and rules at run time, holds, reward limits and the pause."""

from __future__ import annotations

import json
import random
from collections import Counter
from decimal import Decimal

import pytest

from app.domain.campaigns import CampaignMode, CampaignState
from app.domain.claims import ClaimRequest, ClaimState
from app.domain.rewards import GrantKind
from app.domain.safeguards import MAX_AUDIENCE, MAX_REWARD_AMOUNT, MAX_REWARDS, Safeguards
from app.policies.rewards import RewardPipeline
from app.services.activation import ActivationConfig, ActivationResult, activate_validated
from app.services.campaign_settings import (
    RuleChange,
    SettingsRefused,
    delete_rule,
    list_rules,
    set_campaign_settings,
    set_rule,
)
from app.services.claims import Submission, submit_claim
from app.services.ingest import IngestConfig
from app.services.operator_control import (
    ControlConfig,
    UnknownCampaign,
    effective_for,
    pause,
    pause_state,
    release_campaign,
    resume,
)
from app.services.relay import RelayConfig, relay_once
from app.services.validation import ValidationConfig, ValidationDoorbell, validate_pending
from tests.fakes.activators import ScriptedActivator
from tests.fakes.clock import FixedClock
from tests.fakes.optimove import FakeCampaignSource, FakePromotionValidator, FakeStatusSink
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import (
    CAMPAIGN,
    PROMO,
    claim_campaign,
    claim_states,
    pending_claims,
    validated_claims,
)
from tests.unit.services.test_ingest import ATTRIBUTES, Flow, customers, scheduled

NO_SCALING = RewardPipeline([])


class Trips:
    """Records the safeguard trips the services count (the /metrics hook)."""

    def __init__(self) -> None:
        self.counted: Counter[str] = Counter()

    def __call__(self, safeguard: str, count: int) -> None:
        self.counted[safeguard] += count


NO_LIMITS = Safeguards()


def approvals_queued(db: FakeDatabase) -> int:
    """Customers whose approval waits in the outbox: a page's row stands for all its customers."""
    return sum(row.customers or 1 for row in db.outbox.rows.values())


def ingest_config(
    mode: CampaignMode = CampaignMode.CLAIM, safeguards: Safeguards = NO_LIMITS, trips: Trips | None = None
) -> IngestConfig:
    return IngestConfig(10, 2, ATTRIBUTES, mode, {}, safeguards, trips or Trips())


def activation(safeguards: Safeguards = NO_LIMITS, trips: Trips | None = None) -> ActivationConfig:
    return ActivationConfig(
        max_attempts=3, control=ControlConfig(safeguards=safeguards, on_trip=trips or Trips())
    )


def activate(
    uow: FakeUnitOfWorkFactory,
    ids: list[str],
    config: ActivationConfig,
    activator: ScriptedActivator | None = None,
) -> ActivationResult:
    return activate_validated(
        uow,
        activator or ScriptedActivator(),
        NO_SCALING,
        ids,
        config,
        clock=FixedClock(),
        rng=random.Random(1),
    )


def validate(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, validator: FakePromotionValidator
) -> str:
    step = validate_pending(
        uow,
        validator,
        doorbell,
        ValidationConfig(),
        CAMPAIGN,
        PROMO,
        clock=FixedClock(),
        sleep=lambda _: None,
    )
    return step.outcome


def reasons(uow: FakeUnitOfWorkFactory, ids: list[str]) -> list[str | None]:
    with uow() as u:
        by_id = {claim.id: claim.reason for claim in u.claims.get_many(ids)}
    return [by_id[i] for i in ids]


# Campaign settings and rules ----------------------------------------------------------------------


def test_a_mode_set_before_the_webhook_is_the_one_the_campaign_gets(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    set_campaign_settings(uow, CAMPAIGN, mode="auto", updated_by="cli")

    Flow(uow, FakeCampaignSource(), ingest_config(CampaignMode.CLAIM)).start(scheduled())

    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.mode, campaign.mode_from) == (CampaignMode.AUTO, "settings")


def test_a_rule_matching_the_promo_code_settles_the_mode_at_the_first_page(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    set_rule(uow, RuleChange("SPR*", mode="auto"), updated_by="cli")
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(5)}), ingest_config(CampaignMode.CLAIM))
    flow.start(scheduled())
    assert db.campaigns.rows[CAMPAIGN].mode_from is None  # its promo code is not known yet

    flow.drain()

    campaign = db.campaigns.rows[CAMPAIGN]
    assert (campaign.mode, campaign.mode_from, campaign.promo_code) == (
        CampaignMode.AUTO,
        "rule:SPR*",
        "SPRING",
    )
    assert campaign.state == CampaignState.APPROVING
    assert approvals_queued(db) == 5


def test_without_settings_or_rules_the_mode_comes_from_the_environment(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    Flow(uow, FakeCampaignSource(), ingest_config(CampaignMode.AUTO)).start(scheduled())

    assert (db.campaigns.rows[CAMPAIGN].mode, db.campaigns.rows[CAMPAIGN].mode_from) == (
        CampaignMode.AUTO, "environment"
    )  # fmt: skip


def test_the_campaigns_own_settings_win_over_a_rule_which_wins_over_the_environment(
    uow: FakeUnitOfWorkFactory,
) -> None:
    environment = ControlConfig(
        safeguards=Safeguards(max_audience=1000, max_rewards=500, max_reward_amount=Decimal(9))
    )
    set_rule(uow, RuleChange("SPRING", max_rewards=50, max_audience=800), updated_by="ops")
    set_campaign_settings(uow, CAMPAIGN, max_rewards=5)

    with uow() as u:
        settings = effective_for(u, environment, CAMPAIGN, promo_code="SPRING")
        other = effective_for(u, environment, CAMPAIGN, promo_code="AUTUMN")

    assert settings.safeguards == Safeguards(800, 5, Decimal(9))
    assert dict(settings.sources) == {
        "max_audience": "rule:SPRING", "max_rewards": "settings", "max_reward_amount": "environment"
    }  # fmt: skip
    assert other.safeguards == Safeguards(1000, 5, Decimal(9))


def test_none_clears_a_campaigns_own_setting_back_to_the_fallback(uow: FakeUnitOfWorkFactory) -> None:
    set_campaign_settings(uow, CAMPAIGN, max_rewards=5, max_reward_amount=Decimal("12.5"), notes="launch")

    stored = set_campaign_settings(uow, CAMPAIGN, max_rewards=None)

    assert (stored.max_rewards, stored.max_reward_amount, stored.notes) == (None, Decimal("12.5"), "launch")


@pytest.mark.parametrize(
    "change",
    [{"mode": "sometimes"}, {"max_rewards": -1}, {"max_audience": 2**63},
     {"max_reward_amount": Decimal("NaN")}, {"max_reward_amount": Decimal(-1)}, {"notes": "x" * 2001}],
)  # fmt: skip
def test_an_invalid_setting_is_refused_before_anything_is_written(
    uow: FakeUnitOfWorkFactory, change: dict[str, object]
) -> None:
    with pytest.raises(SettingsRefused):
        set_campaign_settings(uow, CAMPAIGN, **change)  # type: ignore[arg-type]
    assert uow.opened == 0


def test_changing_the_mode_after_claims_were_taken_is_refused_and_changes_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    claim_campaign(uow)
    pending_claims(uow, "alice")

    with pytest.raises(SettingsRefused, match="cannot change after approvals or claims have started"):
        set_campaign_settings(uow, CAMPAIGN, mode="auto", notes="switch")

    assert db.campaigns.rows[CAMPAIGN].mode == CampaignMode.CLAIM
    assert not db.campaign_settings.rows


def test_changing_the_mode_after_approvals_were_queued_is_refused(uow: FakeUnitOfWorkFactory) -> None:
    claim_campaign(uow, mode=CampaignMode.AUTO, state=CampaignState.INGESTING)
    with uow() as u:
        u.outbox.enqueue_statuses(CAMPAIGN, ["alice"], deadline=None, now=FixedClock().now)
        u.commit()

    with pytest.raises(SettingsRefused, match="1 approvals are queued or sent"):
        set_campaign_settings(uow, CAMPAIGN, mode="claim")


def test_the_mode_of_an_ingesting_campaign_with_nothing_started_changes(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    claim_campaign(uow, mode=CampaignMode.AUTO, state=CampaignState.INGESTING)

    set_campaign_settings(uow, CAMPAIGN, mode="claim")
    set_campaign_settings(uow, CAMPAIGN, mode="claim")  # the same mode again is no change

    assert (db.campaigns.rows[CAMPAIGN].mode, db.campaigns.rows[CAMPAIGN].mode_from) == (
        CampaignMode.CLAIM, "settings"
    )  # fmt: skip


def test_rules_are_replaced_by_pattern_listed_and_deleted(uow: FakeUnitOfWorkFactory) -> None:
    set_rule(uow, RuleChange("WELCOME*", priority=1, max_rewards=10), updated_by="ops")
    set_rule(uow, RuleChange("WELCOME*", priority=2, mode="claim"), updated_by="api")

    [rule] = list_rules(uow)
    assert (rule.priority, rule.mode, rule.safeguards, rule.updated_by) == (2, "claim", Safeguards(), "api")
    assert delete_rule(uow, "WELCOME*", updated_by="ops")
    assert not delete_rule(uow, "WELCOME*", updated_by="ops")


@pytest.mark.parametrize("pattern", ["", "x" * 129, "bad\npattern"])
def test_a_rule_with_an_unusable_pattern_is_refused(uow: FakeUnitOfWorkFactory, pattern: str) -> None:
    with pytest.raises(SettingsRefused):
        set_rule(uow, RuleChange(pattern), updated_by="ops")


# Max audience ---------------------------------------------------------------------------------------


def test_a_campaign_over_its_max_audience_is_held_and_its_claims_wait_until_released(
    uow: FakeUnitOfWorkFactory,
    db: FakeDatabase,
    doorbell: ValidationDoorbell,
    dispatcher: RecordingDispatcher,
) -> None:
    trips = Trips()
    set_campaign_settings(uow, CAMPAIGN, max_audience=15)
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(25)}), ingest_config(trips=trips))
    flow.start(scheduled())
    flow.drain()
    campaign = db.campaigns.rows[CAMPAIGN]
    assert campaign.state == CampaignState.READY and campaign.hold is not None
    assert campaign.hold.startswith(f"{MAX_AUDIENCE}: 20 customers ingested, more than the maximum of 15")
    assert trips.counted == {MAX_AUDIENCE: 1}

    submitted = submit_claim(uow, doorbell, ClaimRequest(CAMPAIGN, "c1", {}), Submission(1, None, "http"))
    assert submitted.claim.state == ClaimState.PENDING  # accepted and stored: it waits
    validator = FakePromotionValidator()
    assert validate(uow, doorbell, validator) == "held"
    assert not validator.calls
    dispatcher.validations.clear()

    assert release_campaign(uow, doorbell, CAMPAIGN, by="cli")
    assert not release_campaign(uow, doorbell, CAMPAIGN, by="cli")
    assert db.campaigns.rows[CAMPAIGN].hold is None
    assert list(dispatcher.validations) == [(CAMPAIGN, "SPRING")]  # released claims are woken at once
    assert validate(uow, doorbell, validator) == "validated"
    assert claim_states(uow, [submitted.claim.id]) == [ClaimState.VALIDATED]


def test_releasing_an_unknown_campaign_says_so(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    with pytest.raises(UnknownCampaign):
        release_campaign(uow, doorbell, 404, by="cli")


def test_a_campaign_within_its_max_audience_is_not_held(uow: FakeUnitOfWorkFactory, db: FakeDatabase) -> None:
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(25)}), ingest_config(safeguards=Safeguards(25)))
    flow.start(scheduled())
    flow.drain()

    assert db.campaigns.rows[CAMPAIGN].hold is None


def test_an_auto_campaign_with_a_max_audience_queues_no_approval_before_its_audience_is_known(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    flow = Flow(
        uow, FakeCampaignSource({CAMPAIGN: customers(25)}), ingest_config(CampaignMode.AUTO, Safeguards(100))
    )
    flow.start(scheduled())
    flow.page(0)
    assert not db.outbox.rows  # page 0 is in, the audience's size is not known yet

    flow.drain()

    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVING
    assert approvals_queued(db) == 25


def test_a_held_auto_campaign_sends_no_approval_until_released(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase, doorbell: ValidationDoorbell
) -> None:
    flow = Flow(
        uow, FakeCampaignSource({CAMPAIGN: customers(25)}), ingest_config(CampaignMode.AUTO, Safeguards(20))
    )
    flow.start(scheduled())
    flow.drain()
    sink = FakeStatusSink()
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVING and not db.outbox.rows
    assert relay_once(uow, sink, RelayConfig(), clock=FixedClock()) is None

    release_campaign(uow, doorbell, CAMPAIGN, by="api", clock=FixedClock())

    sent = relay_once(uow, sink, RelayConfig(), clock=FixedClock())
    assert sent is not None and sent.customers == 25
    assert db.campaigns.rows[CAMPAIGN].state == CampaignState.APPROVED


def test_lowering_max_audience_under_a_live_campaigns_size_holds_it(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    trips = Trips()
    flow = Flow(uow, FakeCampaignSource({CAMPAIGN: customers(25)}), ingest_config())
    flow.start(scheduled())
    flow.drain()

    set_campaign_settings(uow, CAMPAIGN, max_audience=30, control=ControlConfig(on_trip=trips))
    assert db.campaigns.rows[CAMPAIGN].hold is None
    set_campaign_settings(uow, CAMPAIGN, max_audience=10, control=ControlConfig(on_trip=trips))

    assert (db.campaigns.rows[CAMPAIGN].hold or "").startswith(MAX_AUDIENCE)
    assert trips.counted == {MAX_AUDIENCE: 1}


# Max rewards and max reward amount --------------------------------------------------------------------


def test_max_rewards_grants_exactly_that_many_across_rounds_and_rejects_the_rest(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    trips = Trips()
    claim_campaign(uow)
    config = activation(Safeguards(max_rewards=3), trips)
    first = validated_claims(uow, *(f"a{n}" for n in range(2)))
    second = validated_claims(uow, *(f"b{n}" for n in range(3)))

    assert activate(uow, first, config).activated == 2
    result = activate(uow, second, config)

    assert (result.activated, result.stopped) == (1, 2)
    assert claim_states(uow, second) == [ClaimState.ACTIVATED, ClaimState.REJECTED, ClaimState.REJECTED]
    assert reasons(uow, second)[1:] == [MAX_REWARDS, MAX_REWARDS]
    assert {row.customer_id for row in db.outbox.rows.values()} == {"a0", "a1", "b0"}  # never reported
    assert (db.campaigns.rows[CAMPAIGN].rewards_reserved, trips.counted) == (3, {MAX_REWARDS: 2})
    stopped = [json.loads(r.details) for r in db.trail_events.rows.values() if r.step == "claim.rejected"]
    assert sorted(d["claim_id"] for d in stopped) == sorted(second[1:])  # the trail tells why
    assert {d["reason"] for d in stopped} == {MAX_REWARDS}


def test_max_reward_amount_rejects_the_claims_that_would_cross_it(uow: FakeUnitOfWorkFactory) -> None:
    claim_campaign(uow)
    config = activation(Safeguards(max_reward_amount=Decimal(25)))
    ids = validated_claims(uow, "alice", "bob", "carol")  # 10 each

    result = activate(uow, ids, config)

    assert (result.activated, result.stopped) == (2, 1)
    assert reasons(uow, ids) == [None, None, MAX_REWARD_AMOUNT]


def test_a_refused_grant_gives_its_reservation_back_for_the_next_claim(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    claim_campaign(uow)
    config = activation(Safeguards(max_rewards=1))
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.REFUSED, reason="closed account")
    [alice] = validated_claims(uow, "alice")

    assert activate(uow, [alice], config, activator).refused == 1
    assert (db.campaigns.rows[CAMPAIGN].rewards_reserved, db.claims.rows[alice].reserved_amount) == (0, None)
    [bob] = validated_claims(uow, "bob")
    assert activate(uow, [bob], config).activated == 1


def test_a_grant_retried_keeps_its_one_reservation(uow: FakeUnitOfWorkFactory, db: FakeDatabase) -> None:
    claim_campaign(uow)
    config = activation(Safeguards(max_rewards=1))
    activator = ScriptedActivator()
    activator.answer("alice", GrantKind.RETRY, GrantKind.GRANTED)
    [alice] = validated_claims(uow, "alice")

    assert activate(uow, [alice], config, activator).retry == (alice,)
    assert activate(uow, [alice], config, activator).activated == 1
    assert db.campaigns.rows[CAMPAIGN].rewards_reserved == 1


def test_raising_a_limit_at_run_time_lets_waiting_claims_through(uow: FakeUnitOfWorkFactory) -> None:
    claim_campaign(uow)
    set_campaign_settings(uow, CAMPAIGN, max_rewards=1)
    first = validated_claims(uow, "alice", "bob")
    assert activate(uow, first, activation()).stopped == 1

    set_campaign_settings(uow, CAMPAIGN, max_rewards=2)
    [carol] = validated_claims(uow, "carol")

    assert activate(uow, [carol], activation()).activated == 1


def test_claims_of_a_held_campaign_stay_validated(uow: FakeUnitOfWorkFactory) -> None:
    claim_campaign(uow)
    ids = validated_claims(uow, "alice")
    with uow() as u:
        u.campaigns.hold(CAMPAIGN, "operator hold", now=FixedClock().now)
        u.commit()

    assert activate(uow, ids, activation()).outcome == "skipped"
    assert claim_states(uow, ids) == [ClaimState.VALIDATED]


# The pause --------------------------------------------------------------------------------------------


def test_the_pause_stops_validation_and_activation_and_resume_wakes_every_waiting_claim(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    pending = pending_claims(uow, "alice")
    validated = validated_claims(uow, "bob")
    switch, changed = pause(uow, by="cli", reason="incident 42")
    assert (switch.on, switch.by, switch.reason, changed) == (True, "cli", "incident 42", True)
    assert pause(uow, by="cli")[1] is False

    validator = FakePromotionValidator()
    assert validate(uow, doorbell, validator) == "paused"
    assert activate(uow, validated, activation()).outcome == "paused"
    assert not validator.calls and claim_states(uow, pending + validated) == [
        ClaimState.PENDING,
        ClaimState.VALIDATED,
    ]
    dispatcher.validations.clear()

    switch, changed = resume(uow, doorbell, by="api", clock=FixedClock())
    assert (switch.on, changed, pause_state(uow).by) == (False, True, "api")
    assert list(dispatcher.validations) == [(CAMPAIGN, PROMO)]
    assert list(dispatcher.activations) == [validated]
    assert validate(uow, doorbell, validator) == "validated"
    assert activate(uow, validated, activation()).activated == 1


def test_the_pause_holds_auto_approvals_back_but_not_the_statuses_of_granted_rewards(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    claim_campaign(uow, campaign_id=1, mode=CampaignMode.AUTO, state=CampaignState.APPROVING)
    claim_campaign(uow, campaign_id=2)
    with uow() as u:
        u.outbox.enqueue_statuses(1, ["alice"], deadline=None, now=FixedClock().now)
        u.outbox.enqueue_statuses(2, ["bob"], deadline=None, now=FixedClock().now)
        u.commit()
    pause(uow, by="cli")
    sink = FakeStatusSink()

    sent = relay_once(uow, sink, RelayConfig(), clock=FixedClock())
    assert sent is not None and sent.campaign_id == 2
    assert relay_once(uow, sink, RelayConfig(), clock=FixedClock()) is None

    resume(uow, ValidationDoorbell(MemoryCoordination(), RecordingDispatcher()), by="cli")
    sent = relay_once(uow, sink, RelayConfig(), clock=FixedClock())
    assert sent is not None and sent.campaign_id == 1


def test_claims_and_webhooks_are_still_taken_while_paused(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    claim_campaign(uow)
    pause(uow, by="cli")

    submitted = submit_claim(uow, doorbell, ClaimRequest(CAMPAIGN, "alice", {}), Submission(1, None, "http"))

    assert submitted.created and submitted.claim.state == ClaimState.PENDING


def test_a_resume_when_not_paused_changes_nothing(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, dispatcher: RecordingDispatcher
) -> None:
    claim_campaign(uow)
    pending_claims(uow, "alice")

    assert resume(uow, doorbell, by="cli")[1] is False
    assert not dispatcher.validations
