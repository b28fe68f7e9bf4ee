"""What the customers' trail costs the two hot paths: ingest pages and claims, trail on vs. off.

An in-process comparison on a throwaway PostgreSQL database, through the real services and the
real SQL unit of work (`SqlAlchemyUnitOfWorkFactory(trail_enabled=...)`, what TRAIL_ENABLED sets):

  * ingest: pages of `--page-size` customers (10 % without consent, 5 % flagged for fraud) through
    `ingest_page`, for a claim-mode campaign (scrubbed customers get an event) and an auto one
    (every approved customer gets one too);
  * claims: `--claims` claims through `submit_claim` (the POST's unit of work), `validate_pending`
    (calls of 100), `activate_validated` (rounds of 100, wallet ledger) and `relay_once`.

Optimove, OptiPromo and the broker are stubs answering at once, so the figures are the database
and Python work only: the trail's share of it is an upper bound of its share in the real
benchmarks, where HTTP and the broker add time the trail does not touch. Every unit of work (a
page, a claim submitted, a validation call, an activation round, a status call) runs with the
trail or without it in the order off, on, on, off, …: on a shared machine both sides meet the same
load. `python -m benchmarks.trail_cost [--pages 20 --claims 4000]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, text, update

from app.adapters.activators.wallet import WalletLedgerActivator
from app.adapters.db.dialect import build_engine
from app.adapters.db.schema import upgrade_database
from app.adapters.db.tables import campaigns
from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.clock import utcnow
from app.domain.audience import Candidate, CustomerPage
from app.domain.campaigns import CampaignMode, CampaignState, NewCampaign
from app.domain.claims import ClaimRequest
from app.domain.optimove import CampaignCustomer, PromoStatus, ValidationContext, ValidationResult
from app.policies.base import PolicyPipeline
from app.policies.consent import ConsentScrub
from app.policies.fraud import FraudCheck
from app.policies.rewards import RewardPipeline, VipMultiplier
from app.policies.segmentation import VipSegmentation
from app.services.activation import activate_validated
from app.services.claims import Submission, submit_claim
from app.services.ingest import IngestConfig, ingest_page
from app.services.relay import RelayConfig, relay_once
from app.services.validation import ValidationConfig, ValidationDoorbell, validate_pending
from benchmarks.alternation import on_at
from benchmarks.stack import throwaway_postgres_database

PROMO = "TRAIL-BENCH"
ATTRIBUTES = ("Consent", "FraudFlag", "VIPLevel")
POLICIES = PolicyPipeline([ConsentScrub(), FraudCheck(), VipSegmentation()])
ACTIVATION_ROUND = 100


def _customers(campaign_id: int, count: int, *, offset: int = 0) -> list[CampaignCustomer]:
    return [
        CampaignCustomer(
            f"{campaign_id}-{n:08}",
            1,
            PROMO,
            {
                "Consent": "0" if n % 10 == 3 else "1",
                "FraudFlag": "1" if n % 20 == 7 else "0",
                "VIPLevel": str(n % 4),
            },
        )
        for n in range(offset, offset + count)
    ]


@dataclass
class Audience:
    """GetProcessedCampaignCustomers answered from memory."""

    page_size: int

    def get_customer_page(
        self, campaign_id: int, *, top: int, skip: int, attributes: Sequence[str] = ()
    ) -> CustomerPage:
        rows = _customers(campaign_id, top, offset=skip)
        return CustomerPage.of(
            Candidate(c.customer_id, c.promo_code, c.action_id, c.attributes) for c in rows
        )


@dataclass
class Stubs:
    """The broker, Redis and Optimove, answering at once."""

    pending: list[tuple[int, str | None]] = field(default_factory=list)
    to_activate: list[str] = field(default_factory=list)

    # Dispatcher
    def start_campaign(self, inbox_event_id: int) -> None: ...
    def ingest_page(self, campaign_id: int, page_no: int) -> None: ...
    def validate_pending(self, campaign_id: int, promo_code: str | None) -> None:
        self.pending.append((campaign_id, promo_code))

    def activate_claims(self, claim_ids: Sequence[str]) -> None:
        self.to_activate.extend(claim_ids)

    def report_status(self) -> None: ...

    # Coordination
    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        return "token"

    def refresh(self, key: str, token: str, ttl_seconds: float) -> bool:
        return True

    def release(self, key: str, token: str) -> None: ...
    def ring(self, key: str, window_seconds: float) -> bool:
        return False  # the benchmark drives validation itself

    def answer(self, key: str) -> None: ...

    # OptiPromo and Optimove
    def wait_for_budget(self, *, max_seconds: float) -> float:
        return 0.0

    def budget_used(self) -> float:
        return 0.0

    def validate_customers(
        self,
        promocode_id: str,
        contexts: Sequence[ValidationContext],
        *,
        campaign_id: int | str | None = None,
    ) -> list[ValidationResult]:
        return [ValidationResult(c.customer_id, True, "gold", "bonus", _TEN, None) for c in contexts]

    def update_customer_promotion_status(
        self, campaign_id: int, statuses: Sequence[PromoStatus], *, timestamp: datetime | None = None
    ) -> int:
        return 1


_TEN = Decimal(10)


def _campaign(
    uow: SqlAlchemyUnitOfWorkFactory, campaign_id: int, mode: CampaignMode, pages: int, size: int
) -> None:
    with uow() as u:
        state = CampaignState.INGESTING
        u.campaigns.add(NewCampaign(campaign_id, mode, None, None, size, state=state), now=utcnow())
        u.pages.create(campaign_id, range(pages), now=utcnow())
        u.commit()


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Backends:
    """CPU seconds spent by the PostgreSQL backends serving this benchmark's database (read from
    /proc: the server runs on this machine). CPU time, unlike wall time, barely moves when other
    work shares the machine."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._pids: list[int] = []
        self._reads = 0

    def cpu_seconds(self) -> float:
        if self._reads % 50 == 0:
            self._refresh()
        self._reads += 1
        total = 0
        for pid in self._pids:
            try:
                with open(f"/proc/{pid}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / CLOCK_TICKS

    def _refresh(self) -> None:
        with self._engine.connect() as conn:
            self._pids = list(
                conn.execute(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"
                    )
                ).scalars()
            )


