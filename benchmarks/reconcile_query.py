"""What `promobridge reconcile` and `promobridge policies dry-run` cost on campaigns of 1,000,000 customers.

Seeds a throwaway PostgreSQL database straight with SQL (generate_series, not the pipeline): an
auto campaign of `--customers` customers (attributes as ingest stores them, verdicts of the default
policies) whose approvals are mostly sent, a few waiting and a few dead-lettered; a claim campaign of
as many customers with `--claims` claims, their grants (activation records and wallet credits) and
statuses; and a small auto campaign (a tenth of the size) to show that memory does not grow with
the audience. Then it times each command's service once per campaign and prints this process's
peak memory after each. `python -m benchmarks.reconcile_query [--customers 1000000 --claims 100000]`.
"""

from __future__ import annotations

import argparse
import resource
import time
from collections.abc import Callable

from sqlalchemy import Engine, text

from app.adapters.db.dialect import build_engine
from app.adapters.db.schema import upgrade_database
from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.policies.base import build_pipeline
from app.services.policy_dry_run import dry_run_policies
from app.services.reconciliation import reconcile_campaign
from benchmarks.stack import throwaway_postgres_database

AUTO_CAMPAIGN = 51
CLAIM_CAMPAIGN = 52
SMALL_CAMPAIGN = 53
DEFAULT_POLICIES = [
    "app.policies.consent:ConsentScrub",
    "app.policies.fraud:FraudCheck",
    "app.policies.segmentation:VipSegmentation",
]

_CAMPAIGN = """
INSERT INTO campaigns (id, kind, mode, state, clearance_required_by, page_size, pages_done, rows_ingested,
                       created_at, updated_at)
VALUES (:id, 'scheduled', :mode, :state, now() + interval '2 hours', 10000, :pages, :customers,
        now() - interval '1 hour', now())
"""
# 8 % without consent, 3 % fraud-flagged; the verdicts the default policies give them.
_AUDIENCE = """
INSERT INTO campaign_audience (campaign_id, customer_id, page_no, action_id, promo_code, attributes, segment,
                               eligible, scrub_reason)
SELECT :id, 'C' || g, g / 10000, 7, 'WELCOME',
       json_build_object('Consent', CASE WHEN g % 100 < 8 THEN '0' ELSE '1' END,
                         'FraudFlag', CASE WHEN g % 100 BETWEEN 8 AND 10 THEN '1' ELSE '0' END,
                         'VIPLevel', (g % 4)::text, 'Country', 'MT'),
       CASE WHEN g % 100 < 11 THEN NULL ELSE (ARRAY['standard','silver','gold','platinum'])[1 + g % 4] END,
       g % 100 >= 11,
       CASE WHEN g % 100 < 8 THEN 'no_consent' WHEN g % 100 < 11 THEN 'fraud_flagged' END
  FROM generate_series(0, :customers - 1) g
"""
# Every eligible customer approved: 94.9 % sent, 5 % waiting, 0.1 % dead-lettered.
_APPROVALS = """
INSERT INTO outbox (kind, campaign_id, customer_id, status, deadline, created_at, available_at, attempts,
                    send_count, sent_at, dead_at)
SELECT 'promotion_status', :id, customer_id, true, now() + interval '2 hours', now() - interval '30 minutes',
       now() - interval '30 minutes', 1, CASE WHEN id % 1000 < 50 THEN 0 ELSE 1 END,
       CASE WHEN id % 1000 < 51 THEN NULL ELSE now() - interval '10 minutes' END,
       CASE WHEN id % 1000 = 50 THEN now() - interval '10 minutes' END
  FROM campaign_audience WHERE campaign_id = :id AND eligible
"""
# Claims of eligible customers: 95 % completed, 3 % rejected, 2 % failed.
_CLAIMS = """
INSERT INTO claims (id, client_id, source, campaign_id, customer_id, promo_code, segment, session_properties,
                    request_hash, state, reason, created_at, updated_at, validated_at, activated_at,
                    completed_at, granted_amount)
SELECT md5(:id || '-' || g), 1, 'http', :id, 'C' || (g * 100 / 89 + 11), 'WELCOME', 'gold', '{}', 'h',
       CASE WHEN g % 100 < 95 THEN 'completed' WHEN g % 100 < 98 THEN 'rejected' ELSE 'failed' END,
       CASE WHEN g % 100 BETWEEN 95 AND 97 THEN 'optipromo:not_eligible'
            WHEN g % 100 >= 98 THEN 'activation_unconfirmed: answered 503 after 9 attempts' END,
       now() - interval '1 hour', now() - interval '1 hour',
       now() - interval '1 hour', CASE WHEN g % 100 < 95 THEN now() - interval '1 hour' END,
       CASE WHEN g % 100 < 95 THEN now() - interval '1 hour' END, CASE WHEN g % 100 < 95 THEN 12.5 END
  FROM generate_series(0, :claims - 1) g
"""
_GRANTS = """
INSERT INTO activations (claim_id, activator, amount, created_at)
SELECT id, 'wallet', granted_amount, activated_at
  FROM claims WHERE campaign_id = :id AND activated_at IS NOT NULL;
INSERT INTO wallet_ledger (claim_id, campaign_id, customer_id, reward_type, amount, created_at)
SELECT id, campaign_id, customer_id, 'bonus', granted_amount, activated_at
  FROM claims WHERE campaign_id = :id AND activated_at IS NOT NULL;
INSERT INTO outbox (kind, campaign_id, customer_id, status, deadline, created_at, available_at, attempts,
                    send_count, sent_at)
SELECT 'promotion_status', campaign_id, customer_id, true, now() + interval '2 hours', activated_at,
       activated_at, 1, 1, completed_at
  FROM claims WHERE campaign_id = :id AND activated_at IS NOT NULL
"""


