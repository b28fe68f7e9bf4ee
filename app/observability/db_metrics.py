"""Gauges read from PostgreSQL at scrape time: claims and campaigns by state, outbox backlog.

They are computed by whichever process is scraped, straight from the source of truth, instead of
being kept up to date by the processes that move rows: a gauge set in one process would be wrong
in every other, and one kept in memory would drift after a crash. The queries are aggregates
that the existing indexes answer (``ix_claims_state``, the pending-only outbox partial index; the
campaigns table is small), run with a statement timeout and under a hard deadline. When the
database cannot answer, the scrape still succeeds and says so with ``promobridge_scrape_error 1``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, and_, case, func, select

from app.adapters.db.claims import SqlClaims
from app.adapters.db.dialect import limit_statement_time
from app.adapters.db.tables import campaigns, outbox
from app.clock import as_utc
from app.domain.campaigns import ACTIVE_STATES, CampaignState
from app.domain.claims import ClaimState
from app.domain.outbox import PAGE_APPROVALS
from app.observability.deadline import call_with_deadline

__all__ = ["DEFAULT_SCRAPE_TIMEOUT_SECONDS", "DatabaseCollector", "DatabaseSnapshot", "read_snapshot"]

log = logging.getLogger(__name__)

DEFAULT_SCRAPE_TIMEOUT_SECONDS = 2.0  # Prometheus' default scrape timeout is 10 s


@dataclass(frozen=True, slots=True)
class DatabaseSnapshot:
    """What the gauges report, read in one short transaction."""

    claims_by_state: dict[str, int]
    campaigns_by_state: dict[str, int]
    campaigns_at_deadline_risk: int
    outbox_pending: int
    outbox_oldest_pending_at: datetime | None


def read_snapshot(conn: Connection) -> DatabaseSnapshot:
    """Run the gauge queries on `conn` (PostgreSQL or SQLite)."""
    claims_by_state = {state.value: 0 for state in ClaimState} | SqlClaims(conn).counts_by_state()
    campaigns_by_state = {state.value: 0 for state in CampaignState}
    at_risk = 0
    active = [state.value for state in ACTIVE_STATES]
    rows = conn.execute(
        select(
            campaigns.c.state,
            func.count(),
            func.count().filter(and_(campaigns.c.at_risk_since.is_not(None), campaigns.c.state.in_(active))),
        ).group_by(campaigns.c.state)
    )
    for state, count, risky in rows:
        campaigns_by_state[str(state)] = int(count)
        at_risk += int(risky)
    # Pending rows only (the partial index's predicate): outbox.stats() also counts every sent
    # row, a full scan of a table that grows by one row per approved customer.
    # A page approvals row stands for its customers still to send.
    customers = case((outbox.c.kind == PAGE_APPROVALS, func.coalesce(outbox.c.customers, 0)), else_=1)
    pending, oldest = conn.execute(
        select(func.coalesce(func.sum(customers), 0), func.min(outbox.c.created_at)).where(
            outbox.c.sent_at.is_(None), outbox.c.dead_at.is_(None)
        )
    ).one()
    return DatabaseSnapshot(claims_by_state, campaigns_by_state, at_risk, int(pending), as_utc(oldest))


class DatabaseCollector(Collector):
    """A custom collector that queries the database on every ``collect()`` (every scrape)."""

    def __init__(
        self,
        engine: Engine,
        *,
        timeout_seconds: float = DEFAULT_SCRAPE_TIMEOUT_SECONDS,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._timeout = timeout_seconds
        self._clock = clock

    def describe(self) -> Iterator[Metric]:
        """The metric names, without querying (the registry calls this when it registers us)."""
        yield from self._families(None, describing=True)

    def collect(self) -> Iterator[Metric]:
        """Query the database and yield the gauges, or only ``promobridge_scrape_error 1``."""
        try:
            snapshot = call_with_deadline(self._read, self._timeout)
        except Exception as exc:
            log.warning("metrics: database gauges unavailable", extra={"error": type(exc).__name__})
            snapshot = None
        yield from self._families(snapshot, describing=False)

    def _read(self) -> DatabaseSnapshot:
        with self._engine.connect() as conn:
            # SET LOCAL: the limit ends with this transaction, never leaks to the pooled connection.
            limit_statement_time(conn, max(1, int(self._timeout * 1000)))
            snapshot = read_snapshot(conn)
            conn.rollback()
        return snapshot

    def _families(self, snapshot: DatabaseSnapshot | None, *, describing: bool) -> Iterator[Metric]:
        error = GaugeMetricFamily(
            "promobridge_scrape_error", "1 when the database gauges could not be read in this scrape."
        )
        if not describing:
            error.add_metric([], 0 if snapshot is not None else 1)
        yield error
        if snapshot is None and not describing:
            return
        claims = GaugeMetricFamily("promobridge_claims", "Claims by state.", labels=["state"])
        states = GaugeMetricFamily("promobridge_campaigns", "Campaigns by state.", labels=["state"])
        risk = GaugeMetricFamily(
            "promobridge_campaigns_at_deadline_risk",
            "Ingesting or approving campaigns flagged as unlikely to finish before ClearanceRequiredBy.",
        )
        pending = GaugeMetricFamily("promobridge_outbox_pending", "Outbox rows not yet sent nor dead.")
        age = GaugeMetricFamily(
            "promobridge_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row (0: none)."
        )
        if snapshot is not None:
            for state, count in sorted(snapshot.claims_by_state.items()):
                claims.add_metric([state], count)
            for state, count in sorted(snapshot.campaigns_by_state.items()):
                states.add_metric([state], count)
            risk.add_metric([], snapshot.campaigns_at_deadline_risk)
            pending.add_metric([], snapshot.outbox_pending)
            oldest = snapshot.outbox_oldest_pending_at
            age.add_metric([], max(0.0, (self._clock() - oldest).total_seconds()) if oldest else 0.0)
        yield from (claims, states, risk, pending, age)
