"""The customer's trail: each piece of work records its steps in its own batch; explain tells the story."""

from __future__ import annotations

import contextlib
import json
import random
from datetime import timedelta
from decimal import Decimal

from app.domain.backoff import Backoff
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimRequest
from app.domain.optimove_errors import OptimoveServerError
from app.domain.rewards import GrantKind
from app.domain.trail import (
    AUDIENCE_SCRUBBED,
    CLAIM_RECEIVED,
    CLAIM_REJECTED,
    CLAIM_REPLAYED,
    GRANT_REFUSED,
    GRANT_SETTLED,
    STATUS_AMBIGUOUS,
    STATUS_QUEUED,
    STATUS_SENT,
    VALIDATION_ANSWERED,
    VALIDATION_ERROR,
    TrailEvent,
    reason_in_words,
)
from app.policies.rewards import RewardPipeline, VipMultiplier
from app.services.activation import ActivationConfig, activate_validated
from app.services.claim_recovery import fail_claims, retry_failed
from app.services.claims import Submission, submit_claim
from app.services.relay import RelayConfig, relay_once
from app.services.trail import customer_trail, render_trail, step_text, trail_json
from app.services.validation import ValidationConfig, ValidationDoorbell, validate_pending
from tests.fakes.activators import ScriptedActivator
from tests.fakes.clock import T0, FixedClock
from tests.fakes.optimove import FakeCampaignSource, FakePromotionValidator, FakeStatusSink
from tests.fakes.unit_of_work import FakeUnitOfWorkFactory
from tests.unit.services.arrange import CAMPAIGN, PROMO, claim_campaign, pending_claims, validated_claims
from tests.unit.services.test_ingest import AUTO_MODE, CLAIM_MODE, Flow, customers, scheduled

SECRET = "jane.doe@example.com"  # a session property that must never reach the trail


def story(text: str) -> list[str]:
    """The step lines of a story, without their times."""
    return [line.split(" UTC  ", 1)[1] for line in text.splitlines() if " UTC  " in line]


def steps(uow: FakeUnitOfWorkFactory, customer: str, campaign_id: int | None = None) -> list[TrailEvent]:
    with uow() as u:
        return u.trail.for_customer(customer, campaign_id, limit=100)


def step_names(uow: FakeUnitOfWorkFactory, customer: str) -> list[str]:
    return [e.step for e in steps(uow, customer)]


def submit(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell, customer: str, *, key: str | None = "k-1"
) -> str:
    submitted = submit_claim(
        uow,
        doorbell,
        ClaimRequest(CAMPAIGN, customer, {"email": SECRET, "deposit": 20}),
        Submission(7, key, "http", "req-1", client_name="shop-backend", key_id="AbC123"),
        clock=FixedClock(),
    )
    return submitted.claim.id


# Writing ----------------------------------------------------------------------------------------


def test_an_ingested_page_records_each_scrubbed_customer_with_the_policy_and_the_flags_it_decided_on(
    uow: FakeUnitOfWorkFactory,
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(5, no_consent=(1,), fraud=(3,))})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())
    flow.drain()

    [consent] = steps(uow, "c1")
    [fraud] = steps(uow, "c3")
    assert consent.step == AUDIENCE_SCRUBBED and consent.at == T0
    assert consent.details == {
        "policy": "consent", "reason": "no_consent",
        "data": {"attribute": "Consent", "value": "0", "operator_consent": None, "require_explicit": False},
    }  # fmt: skip
    assert fraud.details["policy"] == "fraud" and fraud.details["data"] == {
        "attribute": "FraudFlag", "value": "1", "operator_fraud": None,
    }  # fmt: skip
    # An eligible customer of a claim-mode campaign costs no event: the audience row tells it.
    assert steps(uow, "c0") == []


def test_an_auto_campaigns_approvals_cost_no_event_per_customer_and_are_told_by_the_outbox_and_its_call(
    uow: FakeUnitOfWorkFactory,
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(3, no_consent=(2,))})
    flow = Flow(uow, source, AUTO_MODE)
    flow.start(scheduled())
    flow.drain()
    relay_once(uow, FakeStatusSink(), RelayConfig(), clock=FixedClock())

    assert steps(uow, "c0") == [] and step_names(uow, "c2") == [AUDIENCE_SCRUBBED]
    assert len(uow.db.status_calls.rows) == 1  # one row for the call, whatever its size
    trail = customer_trail(uow, "c0")
    assert trail is not None
    assert story(render_trail(trail)) == [
        "approved in bulk at ingest (auto mode): status queued for Optimove",
        "status reached Optimove in call 1 (batch of 2, attempt 1)",
    ]