@dataclass
class Split:
    """The seconds each unit of work took, with the trail off and on: wall time, and the CPU time of
    this process and of the database's backends."""

    backends: Backends
    seconds: dict[bool, list[float]] = field(default_factory=lambda: {False: [], True: []})
    cpu: dict[bool, float] = field(default_factory=lambda: {False: 0.0, True: 0.0})

    def timed(self, on: bool, work: Callable[..., object], *args: Any) -> None:
        server = self.backends.cpu_seconds()
        client = time.process_time()
        started = time.perf_counter()
        work(*args)
        self.seconds[on].append(time.perf_counter() - started)
        self.cpu[on] += time.process_time() - client + self.backends.cpu_seconds() - server

    def cpu_per_unit(self, on: bool) -> float:
        """Mean CPU seconds (client and server) per unit of work."""
        return self.cpu[on] / len(self.seconds[on])

    def median(self, on: bool) -> float:
        """The median unit of work (a shared machine's spikes fall outside it)."""
        return statistics.median(self.seconds[on])

    def ratio(self) -> float:
        """The trail's cost: the median unit of work with it, over the median without it."""
        return self.median(True) / self.median(False)


def ingest_split(
    factories: Mapping[bool, SqlAlchemyUnitOfWorkFactory],
    backends: Backends,
    campaign_id: int,
    mode: CampaignMode,
    pages: int,
    size: int,
) -> Split:
    """Ingest one campaign's pages, each page's unit of work with or without the trail (ABBA)."""
    _campaign(factories[False], campaign_id, mode, pages + 1, size)
    config = IngestConfig(size, 0, ATTRIBUTES, mode, {})
    stubs, source, split = Stubs(), Audience(size), Split(backends)
    for page_no in range(pages):
        on = on_at(page_no)
        split.timed(on, ingest_page, factories[on], source, POLICIES, stubs, config, campaign_id, page_no)
    return split


