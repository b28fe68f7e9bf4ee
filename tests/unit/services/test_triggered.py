"""The triggered gateway: acts only for declared triggered campaigns, only narrows, and fails closed."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.audience import Candidate, OperatorFlags, Verdict
from app.domain.campaigns import KIND_TRIGGERED, CampaignMode, CampaignState
from app.domain.claims import ClaimRequest, ClaimState
from app.domain.optimove import TriggeredCall
from app.domain.trail import AUDIENCE_SCRUBBED
from app.policies.base import Policy, PolicyPipeline
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation
from app.services.claims import Submission, submit_claim
from app.services.trail import step_text
from app.services.triggered import TRIGGERED_PAGE, GatewayAnswer, GatewayOutcome, decide_triggered
from app.services.unit_of_work import UnitOfWorkFactory
from app.services.validation import ValidationDoorbell
from tests.fakes.clock import T0, FixedClock
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWork, FakeUnitOfWorkFactory
from tests.support.coordination import MemoryCoordination
from tests.support.dispatch import RecordingDispatcher
from tests.unit.services.arrange import claim_campaign

TRIGGERED = 7001
POLICIES = PolicyPipeline([ConsentScrub(), FraudCheck(), VipSegmentation()])


def ask(
    uow: UnitOfWorkFactory,
    user_id: str = "alice",
    *,
    campaign_id: int = TRIGGERED,
    declared: frozenset[int] = frozenset(),
    pipeline: PolicyPipeline = POLICIES,
) -> GatewayAnswer:
    call = TriggeredCall(user_id, False, campaign_id, series_id="s-1", promo_code="WELCOME")
    return decide_triggered(
        uow, pipeline, call, timeout_ms=40, declared=lambda c: c in declared, clock=FixedClock()
    )


def declare_triggered(uow: FakeUnitOfWorkFactory, campaign_id: int = TRIGGERED) -> None:
    with uow() as u:
        u.campaign_settings.save(campaign_id, now=T0, updated_by="ops", kind=KIND_TRIGGERED)
        u.commit()


def flag(uow: FakeUnitOfWorkFactory, customer_id: str, flags: OperatorFlags) -> None:
    with uow() as u:
        u.operator_data.save([(customer_id, flags)], now=T0)
        u.commit()


def test_a_declared_campaigns_first_call_creates_it_ready_for_claims_and_records_the_customer(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    declare_triggered(uow)
    flag(uow, "alice", OperatorFlags(vip_level=2))

    answer = ask(uow)

    assert answer == GatewayAnswer("alice", True, GatewayOutcome.ALLOWED)
    campaign = db.campaigns.rows[TRIGGERED]
    assert (campaign.kind, campaign.mode, campaign.state) == (
        KIND_TRIGGERED,
        CampaignMode.CLAIM,
        CampaignState.READY,
    )
    member = db.campaign_audience.rows[(TRIGGERED, "alice")]
    assert (member.eligible, member.segment, member.promo_code, member.page_no) == (
        True,
        "gold",
        "WELCOME",
        TRIGGERED_PAGE,
    )
    assert uow.last is not None and uow.last.statement_time_limit_ms == 40


def test_a_campaign_declared_in_the_environment_is_acted_for_too(uow: FakeUnitOfWorkFactory) -> None:
    assert ask(uow, declared=frozenset({TRIGGERED})).allowed


def test_an_undeclared_campaign_is_refused_and_nothing_is_written(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    declare_triggered(uow, campaign_id=9999)

    answer = ask(uow, declared=frozenset({9998}))

    assert answer == GatewayAnswer("alice", False, GatewayOutcome.UNKNOWN_CAMPAIGN)
    assert not db.campaigns.rows and not db.campaign_audience.rows


def test_a_scheduled_campaign_is_never_acted_for_its_audience_comes_from_optimove(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    claim_campaign(uow, campaign_id=TRIGGERED, eligible=[])

    assert ask(uow, declared=frozenset({TRIGGERED})).outcome == GatewayOutcome.NOT_TRIGGERED
    assert not db.campaign_audience.rows


def test_a_canceled_triggered_campaign_allows_nobody(uow: FakeUnitOfWorkFactory) -> None:
    declare_triggered(uow)
    ask(uow)
    with uow() as u:
        u.campaigns.cancel(TRIGGERED, now=T0)
        u.commit()

    assert ask(uow, "bob").outcome == GatewayOutcome.NOT_LIVE


def test_a_customer_the_policies_scrub_is_refused_with_the_reason_and_recorded_scrubbed(
    uow: FakeUnitOfWorkFactory,
) -> None:
    declare_triggered(uow)
    flag(uow, "mallory", OperatorFlags(fraud=True))

    answer = ask(uow, "mallory")

    assert answer == GatewayAnswer("mallory", False, GatewayOutcome.SCRUBBED, "fraud_flagged")
    with uow() as u:
        member = u.audience.member(TRIGGERED, "mallory")
    assert member is not None and (member.eligible, member.scrub_reason) == (False, "fraud_flagged")


def test_the_gateway_never_widens_an_audience_a_scrubbed_customer_stays_scrubbed(
    uow: FakeUnitOfWorkFactory,
) -> None:
    declare_triggered(uow)
    flag(uow, "alice", OperatorFlags(consent=False))
    assert ask(uow).outcome == GatewayOutcome.SCRUBBED

    flag(uow, "alice", OperatorFlags(consent=True))  # the operator's data changed its mind

    assert ask(uow) == GatewayAnswer("alice", False, GatewayOutcome.ALREADY_SCRUBBED, "consent_withdrawn")


def test_an_allowed_customer_the_policies_now_scrub_is_narrowed(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    declare_triggered(uow)
    assert ask(uow).allowed and ask(uow).allowed  # asked twice: still one audience row

    flag(uow, "alice", OperatorFlags(fraud=True))

    assert ask(uow) == GatewayAnswer("alice", False, GatewayOutcome.SCRUBBED, "fraud_flagged")
    assert (
        len(db.campaign_audience.rows) == 1 and not db.campaign_audience.rows[(TRIGGERED, "alice")].eligible
    )


def test_the_gateways_scrub_is_on_the_customers_trail_with_the_policy_and_its_data(
    uow: FakeUnitOfWorkFactory,
) -> None:
    declare_triggered(uow)
    flag(uow, "mallory", OperatorFlags(fraud=True))
    assert ask(uow, "mallory").outcome == GatewayOutcome.SCRUBBED
    assert ask(uow, "mallory").outcome == GatewayOutcome.ALREADY_SCRUBBED  # the first decision stands
    assert ask(uow, "alice").allowed  # allowed: the audience row tells it, no event

    with uow() as u:
        mallory = u.trail.for_customer("mallory", limit=10)
        alice = u.trail.for_customer("alice", limit=10)
    assert alice == []
    assert [(e.campaign_id, e.step, e.at) for e in mallory] == [(TRIGGERED, AUDIENCE_SCRUBBED, T0)]
    assert mallory[0].details == {
        "policy": "fraud",
        "reason": "fraud_flagged",
        "data": {"attribute": "FraudFlag", "value": None, "operator_fraud": True},
        "gateway": True,
    }
    assert step_text(mallory[0]).startswith("scrubbed when Optimove's triggered gateway asked (answered no)")


class Exploding(Policy):
    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        raise RuntimeError("the policy's own data store is down")


def test_an_error_anywhere_answers_no_and_writes_nothing(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    declare_triggered(uow)

    answer = ask(uow, pipeline=PolicyPipeline([Exploding()]))

    assert answer == GatewayAnswer("alice", False, GatewayOutcome.ERROR)
    assert not db.campaigns.rows and not db.campaign_audience.rows


class RivalScrubsFirst(FakeUnitOfWork):
    """A unit of work in which a concurrent call records the customer scrubbed while this one decides."""

    def __enter__(self) -> RivalScrubsFirst:
        super().__enter__()
        flags_for = self.operator_data.flags_for

        def flags_after_a_rival(customer_ids: Sequence[str]) -> dict[str, OperatorFlags]:
            with FakeUnitOfWork(self.db) as rival:
                rival.audience.add_member_if_absent(
                    TRIGGERED, "alice", page_no=TRIGGERED_PAGE, promo_code=None, segment=None, eligible=False,
                    scrub_reason="fraud_flagged",
                )  # fmt: skip
                rival.commit()
            return flags_for(customer_ids)

        self.operator_data.flags_for = flags_after_a_rival  # type: ignore[method-assign]
        return self


def test_a_concurrent_call_that_scrubbed_the_customer_first_is_the_answer(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    declare_triggered(uow)
    ask(uow, "bob")  # the campaign exists from now on

    answer = ask(lambda: RivalScrubsFirst(db))

    assert answer == GatewayAnswer("alice", False, GatewayOutcome.ALREADY_SCRUBBED, "fraud_flagged")


def test_a_customer_the_gateway_allowed_can_then_claim_the_reward(uow: FakeUnitOfWorkFactory) -> None:
    declare_triggered(uow)
    ask(uow)
    dispatcher = RecordingDispatcher()

    submitted = submit_claim(
        uow,
        ValidationDoorbell(MemoryCoordination(), dispatcher),
        ClaimRequest(TRIGGERED, "alice", {}),
        Submission(1, None, "http"),
        clock=FixedClock(),
    )

    assert submitted.claim.state == ClaimState.PENDING and submitted.claim.promo_code == "WELCOME"
