"""The campaign report's funnel and counters, read from what is kept at write time, equal a full count."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, insert, select

from app.adapters.db.schema import upgrade_database
from app.adapters.db.tables import campaign_audience, claims, outbox
from app.clock import utcnow
from app.domain.audience import Candidate, Decision
from app.domain.campaigns import CampaignMode, NewCampaign
from app.domain.outbox import ClaimedBatch
from app.services.reports import campaign_report
from tests.support.databases import migrated_engine, throwaway_postgres_database
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

CAMPAIGN = 1359


def _decision(customer: str, reason: str | None, segment: str | None = "gold") -> Decision:
    return Decision(
        Candidate(customer, "WELCOME", 1, {}), reason is None, reason, None if reason else segment
    )


def _counted_from_the_audience(engine: Engine, campaign_id: int) -> tuple[dict[str, int], dict[str, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                campaign_audience.c.eligible,
                campaign_audience.c.scrub_reason,
                campaign_audience.c.segment,
                func.count(),
            )
            .where(campaign_audience.c.campaign_id == campaign_id)
            .group_by(
                campaign_audience.c.eligible, campaign_audience.c.scrub_reason, campaign_audience.c.segment
            )
        ).all()
    reasons: dict[str, int] = {}
    segments: dict[str, int] = {}
    for eligible, reason, segment, count in rows:
        into, key = (segments, str(segment)) if eligible else (reasons, str(reason))
        into[key] = into.get(key, 0) + count
    return reasons, segments


def test_the_breakdown_kept_per_page_equals_a_count_of_the_whole_audience(any_engine: Engine) -> None:
    page0 = [
        _decision(f"a{i}", ["no_consent", "fraud", None][i % 3], ["gold", "silver"][i % 2]) for i in range(30)
    ]
    page1 = [_decision(f"b{i}", None if i % 4 else "no_consent") for i in range(12)]
    with writing(any_engine) as uow:
        uow.audience.write_page(CAMPAIGN, 0, page0)
        uow.audience.write_page(CAMPAIGN, 1, page1)
        uow.audience.write_page(CAMPAIGN, 1, page1)  # a page written again changes nothing
        uow.audience.write_page(CAMPAIGN, 1, [_decision("a0", None)])  # a customer already on page 0
    with writing(any_engine) as uow:  # the triggered gateway's one-customer writes
        assert uow.audience.add_member_if_absent(
            CAMPAIGN, "t1", page_no=0, promo_code=None, segment="platinum", eligible=True, scrub_reason=None
        )
        assert not uow.audience.add_member_if_absent(
            CAMPAIGN, "t1", page_no=0, promo_code=None, segment="platinum", eligible=True, scrub_reason=None
        )
        assert uow.audience.scrub_member(CAMPAIGN, "b1", reason="fraud")
        assert not uow.audience.scrub_member(CAMPAIGN, "b1", reason="fraud")  # already scrubbed
    expected_reasons, expected_segments = _counted_from_the_audience(any_engine, CAMPAIGN)
    with reading(any_engine) as uow:
        assert uow.audience.scrub_breakdown(CAMPAIGN) == expected_reasons
        assert uow.audience.segment_breakdown(CAMPAIGN) == expected_segments
    assert expected_reasons == {"no_consent": 13, "fraud": 11} and expected_segments["platinum"] == 1


def _campaign(engine: Engine, mode: CampaignMode = CampaignMode.CLAIM) -> None:
    with writing(engine) as uow:
        uow.campaigns.add(
            NewCampaign(CAMPAIGN, mode, utcnow() + timedelta(hours=2), None, page_size=100), now=utcnow()
        )


def _claim_rows(engine: Engine, rows: list[tuple[str, str | None, bool, bool]]) -> None:
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            insert(claims),
            [
                {
                    "id": f"claim-{n}",
                    "source": "test",
                    "campaign_id": CAMPAIGN,
                    "customer_id": f"c{n}",
                    "session_properties": {},
                    "request_hash": "h",
                    "state": state,
                    "reason": reason,
                    "created_at": now,
                    "updated_at": now,
                    "validated_at": now if validated else None,
                    "activated_at": now if activated else None,
                }
                for n, (state, reason, validated, activated) in enumerate(rows)
            ],
        )


def test_the_report_shows_the_claims_funnel_by_state_and_reason(any_engine: Engine) -> None:
    _campaign(any_engine)
    _claim_rows(
        any_engine,
        [("completed", None, True, True)] * 4
        + [("activated", None, True, True)]
        + [("validated", None, True, False)]
        + [("pending", None, False, False)] * 2
        + [("rejected", "not_eligible", False, False)] * 3
        + [("rejected", "not_in_audience", False, False)]
        + [("failed", "activation_misconfigured: answered 401", True, False)] * 2,
    )
    report = campaign_report(SqlAlchemyUnitOfWorkFactory(any_engine), CAMPAIGN)
    assert report is not None
    assert report.claimed == 14
    assert report.claims_by_state == {
        "completed": 4,
        "activated": 1,
        "validated": 1,
        "pending": 2,
        "rejected": 4,
        "failed": 2,
    }
    assert (report.validated, report.rewarded, report.rejected, report.failed) == (8, 5, 4, 2)
    assert report.rejected_by_reason == {"not_eligible": 3, "not_in_audience": 1}
    assert report.failed_by_reason == {"activation_misconfigured: answered 401": 2}
    assert report.as_json()["kind"] == "scheduled"


def _lease_everything(engine: Engine) -> ClaimedBatch:
    with writing(engine) as uow:
        batch = uow.outbox.claim_batch(now=utcnow(), limit=100, lease=timedelta(seconds=30))
    assert batch is not None
    return batch


def test_sent_dead_and_waiting_approvals_counted_on_the_way_equal_a_count_of_the_outbox(
    any_engine: Engine,
) -> None:
    _campaign(any_engine, CampaignMode.AUTO)
    with writing(any_engine) as uow:
        uow.outbox.enqueue_statuses(CAMPAIGN, ["s1", "s2", "s3"], deadline=None, now=utcnow())
    batch = _lease_everything(any_engine)
    with writing(any_engine) as uow:
        marked = uow.outbox.mark_sent(batch, now=utcnow())
        uow.campaigns.add_approvals_sent(CAMPAIGN, customers=marked, resent=0, now=utcnow())
        uow.outbox.enqueue_statuses(CAMPAIGN, ["d1", "d2"], deadline=None, now=utcnow())
    batch = _lease_everything(any_engine)
    with writing(any_engine) as uow:
        uow.outbox.mark_dead(batch, now=utcnow(), error="401")
        uow.outbox.enqueue_statuses(CAMPAIGN, ["w1", "w2", "w3", "w4"], deadline=None, now=utcnow())
    with writing(any_engine) as uow:
        uow.outbox.cancel_campaign(CAMPAIGN, now=utcnow(), reason="canceled")
        uow.outbox.enqueue_statuses(CAMPAIGN, ["late"], deadline=None, now=utcnow() - timedelta(seconds=30))
    report = campaign_report(SqlAlchemyUnitOfWorkFactory(any_engine), CAMPAIGN)
    with reading(any_engine) as uow:
        stats = uow.outbox.stats(CAMPAIGN)
    assert report is not None
    assert (report.approvals_sent, report.approvals_dead, report.approvals_pending) == (3, 6, 1)
    assert (stats.sent, stats.dead, stats.pending) == (report.approvals_sent, report.approvals_dead, 1)
    assert report.reported == 3
    assert report.oldest_pending_seconds is not None and report.oldest_pending_seconds >= 29


def test_the_migration_breaks_down_and_counts_campaigns_written_before_it() -> None:
    with throwaway_postgres_database("promobridge_console_migration") as url:
        engine = migrated_engine(url)
        try:
            from app.adapters.db.schema import downgrade_database

            downgrade_database(engine, "0003")
            with engine.begin() as conn:
                conn.execute(
                    insert(campaign_audience),
                    [
                        {
                            "campaign_id": 7,
                            "customer_id": c,
                            "page_no": p,
                            "eligible": e,
                            "scrub_reason": r,
                            "segment": g,
                        }
                        for c, p, e, r, g in (
                            ("x", 0, False, "fraud", None),
                            ("y", 1, True, None, "gold"),
                            ("z", 1, True, None, None),
                        )
                    ],
                )
                now = utcnow()
                conn.execute(
                    insert(outbox),
                    [
                        {
                            "kind": "promotion_status",
                            "campaign_id": 7,
                            "customer_id": c,
                            "status": True,
                            "created_at": now,
                            "available_at": now,
                            "dead_at": now if c != "y" else None,
                        }
                        for c in ("x", "y", "z")
                    ],
                )
            with writing(engine) as uow:
                uow.campaigns.add(NewCampaign(7, CampaignMode.AUTO, None, None, page_size=10), now=utcnow())
            upgrade_database(engine)
            with reading(engine) as uow:
                assert uow.audience.scrub_breakdown(7) == {"fraud": 1}
                assert uow.audience.segment_breakdown(7) == {"gold": 1, "None": 1}
                campaign = uow.campaigns.get(7)
            assert campaign is not None and campaign.dead_count == 2
        finally:
            engine.dispose()