def test_a_claim_records_who_sent_it_with_which_key_and_never_its_session_properties(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    claim_campaign(uow, eligible=["alice"], scrubbed={"mallory": "fraud_flagged"})
    alice = submit(uow, doorbell, "alice")
    submit(uow, doorbell, "alice", key="k-2")  # the same customer again: nothing new happened
    submit(uow, doorbell, "mallory", key=None)

    [received] = steps(uow, "alice")
    assert received.step == CLAIM_RECEIVED and received.details == {
        "claim_id": alice, "source": "http", "client_id": 7, "client": "shop-backend", "key_id": "AbC123",
        "idempotency_key": True, "request_id": "req-1", "promo_code": PROMO, "segment": "gold",
    }  # fmt: skip
    assert step_names(uow, "mallory") == [CLAIM_RECEIVED, CLAIM_REJECTED]
    rejected = steps(uow, "mallory")[1].details
    assert rejected["reason"] == "scrubbed:fraud_flagged" and rejected["at_once"] is True
    assert steps(uow, "mallory")[0].details["idempotency_key"] is False
    assert SECRET not in str(uow.db.trail_events.rows)


def test_a_claim_costs_one_trail_statement_in_its_own_unit_of_work(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    claim_campaign(uow, scrubbed={"mallory": "no_consent"})
    submit(uow, doorbell, "mallory")
    assert uow.last is not None and uow.last.trail.appends == 1


def test_a_validation_call_records_the_tier_and_reward_or_the_reason_for_each_claim(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    alice, bob = pending_claims(uow, "alice", "bob")
    validator = FakePromotionValidator(
        reward=Decimal("12.50"), refusals={"bob": "optipromo:audience_cap_reached"}
    )
    validate_pending(uow, validator, doorbell, ValidationConfig(), CAMPAIGN, PROMO, clock=FixedClock())

    [offered] = steps(uow, "alice")
    [refused] = steps(uow, "bob")
    assert offered.step == VALIDATION_ANSWERED and offered.details == {
        "claim_id": alice, "promo_code": PROMO, "call_size": 2, "eligible": True, "tier": "gold",
        "reward_type": "bonus", "reward_amount": "12.5",
    }  # fmt: skip
    assert refused.details == {
        "claim_id": bob, "promo_code": PROMO, "call_size": 2, "eligible": False,
        "reason": "optipromo:audience_cap_reached",
    }  # fmt: skip


def test_a_failed_validation_call_records_the_error_and_that_the_claim_will_be_tried_again(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    pending_claims(uow, "alice")
    validator = FakePromotionValidator()
    validator.failures.append(OptimoveServerError("HTTP 503", endpoint="validateCustomers", status=503))
    with contextlib.suppress(OptimoveServerError):
        validate_pending(uow, validator, doorbell, ValidationConfig(), CAMPAIGN, PROMO, clock=FixedClock())
    [error] = steps(uow, "alice")
    assert error.step == VALIDATION_ERROR and error.details["will_retry"] is True
    assert "HTTP 503" in error.details["error"]


def test_a_grant_round_records_the_attempt_the_amount_before_and_after_scaling_and_the_reference(
    uow: FakeUnitOfWorkFactory,
) -> None:
    claim_campaign(uow)
    alice, bob = validated_claims(uow, "alice", "bob")
    activator = ScriptedActivator()
    activator.answer("bob", GrantKind.REFUSED, reason="limit_reached")
    activate_validated(
        uow,
        activator,
        RewardPipeline([VipMultiplier()]),
        [alice, bob],
        ActivationConfig(),
        clock=FixedClock(),
    )

    assert step_names(uow, "alice") == [GRANT_SETTLED]
    [settled] = steps(uow, "alice")
    assert settled.details == {
        "claim_id": alice, "activator": "scripted", "attempt": 1, "reward_type": "bonus",
        "amount_offered": "10", "amount_granted": "15", "external_ref": f"ref-{alice[:8]}",
    }  # fmt: skip
    assert step_names(uow, "bob") == [GRANT_REFUSED]
    assert steps(uow, "bob")[0].details["reason"] == "activation_refused: limit_reached"


def test_a_status_call_records_its_call_size_and_attempt_and_a_resend_after_an_ambiguous_failure(
    uow: FakeUnitOfWorkFactory,
) -> None:
    claim_campaign(uow)
    [alice] = validated_claims(uow, "alice")
    activate_validated(uow, ScriptedActivator(), RewardPipeline([]), [alice], clock=FixedClock())
    sink = FakeStatusSink()
    sink.failures.append(
        OptimoveServerError("HTTP 502", endpoint="UpdateCustomerPromotionStatus", status=502, ambiguous=True)
    )
    config = RelayConfig(backoff=Backoff(1, 1))
    clock = FixedClock()
    relay_once(uow, sink, config, clock=clock, rng=random.Random(1))
    clock.advance(seconds=5)
    relay_once(uow, sink, config, clock=clock, rng=random.Random(1))

    ambiguous = steps(uow, "alice")[-1]  # a call that succeeds adds no event: its outbox row tells it
    assert ambiguous.step == STATUS_AMBIGUOUS and ambiguous.details == {
        "call_id": 1, "batch_size": 1, "attempt": 1, "error": "OptimoveServerError: HTTP 502",
        "may_have_applied": True, "retry_in_s": ambiguous.details["retry_in_s"],
    }  # fmt: skip
    trail = customer_trail(uow, "alice")
    assert trail is not None
    queued, told_ambiguous, sent = trail.campaigns[0].ordered[-3:]
    assert (queued.step, told_ambiguous, sent.step) == (STATUS_QUEUED, ambiguous, STATUS_SENT)
    assert sent.details == {"call_id": 2, "batch_size": 1, "attempt": 2, "resent": True, "sends": 2}


def test_a_failed_claim_replayed_records_who_replayed_it(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    [alice] = pending_claims(uow, "alice")
    fail_claims(uow, [alice], reason="validation gave up", clock=FixedClock())
    retry_failed(uow, doorbell, [alice], replayed_by="console", clock=FixedClock())
    failed, replayed = steps(uow, "alice")
    assert failed.details == {"claim_id": alice, "reason": "validation gave up"}
    assert replayed.step == CLAIM_REPLAYED and replayed.details == {"claim_id": alice, "by": "console"}


# Reading ----------------------------------------------------------------------------------------


def rewarded_and_reported(uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell) -> str:
    """alice claims, is validated, granted (scaled for gold) and reported; her claim id."""
    claim_campaign(uow, eligible=["alice"], scrubbed={"mallory": "no_consent"})
    alice = submit(uow, doorbell, "alice")
    validate_pending(
        uow, FakePromotionValidator(), doorbell, ValidationConfig(), CAMPAIGN, PROMO, clock=FixedClock()
    )
    activate_validated(
        uow, ScriptedActivator(), RewardPipeline([VipMultiplier()]), [alice], clock=FixedClock()
    )
    relay_once(uow, FakeStatusSink(), RelayConfig(), clock=FixedClock())
    return alice


def test_explain_tells_a_rewarded_customers_story_in_order_with_amounts_reference_and_call(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    alice = rewarded_and_reported(uow, doorbell)
    trail = customer_trail(uow, "alice")
    assert trail is not None
    text = render_trail(trail)
    lines = text.splitlines()

    assert lines[0] == "Customer alice: 1 campaign"
    assert f"Campaign {CAMPAIGN} (claim mode, ready)" in lines
    assert (
        f"now: in the audience, eligible (promo code {PROMO}, segment gold); claim {alice} is completed"
        in text
    )
    told = story(text)
    assert told[0].startswith(
        f'claimed the reward (claim {alice}) through client "shop-backend" (id 7), key AbC123'
    )
    assert told[1].startswith("OptiPromo validated the claim: tier gold, reward 10 bonus")
    assert told[2].startswith("granted 15 bonus through the scripted activator (OptiPromo offered 10;")
    assert told[2].endswith(f"reference ref-{alice[:8]}")
    assert told[3] == "status (reward delivered) queued for Optimove"
    assert told[4] == "status reached Optimove in call 1 (batch of 1, attempt 1)"
    assert len(told) == 5
    assert SECRET not in text and SECRET not in json.dumps(trail_json(trail))


def test_explain_says_which_policy_scrubbed_a_customer_and_a_refusal_in_promobridges_words(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    source = FakeCampaignSource({CAMPAIGN: customers(4, no_consent=(1,))})
    flow = Flow(uow, source, CLAIM_MODE)
    flow.start(scheduled())
    flow.drain()
    with uow() as u:
        assert u.campaigns.get(CAMPAIGN) is not None
    scrubbed = customer_trail(uow, "c1", CAMPAIGN)
    assert scrubbed is not None
    assert (
        "scrubbed from the audience by the consent policy: no marketing consent (the Optimove consent "
        "attribute says no) [Optimove attribute Consent = '0'; operator consent: not set;"
    ) in render_trail(scrubbed)
    assert trail_json(scrubbed)["campaigns"][0]["audience"]["scrub_reason"] == "no_consent"

    submit_claim(
        uow, doorbell, ClaimRequest(CAMPAIGN, "c2", {}), Submission(None, None, "broker"), clock=FixedClock()
    )
    validator = FakePromotionValidator(refusals={"c2": "optipromo:reward_budget_exhausted"})
    validate_pending(uow, validator, doorbell, ValidationConfig(), CAMPAIGN, "SPRING", clock=FixedClock())
    refused = customer_trail(uow, "c2")
    assert refused is not None
    assert (
        "OptiPromo refused the claim: the promotion's reward budget could not cover this reward "
        "(optipromo:reward_budget_exhausted)"
    ) in render_trail(refused)
    body = trail_json(refused)
    assert [s["step"] for s in body["campaigns"][0]["steps"]] == [CLAIM_RECEIVED, VALIDATION_ANSWERED]
    assert body["campaigns"][0]["claim"]["reason_text"].startswith("the promotion's reward budget")
    assert "through the broker path, without an Idempotency-Key" in render_trail(refused)


def test_a_customer_from_before_the_trail_gets_a_story_from_the_rows_and_is_told_so(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    rewarded_and_reported(uow, doorbell)  # the trail began with alice
    with uow() as u:
        u.campaigns.add(
            NewCampaign(2, CampaignMode.CLAIM, None, None, 100, state=CampaignState.READY),
            now=T0 - timedelta(days=1),
        )
        u.audience.add_member_if_absent(
            2, "old-timer", page_no=0, promo_code="P2", segment="silver", eligible=True, scrub_reason=None
        )
        u.commit()
    [old_claim] = pending_claims(uow, "old-timer", campaign_id=2, promo_code="P2")
    with uow() as u:  # written before the trail existed: no event
        u.db.trail_events.rows = {
            k: r for k, r in u.db.trail_events.rows.items() if r.customer_id != "old-timer"
        }

    trail = customer_trail(uow, "old-timer")
    assert trail is not None
    text = render_trail(trail)
    assert "(no trail recorded before 2026-11-25 09:00:00 UTC: this story is told from the current" in text
    assert f"claimed the reward (claim {old_claim}) through the http path" in text
    assert trail_json(trail)["campaigns"][0]["note"].startswith("no trail recorded before")


def test_an_unknown_customer_or_campaign_has_no_trail(
    uow: FakeUnitOfWorkFactory, doorbell: ValidationDoorbell
) -> None:
    rewarded_and_reported(uow, doorbell)
    assert customer_trail(uow, "nobody") is None
    assert customer_trail(uow, "alice", 999) is None
    assert customer_trail(uow, "") is None and customer_trail(uow, "x" * 129) is None
    only = customer_trail(uow, "alice", CAMPAIGN)
    assert only is not None and [c.campaign_id for c in only.campaigns] == [CAMPAIGN]


def test_reasons_read_in_words_and_unknown_ones_as_they_are() -> None:
    assert reason_in_words("scrubbed:fraud_flagged") == "flagged for fraud"
    assert reason_in_words("activation_refused: limit_reached") == (
        "the operator's platform refused the reward (limit_reached)"
    )
    assert reason_in_words("optipromo:other:VIP only") == "OptiPromo refused, saying 'VIP only'"
    assert reason_in_words("safeguard:max_rewards") == "stopped by a safeguard of the campaign (max_rewards)"
    assert (
        reason_in_words("something_new") == "something_new" and reason_in_words(None) == "no reason recorded"
    )


def test_a_claim_a_safeguard_stopped_is_told_as_stopped_before_the_grant_not_rejected_at_once() -> None:
    at = T0
    stopped = TrailEvent(
        1, "c", at, CLAIM_REJECTED, {"reason": "safeguard:max_rewards", "before_grant": True}
    )
    at_once = TrailEvent(1, "c", at, CLAIM_REJECTED, {"reason": "not_in_audience", "at_once": True})
    assert "without asking OptiPromo" not in step_text(stopped)
    assert "before any grant" in step_text(stopped) and "max_rewards" in step_text(stopped)
    assert "without asking OptiPromo" in step_text(at_once)
