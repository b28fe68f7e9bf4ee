"""`promobridge policies dry-run` on PostgreSQL and SQLite: an audience ingested from the simulator, other
policies run on it, what would change counted exactly, and not one row written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.adapters.db.tables import metadata
from app.clock import utcnow
from app.domain.audience import OperatorFlags
from app.domain.reconciliation import IdSample
from app.policies.base import PolicyPipeline
from app.policies.fraud import FraudCheck
from app.policies.segmentation import VipSegmentation
from app.services.policy_dry_run import dry_run_policies
from simulator.server import SimulatorServer
from tests.support.claims_flow import claim_mode_campaign
from tests.support.cli import promobridge
from tests.support.sim_control import SimControl
from tests.support.uow import SqlAlchemyUnitOfWorkFactory, writing

FRAUD_FIRST = ",".join(
    [
        "app.policies.fraud:FraudCheck",
        "app.policies.consent:ConsentScrub",
        "app.policies.segmentation:VipSegmentation",
    ]
)


def every_row(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for table in metadata.sorted_tables
        }


def truth(sim: SimControl, campaign_id: int) -> dict[str, tuple[bool, bool]]:
    """Each simulated customer's (consent, fraud flag) as Optimove lists them."""
    return {
        c["customer_id"]: (c["attributes"]["Consent"] == "1", c["attributes"]["FraudFlag"] == "1")
        for c in sim.customers(campaign_id)
    }


def test_another_policy_list_is_counted_exactly_on_an_ingested_audience(
    any_engine: Engine, simulator: SimulatorServer
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(any_engine, simulator, 600, no_consent_rate=0.15, fraud_rate=0.1)
    customers = truth(sim, campaign_id)
    no_consent_only = sorted(c for c, (consent, fraud) in customers.items() if not consent and not fraud)
    both = sorted(c for c, (consent, fraud) in customers.items() if not consent and fraud)
    assert no_consent_only and both

    report = dry_run_policies(
        SqlAlchemyUnitOfWorkFactory(any_engine),
        campaign_id,
        PolicyPipeline([FraudCheck(), VipSegmentation()]),
        examples=3,
        page_size=128,
    )

    assert report is not None and report.customers == len(customers) == 600
    assert report.newly_eligible == {"no_consent": IdSample(len(no_consent_only), tuple(no_consent_only[:3]))}
    assert report.reason_changed == {"no_consent -> fraud_flagged": IdSample(len(both), tuple(both[:3]))}
    assert report.newly_scrubbed == report.segment_changed == {}
    assert report.eligible_after - report.eligible_now == len(no_consent_only)


def test_the_command_shows_what_would_change_and_writes_nothing(
    any_engine: Engine, simulator: SimulatorServer, tmp_path: Path
) -> None:
    sim = SimControl(simulator.url)
    campaign_id = claim_mode_campaign(any_engine, simulator, 300, no_consent_rate=0.15, fraud_rate=0.1)
    customers = truth(sim, campaign_id)
    eligible = sorted(c for c, (consent, fraud) in customers.items() if consent and not fraud)
    with writing(any_engine) as uow:  # the operator withdrew one customer's consent since ingest
        uow.operator_data.save([(eligible[0], OperatorFlags(consent=False))], now=utcnow())
    before = every_row(any_engine)

    shown = promobridge(
        "policies", "dry-run", "--campaign", str(campaign_id), "--policies", FRAUD_FIRST,
        "--options", '{"VipSegmentation": {"segments": "0:all"}}', "--json",
        database=any_engine, data_dir=tmp_path,
    )  # fmt: skip
    text = promobridge(
        "policies", "dry-run", "--campaign", str(campaign_id), database=any_engine, data_dir=tmp_path
    )

    assert every_row(any_engine) == before
    assert shown.returncode == 0, shown.stdout + shown.stderr
    report = json.loads(shown.stdout)
    both = sum(1 for consent, fraud in customers.values() if not consent and fraud)
    assert report["customers"] == 300 and report["policies"] == FRAUD_FIRST.split(",")
    assert report["newly_scrubbed"] == {"consent_withdrawn": {"count": 1, "examples": [eligible[0]]}}
    assert report["reason_changed"]["no_consent -> fraud_flagged"]["count"] == both
    assert sum(bucket["count"] for bucket in report["segment_changed"].values()) == len(eligible) - 1
    assert set(report["segment_changed"]) <= {
        f"{s} -> all" for s in ("standard", "silver", "gold", "platinum")
    }
    assert text.returncode == 0, text.stdout + text.stderr
    assert f"Policies dry run on campaign {campaign_id}: 300 customers, nothing changed" in text.stdout
    assert "consent_withdrawn" in text.stdout and "newly scrubbed (by the new reason)" in text.stdout


@pytest.mark.parametrize(
    ("arguments", "exit_code", "message"),
    [
        (["--campaign", "424242"], 2, "campaign 424242 is unknown"),
        (["--campaign", "1", "--policies", "nowhere:Nothing"], 2, "cannot load policy 'nowhere:Nothing'"),
        (["--campaign", "1", "--options", "{not json"], 2, "PROMOBRIDGE_POLICY_OPTIONS is not valid JSON"),
        (
            ["--campaign", "1", "--options", '{"VipSegmentation": {"colour": 1}}'],
            2,
            "cannot configure policy",
        ),
        (["--campaign", "0"], 2, "--campaign"),
    ],
)
def test_what_cannot_be_run_is_refused_with_exit_code_2(
    sqlite_engine: Engine, tmp_path: Path, arguments: list[str], exit_code: int, message: str
) -> None:
    result = promobridge("policies", "dry-run", *arguments, database=sqlite_engine, data_dir=tmp_path)

    assert result.returncode == exit_code and message in result.stderr, result.stderr