def claims_split(
    factories: Mapping[bool, SqlAlchemyUnitOfWorkFactory],
    backends: Backends,
    campaign_id: int,
    claims: int,
    relay_batch: int,
) -> dict[str, Split]:
    """Claims of a ready claim-mode campaign through each step, each unit of work with or without the
    trail (ABBA): one per claim submitted, per validation call, per activation round, per status call."""
    size = 10_000
    pages = -(-claims * 10 // 8 // size)  # enough eligible customers
    setup = {False: factories[False], True: factories[False]}
    ingest_split(setup, backends, campaign_id, CampaignMode.CLAIM, pages, size)
    with factories[False]() as u:  # ingested: the campaign now takes claims
        u.connection.execute(update(campaigns).where(campaigns.c.id == campaign_id).values(state="ready"))
        u.commit()
    eligible = [
        c.customer_id
        for c in _customers(campaign_id, pages * size)
        if c.attributes["Consent"] == "1" and c.attributes["FraudFlag"] == "0"
    ][:claims]
    stubs = Stubs()
    doorbell = ValidationDoorbell(stubs, stubs)
    splits = {phase: Split(backends) for phase in ("submit", "validate", "activate", "relay")}
    for n, customer in enumerate(eligible):
        submission = Submission(
            1, f"key-{campaign_id}-{n}", "http", None, client_name="bench", key_id="Bench123"
        )
        request = ClaimRequest(campaign_id, customer, {"deposit": 20})
        splits["submit"].timed(on_at(n), submit_claim, factories[on_at(n)], doorbell, request, submission)
    one_call = ValidationConfig(max_contexts=100, turn=timedelta(0))
    for n in range(-(-claims // 100)):
        on = on_at(n)
        splits["validate"].timed(
            on, validate_pending, factories[on], stubs, doorbell, one_call, campaign_id, PROMO
        )
    activator, rewards = WalletLedgerActivator(), RewardPipeline([VipMultiplier()])
    ids = stubs.to_activate
    assert len(ids) == claims, (len(ids), claims)
    for n, start in enumerate(range(0, len(ids), ACTIVATION_ROUND)):
        on, batch = on_at(n), ids[start : start + ACTIVATION_ROUND]
        splits["activate"].timed(on, activate_validated, factories[on], activator, rewards, batch)
    config = RelayConfig(batch_size=relay_batch)
    for n in range(-(-claims // relay_batch)):
        on = on_at(n)
        splits["relay"].timed(on, relay_once, factories[on], stubs, config)
    return splits


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--pages", type=int, default=16, help="Pages per ingest run (half of them with the trail)."
    )
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument(
        "--claims", type=int, default=2_000, help="Claims (half of their units of work with the trail)."
    )
    parser.add_argument("--relay-batch", type=int, default=100, help="Statuses per status call.")
    args = parser.parse_args(argv)
    say = print
    with throwaway_postgres_database("promobridge_trail_bench") as url:
        engine = build_engine(url)
        upgrade_database(engine)
        factories = {on: SqlAlchemyUnitOfWorkFactory(engine, trail_enabled=on) for on in (False, True)}
        backends = Backends(engine)
        rows: list[tuple[str, Split, str, int]] = []
        for mode in (CampaignMode.CLAIM, CampaignMode.AUTO):
            split = ingest_split(factories, backends, 1000 + len(rows), mode, args.pages, args.page_size)
            rows.append((f"ingest, {mode.value}-mode page", split, "customers", args.page_size))
        for phase, split in claims_split(factories, backends, 2000, args.claims, args.relay_batch).items():
            per = {"submit": 1, "validate": 100, "activate": ACTIVATION_ROUND, "relay": args.relay_batch}[
                phase
            ]
            rows.append((f"claims, {phase}", split, "claims", per))
        with engine.connect() as conn:
            written = ", ".join(
                f"{step} {count:,}"
                for step, count in conn.execute(
                    text("SELECT step, count(*) FROM trail_events GROUP BY step ORDER BY step")
                )
            )
            calls = conn.execute(text("SELECT count(*) FROM status_calls")).scalar_one()
            written += f"; status_calls {calls:,}"
        engine.dispose()
    say("Trail cost: PostgreSQL, in-process, network stubbed; units of work alternate off/on/on/off.")
    say("Wall: the median unit of work. CPU: the mean per unit, this process and the database's backends.")
    say(
        f"{'unit of work':<26}{'n':>6}{'wall off':>10}{'on ms':>8}{'on/off':>8}"
        f"{'CPU off':>10}{'on ms':>8}{'on/off':>8}"
    )
    for name, split, _, _ in rows:
        n = len(split.seconds[False]) + len(split.seconds[True])
        cpu_off, cpu_on = split.cpu_per_unit(False), split.cpu_per_unit(True)
        say(
            f"{name:<26}{n:>6}{split.median(False) * 1000:>10.2f}{split.median(True) * 1000:>8.2f}"
            f"{split.ratio():>8.3f}{cpu_off * 1000:>10.2f}{cpu_on * 1000:>8.2f}{cpu_on / cpu_off:>8.3f}"
        )
    claims_rows = [(split, per) for name, split, _, per in rows if name.startswith("claims")]
    wall = {on: sum(split.median(on) / per for split, per in claims_rows) * 1000 for on in (False, True)}
    cpu = {on: sum(split.cpu_per_unit(on) / per for split, per in claims_rows) * 1000 for on in (False, True)}
    wall_ratio, cpu_ratio = wall[True] / wall[False], cpu[True] / cpu[False]
    say(
        f"{'claims, per claim, all':<26}{'':>6}{wall[False]:>10.2f}{wall[True]:>8.2f}{wall_ratio:>8.3f}"
        f"{cpu[False]:>10.2f}{cpu[True]:>8.2f}{cpu_ratio:>8.3f}"
    )
    say(f"trail rows written: {written}")


if __name__ == "__main__":
    main()
