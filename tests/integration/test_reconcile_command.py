"""`promobridge reconcile` on PostgreSQL: each discrepancy planted by hand is found; `--fix` repairs what
it safely can and leaves the rest reported; a clean claims run reconciles to zero."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, insert, select, update

from app.adapters.db.tables import activations, claims, outbox, wallet_ledger
from app.clock import utcnow
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimState, NewClaim, ValidatedClaim, new_claim_id
from app.domain.outbox import PROMOTION_STATUS
from app.services.reconciliation import reconcile_campaign
from simulator.server import SimulatorServer
from tests.support.claims_flow import InProcessClaims, claim_mode_campaign
from tests.support.cli import promobridge
from tests.support.sim_control import SimControl, expected_scrub_reason
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, reading, writing

CAMPAIGN = 1359
PROMO = "SPRING"


def claim(engine: Engine, customer_id: str, *, ago: timedelta = timedelta(0), promo: str = PROMO) -> str:
    """A pending claim submitted `ago`; its id."""
    at = utcnow() - ago
    new = NewClaim(
        id=new_claim_id(), client_id=None, source="http", campaign_id=CAMPAIGN, customer_id=customer_id,
        promo_code=promo, segment="gold", session_properties={}, idempotency_key=None, request_hash="h",
        state=ClaimState.PENDING, reason=None, correlation_id=None, created_at=at,
    )  # fmt: skip
    with writing(engine) as uow:
        assert uow.claims.add(new) is not None
    return new.id


def rewarded_by_hand(engine: Engine, customer_id: str, *, amount: str = "10") -> str:
    """A claim validated and activated, with its activation record and wallet credit written straight
    into the tables, and no status queued for it (as if that write had been lost)."""
    claim_id = claim(engine, customer_id, promo=f"{PROMO}-{customer_id}")
    now = utcnow()
    with writing(engine) as uow:
        uow.claims.lease_pending(
            campaign_id=CAMPAIGN,
            promo_code=f"{PROMO}-{customer_id}",
            limit=1,
            lease=timedelta(minutes=1),
            now=now,
        )
        uow.claims.mark_validated([ValidatedClaim(claim_id, "gold", "bonus", Decimal(amount))], now=now)
        uow.connection.execute(
            update(claims)
            .where(claims.c.id == claim_id)
            .values(
                state=ClaimState.ACTIVATED.value,
                granted_amount=Decimal(amount),
                activated_at=now,
                updated_at=now,
            )
        )
        uow.connection.execute(
            insert(activations).values(
                claim_id=claim_id,
                activator="wallet",
                external_ref=None,
                amount=Decimal(amount),
                created_at=now,
            )
        )
        uow.connection.execute(
            insert(wallet_ledger).values(
                claim_id=claim_id, campaign_id=CAMPAIGN, customer_id=customer_id, reward_type="bonus",
                amount=Decimal(amount), created_at=now,
            )
        )  # fmt: skip
    return claim_id


def status_by_hand(engine: Engine, customer_id: str, *, sent: bool = False, dead: bool = False) -> None:
    """An outbox row for the customer, sent or dead-lettered as asked, written straight into the table."""
    now = utcnow()
    with writing(engine) as uow:
        uow.connection.execute(
            insert(outbox).values(
                kind=PROMOTION_STATUS, campaign_id=CAMPAIGN, customer_id=customer_id, status=True,
                deadline=None, created_at=now, available_at=now, attempts=12 if dead else 1,
                send_count=1 if sent else 0, sent_at=now if sent else None, dead_at=now if dead else None,
                last_error="OptimoveAuthError: 401" if dead else None,
            )
        )  # fmt: skip


def test_each_planted_discrepancy_is_found_and_fix_repairs_what_it_safely_can(
    pg_engine: Engine, postgres_url: str, tmp_path: Path
) -> None:
    with writing(pg_engine) as uow:
        uow.campaigns.add(
            NewCampaign(CAMPAIGN, CampaignMode.CLAIM, None, None, page_size=100, state=CampaignState.READY),
            now=utcnow(),
        )
    rewarded_by_hand(pg_engine, "C-fine")
    status_by_hand(pg_engine, "C-fine", sent=True)
    rewarded_by_hand(pg_engine, "C-ledger-no-status")  # a ledger row without a status
    status_by_hand(pg_engine, "C-status-no-ledger", sent=True)  # a status without a ledger row
    for customer in ("C-dead-1", "C-dead-2"):  # a dead-lettered batch
        rewarded_by_hand(pg_engine, customer)
        status_by_hand(pg_engine, customer, dead=True)
    stuck = claim(pg_engine, "C-stuck", ago=timedelta(minutes=10))
    failed = claim(pg_engine, "C-failed", promo="OTHER")
    with writing(pg_engine) as uow:
        uow.claims.mark_failed({failed: "OptimoveServerError: 503"}, now=utcnow())
    with reading(pg_engine) as uow:
        credits_before = uow.activations.credits_per_claim()

    found = promobridge("reconcile", str(CAMPAIGN), "--json", database=postgres_url, data_dir=tmp_path)

    assert found.returncode == 1, found.stdout + found.stderr
    report = json.loads(found.stdout)
    by_kind = {f["kind"]: (f["count"], f["examples"]) for f in report["findings"]}
    assert by_kind == {
        "rewarded_status_missing": (1, ["C-ledger-no-status"]),
        "rewarded_status_dead": (2, ["C-dead-1", "C-dead-2"]),
        "rewarded_status_late": (0, []),
        "reported_not_rewarded": (1, ["C-status-no-ledger"]),
        "dead_lettered": (0, []),
        "rewarded_more_than_once": (0, []),
        "stuck_claims": (1, [stuck]),
        "failed_claims": (1, [failed]),
    }
    assert report["discrepancies"] == 6
    assert report["totals"] | {"resent_examples": []} == {
        "rewarded_customers": 4, "credits": 4, "amount_granted": "40.0000", "statuses_sent": 2,
        "statuses_waiting": 0, "statuses_dead": 2, "statuses_resent": 0, "resent_examples": [],
    }  # fmt: skip

    fixed = promobridge("reconcile", str(CAMPAIGN), "--fix", database=postgres_url, data_dir=tmp_path)

    assert fixed.returncode == 1, fixed.stdout + fixed.stderr  # the status without a reward is left
    text = fixed.stdout
    assert "Repaired (6 discrepancies found before)" in text
    for line in (
        "missing statuses of rewarded customers queued",
        "dead-lettered statuses of rewarded customers queued again",
        "failed claims replayed",
    ):
        assert any(
            row.strip().startswith(line) and row.split()[-1] in ("1", "2") for row in text.splitlines()
        )
    assert "1 discrepancy left." in text
    assert "For a person to look into: status reported (or queued) without a reward recorded." in text
    with reading(pg_engine) as uow:
        assert uow.activations.credits_per_claim() == credits_before  # nobody was paid again
        assert {c.id: c.state for c in uow.claims.get_many([stuck, failed])} == {
            stuck: ClaimState.PENDING,
            failed: ClaimState.PENDING,
        }
        waiting = uow.connection.execute(
            select(outbox.c.customer_id).where(outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None))
        ).scalars()
        assert sorted(waiting) == ["C-dead-1", "C-dead-2", "C-ledger-no-status"]
        assert uow.connection.execute(select(func.count()).select_from(outbox)).scalar_one() == 5

    again = promobridge("reconcile", str(CAMPAIGN), database=postgres_url, data_dir=tmp_path)

    assert again.returncode == 1 and "1 discrepancy left." in again.stdout
    assert "status reported (or queued) without a reward recorded" in again.stdout


def test_an_unknown_campaign_is_an_error_with_exit_code_2(
    postgres_url: str, pg_engine: Engine, tmp_path: Path
) -> None:
    result = promobridge("reconcile", "424242", database=postgres_url, data_dir=tmp_path)

    assert result.returncode == 2 and "campaign 424242 is unknown" in result.stderr


def test_a_clean_run_of_the_claims_flow_reconciles_to_zero(
    pg_engine: Engine, postgres_url: str, simulator: SimulatorServer, tmp_path: Path
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(pg_engine, simulator, 200, no_consent_rate=0.1, fraud_rate=0.05)
    customers = sim.customers(campaign_id)
    eligible = [c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]) is None]
    scrubbed = [c["customer_id"] for c in customers if expected_scrub_reason(c["attributes"]) is not None]
    run = InProcessClaims(pg_engine, simulator, max_contexts=25)
    for customer in eligible[:60] + scrubbed[:3] + ["not-a-customer"]:
        run.submit(campaign_id, customer, session={"deposit_amount": 150})
    run.drain()

    report = reconcile_campaign(SqlAlchemyUnitOfWorkFactory(pg_engine), campaign_id)
    shown = promobridge("reconcile", str(campaign_id), database=postgres_url, data_dir=tmp_path)

    assert report is not None and report.discrepancies == 0, report
    assert report.totals.rewarded_customers == report.totals.credits == report.totals.statuses_sent == 60
    assert set(sim.statuses(campaign_id)) == set(eligible[:60])
    with reading(pg_engine) as uow:
        assert report.totals.amount_granted == uow.activations.granted_total(campaign_id)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "No discrepancy" in shown.stdout
