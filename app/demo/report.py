"""The demo's closing report: what happened at each stage, checked against what Optimove recorded."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine, func, select

from app.adapters.db.activations import SqlActivations
from app.adapters.db.claims import SqlClaims
from app.adapters.db.tables import claims as claims_table
from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.services.reports import campaign_report
from simulator.control_client import SimControl


@dataclass
class DemoReport:
    """The figures of one demo run."""

    targeted: int = 0
    eligible: int = 0
    scrubbed_by_reason: dict[str, int] = field(default_factory=dict)
    claimed: int = 0
    validated: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    rewarded: int = 0
    status_delivered: int = 0
    rewarded_twice: int = 0
    reported_twice: int = 0
    rewarded_not_reported: int = 0
    resends: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def every_reward_once_and_reported_once(self) -> bool:
        """The demo's promise: each rewarded customer got one reward and one status."""
        return self.rewarded_twice == 0 and self.reported_twice == 0 and self.rewarded_not_reported == 0

    def render(self) -> str:
        """The report table."""
        rows: list[tuple[str, object]] = [
            ("targeted by the campaign", self.targeted),
            ("eligible after the operator's policies", self.eligible),
        ]
        rows += [
            (f"  scrubbed: {reason}", count) for reason, count in sorted(self.scrubbed_by_reason.items())
        ]
        rows += [
            ("claims (distinct customers)", self.claimed),
            ("validated by OptiPromo (eligible)", self.validated),
        ]
        rows += [
            (f"  rejected: {reason}", count) for reason, count in sorted(self.rejected_by_reason.items())
        ]
        rows += [
            ("rewarded (wallet credits)", self.rewarded),
            ("status delivered to Optimove", self.status_delivered),
            ("customers rewarded twice", self.rewarded_twice),
            ("customers reported twice", self.reported_twice),
            ("rewarded but not reported", self.rewarded_not_reported),
            ("re-sends (ambiguous failures)", self.resends),
        ]
        rows += [(f"time: {stage}", f"{seconds:.1f} s") for stage, seconds in self.timings.items()]
        width = max(len(label) for label, _ in rows) + 2
        lines = ["", "promobridge demo report", "-" * (width + 12)]
        lines += [f"{label:<{width}}{value!s:>12}" for label, value in rows]
        verdict = "yes" if self.every_reward_once_and_reported_once else "NO"
        lines += ["-" * (width + 12), f"{'every reward given once and reported once':<{width}}{verdict:>12}"]
        return "\n".join(lines)


def collect_report(
    engine: Engine, sim: SimControl, campaign_id: int, timings: dict[str, float]
) -> DemoReport:
    """Gather the figures from the database and from what the simulator (Optimove) recorded."""
    campaign = campaign_report(SqlAlchemyUnitOfWorkFactory(engine), campaign_id)
    assert campaign is not None
    with engine.connect() as conn:
        states = SqlClaims(conn).counts_by_state(campaign_id)
        reasons = SqlClaims(conn).counts_by_reason(campaign_id)
        credits = SqlActivations(conn).credits_per_claim()
        rewarded_customers = (
            set(
                conn.execute(
                    select(claims_table.c.customer_id).where(claims_table.c.id.in_(list(credits)))
                ).scalars()
            )
            if credits
            else set()
        )
        validated = int(
            conn.execute(
                select(func.count()).where(
                    claims_table.c.campaign_id == campaign_id, claims_table.c.validated_at.is_not(None)
                )
            ).scalar_one()
        )
    statuses = sim.statuses(campaign_id)
    reported = {customer for customer, s in statuses.items() if s["status"]}
    return DemoReport(
        targeted=campaign.rows_ingested,
        eligible=campaign.eligible,
        scrubbed_by_reason=campaign.scrubbed_by_reason,
        claimed=sum(states.values()),
        validated=validated,
        rejected_by_reason=reasons,
        rewarded=sum(credits.values()),
        status_delivered=len(reported),
        rewarded_twice=sum(1 for count in credits.values() if count > 1),
        reported_twice=sum(1 for s in statuses.values() if s["times"] > 1),
        rewarded_not_reported=len(rewarded_customers - reported),
        resends=campaign.resent,
        timings={stage: round(seconds, 1) for stage, seconds in timings.items()},
    )