def seed(engine: Engine, customers: int, claims: int, say: Callable[[str], None]) -> None:
    """Write the three campaigns, straight in SQL."""
    started = time.monotonic()
    with engine.begin() as conn:
        for campaign_id, mode, state, size in (
            (AUTO_CAMPAIGN, "auto", "approving", customers),
            (CLAIM_CAMPAIGN, "claim", "ready", customers),
            (SMALL_CAMPAIGN, "auto", "approving", customers // 10),
        ):
            params = {"id": campaign_id, "customers": size, "pages": -(-size // 10_000)}
            conn.execute(text(_CAMPAIGN), {**params, "mode": mode, "state": state})
            conn.execute(text(_AUDIENCE), params)
            if mode == "auto":
                conn.execute(text(_APPROVALS), params)
        conn.execute(text(_CLAIMS), {"id": CLAIM_CAMPAIGN, "claims": claims})
        for statement in _GRANTS.split(";"):
            conn.execute(text(statement), {"id": CLAIM_CAMPAIGN})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    say(f"seeded in {time.monotonic() - started:.0f} s")


def peak_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(engine: Engine, customers: int, say: Callable[[str], None]) -> None:
    """Time each command's service once per campaign, with the process's peak memory after it."""
    uow = SqlAlchemyUnitOfWorkFactory(engine)
    say(f"peak memory before: {peak_mb():.0f} MB")
    for campaign_id, label in (
        (SMALL_CAMPAIGN, f"auto, {customers // 10:,}"),
        (AUTO_CAMPAIGN, f"auto, {customers:,}"),
        (CLAIM_CAMPAIGN, f"claim, {customers:,}"),
    ):
        started = time.monotonic()
        report = reconcile_campaign(uow, campaign_id)
        assert report is not None
        seconds = time.monotonic() - started
        say(
            f"reconcile {campaign_id} ({label}): {seconds:.1f} s, {report.discrepancies:,} discrepancies, "
            f"{report.totals.statuses_sent:,} statuses sent; peak memory {peak_mb():.0f} MB"
        )
    # Fewer VIP segments: silver customers move to standard, gold and platinum ones to vip.
    stricter = build_pipeline(DEFAULT_POLICIES, {"VipSegmentation": {"segments": "0:standard,2:vip"}})
    for campaign_id, label in ((SMALL_CAMPAIGN, f"{customers // 10:,}"), (AUTO_CAMPAIGN, f"{customers:,}")):
        started = time.monotonic()
        dry_run = dry_run_policies(uow, campaign_id, stricter)
        assert dry_run is not None
        seconds = time.monotonic() - started
        say(
            f"policies dry-run {campaign_id} ({label} customers): {seconds:.1f} s, {dry_run.changed:,} would "
            f"change; peak memory {peak_mb():.0f} MB"
        )


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=100_000)
    args = parser.parse_args()

    def say(line: str) -> None:
        print(line, flush=True)

    with throwaway_postgres_database("promobridge_reconcile_bench") as url:
        engine = build_engine(url)
        try:
            upgrade_database(engine)
            seed(engine, args.customers, args.claims, say)
            measure(engine, args.customers, say)
        finally:
            engine.dispose()


if __name__ == "__main__":
    main()
