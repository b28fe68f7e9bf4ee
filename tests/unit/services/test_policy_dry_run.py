"""Policies dry run: another policy list on a stored audience shows who would change, and writes nothing."""

from __future__ import annotations

import copy
from datetime import timedelta

from app.domain.audience import Candidate, Decision, OperatorFlags, Verdict
from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.reconciliation import IdSample
from app.policies.base import Policy, PolicyPipeline, build_pipeline
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation
from app.services.policy_dry_run import DryRunReport, dry_run_policies
from tests.fakes.clock import T0
from tests.fakes.unit_of_work import FakeDatabase, FakeUnitOfWorkFactory

CAMPAIGN = 1359
CONFIGURED = PolicyPipeline([ConsentScrub(), FraudCheck(), VipSegmentation()])
# customer id -> (Consent, FraudFlag, VIPLevel) as Optimove listed them
AUDIENCE = {
    "alice": ("1", "0", "2"),
    "bob": ("0", "0", "1"),
    "carol": ("1", "1", "3"),
    "dave": ("0", "1", "0"),
    "test-erin": ("1", "0", "0"),
    "frank": ("1", "0", None),
}


class BlockTestAccounts(Policy):
    """The README's example of an operator's own policy."""

    def evaluate(self, candidate: Candidate, flags: OperatorFlags) -> Verdict:
        return (
            Verdict(scrub_reason="test_account") if candidate.customer_id.startswith("test-") else Verdict()
        )


def ingested(uow: FakeUnitOfWorkFactory, pipeline: PolicyPipeline = CONFIGURED) -> None:
    """The campaign's audience as ingest stored it: the candidates and the configured policies' verdicts."""
    candidates = [
        Candidate(customer, "SPRING", 7, {"Consent": consent, "FraudFlag": fraud, "VIPLevel": vip})
        for customer, (consent, fraud, vip) in AUDIENCE.items()
    ]
    with uow() as u:
        u.campaigns.add(NewCampaign(CAMPAIGN, CampaignMode.CLAIM, T0 + timedelta(hours=1), None, 100), now=T0)
        u.audience.write_page(CAMPAIGN, 0, pipeline.decide_all(candidates, {}))
        u.commit()


def dry_run(uow: FakeUnitOfWorkFactory, pipeline: PolicyPipeline, **kwargs: int) -> DryRunReport:
    report = dry_run_policies(uow, CAMPAIGN, pipeline, clock=lambda: T0, **kwargs)
    assert report is not None
    return report


def test_the_configured_policies_run_again_change_nobody(uow: FakeUnitOfWorkFactory) -> None:
    ingested(uow)

    report = dry_run(uow, CONFIGURED)

    assert (report.customers, report.changed, report.unchanged) == (6, 0, 6)
    assert (report.eligible_now, report.eligible_after) == (3, 3)
    assert report.scrubbed_now == report.scrubbed_after == {"fraud_flagged": 1, "no_consent": 2}
    assert (
        report.newly_scrubbed
        == report.newly_eligible
        == report.reason_changed
        == report.segment_changed
        == {}
    )


def test_an_operators_own_policy_shows_who_it_would_newly_scrub_by_its_reason(
    uow: FakeUnitOfWorkFactory,
) -> None:
    ingested(uow)

    report = dry_run(uow, PolicyPipeline([BlockTestAccounts(), *CONFIGURED.policies]))

    assert report.newly_scrubbed == {"test_account": IdSample(1, ("test-erin",))}
    assert (report.eligible_now, report.eligible_after, report.changed) == (3, 2, 1)
    assert report.scrubbed_after == {"fraud_flagged": 1, "no_consent": 2, "test_account": 1}


def test_dropping_a_policy_shows_who_would_be_newly_eligible_by_the_reason_they_had(
    uow: FakeUnitOfWorkFactory,
) -> None:
    ingested(uow)

    report = dry_run(uow, PolicyPipeline([FraudCheck(), VipSegmentation()]))

    # dave had no consent and is flagged for fraud: still scrubbed, now for fraud.
    assert report.newly_eligible == {"no_consent": IdSample(1, ("bob",))}
    assert report.reason_changed == {"no_consent -> fraud_flagged": IdSample(1, ("dave",))}
    assert (report.eligible_after, report.unchanged) == (4, 4)


def test_options_show_segment_changes_and_customers_scrubbed_for_another_reason(
    uow: FakeUnitOfWorkFactory,
) -> None:
    ingested(uow)
    pipeline = build_pipeline(
        [
            "app.policies.fraud:FraudCheck",
            "app.policies.consent:ConsentScrub",
            "app.policies.segmentation:VipSegmentation",
        ],
        {"VipSegmentation": {"segments": "0:base,2:vip"}},
    )

    report = dry_run(uow, pipeline, examples=1)

    assert report.reason_changed == {"no_consent -> fraud_flagged": IdSample(1, ("dave",))}
    assert report.segment_changed == {
        "gold -> vip": IdSample(1, ("alice",)),
        "standard -> base": IdSample(2, ("frank",)),  # one example asked for; test-erin is the other
    }


def test_the_operators_data_as_it_is_now_is_what_the_policies_read(uow: FakeUnitOfWorkFactory) -> None:
    ingested(uow)
    with uow() as u:
        u.operator_data.save(
            [("alice", OperatorFlags(consent=False)), ("bob", OperatorFlags(vip_level=3))], now=T0
        )
        u.commit()

    report = dry_run(uow, CONFIGURED)

    assert report.newly_scrubbed == {"consent_withdrawn": IdSample(1, ("alice",))}
    assert report.reason_changed == {}  # bob's VIP level changes nothing: he has no consent


def test_the_audience_is_read_page_by_page_and_nothing_is_written(
    uow: FakeUnitOfWorkFactory, db: FakeDatabase
) -> None:
    ingested(uow)
    before = {name: copy.deepcopy(table.rows) for name, table in vars(db).items()}
    opened_before = uow.opened

    report = dry_run(uow, PolicyPipeline([]), page_size=2)

    assert (report.customers, report.eligible_after) == (6, 6)
    assert uow.opened - opened_before == 1 + 4  # the campaign, then 3 full pages and an empty one
    assert {name: table.rows for name, table in vars(db).items()} == before


def test_an_unknown_campaign_has_no_dry_run(uow: FakeUnitOfWorkFactory) -> None:
    assert dry_run_policies(uow, 404, CONFIGURED) is None


def test_the_result_reads_as_json(uow: FakeUnitOfWorkFactory) -> None:
    ingested(uow)

    data = dry_run(uow, PolicyPipeline([BlockTestAccounts(), *CONFIGURED.policies])).as_json()

    assert data["newly_scrubbed"] == {"test_account": {"count": 1, "examples": ["test-erin"]}}
    assert data["eligible"] == {"now": 3, "after": 2} and data["changed"] == 1
    assert data["checked_at"] == T0.isoformat()


def test_stored_decisions_are_compared_with_what_the_policies_decide_now() -> None:
    # The comparison takes the stored verdict as it is, even one no policy of today would give.
    uow = FakeUnitOfWorkFactory()
    with uow() as u:
        u.campaigns.add(NewCampaign(CAMPAIGN, CampaignMode.CLAIM, None, None, 100), now=T0)
        candidate = Candidate("zed", None, None, {})
        u.audience.write_page(CAMPAIGN, 0, [Decision(candidate, False, "manual_block", None)])
        u.commit()

    report = dry_run(uow, CONFIGURED)

    assert report.newly_eligible == {"manual_block": IdSample(1, ("zed",))}
