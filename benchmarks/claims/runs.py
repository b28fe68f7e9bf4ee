"""Batches of claims through the running pipeline: submitted over HTTP, measured on their own timestamps.

A burst submits every claim as fast as the load generator goes; a paced run submits them at a
steady rate from Python threads. Either way the run ends when every claim is final, and its figures
come from the claims table (created_at by the web, completed_at by the relay once Optimove took
the status) and from the simulator's counters.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
from sqlalchemy import Engine, text

from app.clock import as_utc
from benchmarks.claims.cpu import CpuReport, CpuSampler, Groups
from benchmarks.claims.load import ClaimTarget, LoadGenerator
from simulator.control_client import SimControl

Say = Callable[[str], None]
FINAL_STATES = ("completed", "rejected", "failed")
PROGRESS_SECONDS = 2.0
POLL_SECONDS = 0.2
_LATENCY = (
    "percentile_cont({q}) WITHIN GROUP (ORDER BY extract(epoch FROM {end}_at - {start}_at)::float8) "
    "FILTER (WHERE state = 'completed')"
)
# Where a claim's time goes, p50 of each step: created → validated → activated → completed.
STEPS = (("created", "validated"), ("validated", "activated"), ("activated", "completed"))
_SUMMARY_SQL = text(
    "SELECT count(*) FILTER (WHERE state = 'completed'), count(*) FILTER (WHERE state = 'failed'), "
    "count(*) FILTER (WHERE state = 'rejected'), max(created_at), max(completed_at), "
    f"{_LATENCY.format(q=0.5, start='created', end='completed')}, "
    f"{_LATENCY.format(q=0.99, start='created', end='completed')}, "
    + ", ".join(_LATENCY.format(q=0.5, start=start, end=end) for start, end in STEPS)
    + " FROM claims WHERE campaign_id = :campaign_id"
)
_COMPLETIONS_SQL = text(
    "SELECT extract(epoch FROM completed_at - :first_post)::float8 FROM claims "
    "WHERE campaign_id = :campaign_id AND state = 'completed' ORDER BY completed_at"
)
_STATES_SQL = text("SELECT state, count(*) FROM claims WHERE campaign_id = :campaign_id GROUP BY state")
_STORED_SQL = text("SELECT count(*) FROM claims WHERE campaign_id = :campaign_id")


@dataclass(frozen=True)
class ClaimsRun:
    """One batch of claims, from the first POST to the last status delivered."""

    claims: int
    completed: int
    failed: int
    rejected: int
    seconds: float  # first POST → last completed_at
    submit_rate: float  # claims stored per second while they were submitted
    p50: float  # s, created → completed (status delivered)
    p99: float
    steps: tuple[float, float, float]  # p50 s: created → validated, → activated, → completed
    completions: list[float]  # s after the first POST at which each claim completed, in order
    calls: dict[str, int]  # validateCustomers, UpdateCustomerPromotionStatus, contexts, 429s
    cpu: CpuReport | None = None

    @property
    def rate(self) -> float:
        """Claims completed per second, end to end."""
        return self.completed / self.seconds if self.seconds else 0.0

    def describe_steps(self) -> str:
        """Where a claim's time went, for a note."""
        validated, activated, completed = self.steps
        return (
            f"p50 of each step: created → validated {validated:.2f} s, → activated {activated:.2f} s, "
            f"→ status delivered {completed:.2f} s"
        )

    def describe_calls(self) -> str:
        """The Optimove calls the run made, for a note."""
        calls = self.calls
        per_call = calls["contexts_validated"] / max(calls["validateCustomers"], 1)
        return (
            f"validateCustomers {calls['validateCustomers']} ({per_call:.1f} contexts each), "
            f"UpdateCustomerPromotionStatus {calls['UpdateCustomerPromotionStatus']}, "
            f"429s {calls['rate_limited_429']}"
        )

    def figures(self) -> dict[str, Any]:
        """The run for the JSON output."""
        return {
            "claims": self.claims,
            "completed": self.completed,
            "failed": self.failed,
            "rejected": self.rejected,
            "claims_per_second": self.rate,
            "seconds": self.seconds,
            "post_per_second": self.submit_rate,
            "p50_seconds": self.p50,
            "p99_seconds": self.p99,
            "step_p50_seconds": dict(zip(("validated", "activated", "completed"), self.steps, strict=True)),
            "calls": self.calls,
        }


@dataclass
class ClaimRunner:
    """Submits a campaign's claims to the web process and measures them once they are all final."""

    engine: Engine
    sim: SimControl
    claims_url: str
    api_key: str
    load: LoadGenerator
    say: Say
    timeout: float
    cpu_groups: Groups | None = None

    def burst(self, campaign_id: int, count: int, *, sample_cpu: bool = False) -> ClaimsRun:
        """Submit `count` claims as fast as the load generator goes; wait until they are final."""
        target = ClaimTarget(self.claims_url, self.api_key, campaign_id, 0, count)
        sampler: AbstractContextManager[CpuSampler | None] = nullcontext()
        if sample_cpu and self.cpu_groups is not None:
            sampler = CpuSampler(self.cpu_groups)
        before, first_post = self.sim.state(), datetime.now(UTC)
        with sampler as cpu:
            self.say(f"  campaign {campaign_id}: submitting {count:,} claims ({self.load.describe()}) …")
            result = self.load.submit(
                target,
                lambda: self.stored(campaign_id),
                self.timeout,
                lambda elapsed: self.say(
                    f"  {self.stored(campaign_id):,} claims stored after {elapsed:.0f} s"
                ),
            )
            if result.failed:
                raise RuntimeError(f"{result.failed} claim submissions failed")
            self.wait_final(campaign_id, count, first_post)
        return self._measure(campaign_id, count, first_post, before, cpu.report() if cpu else None)

    def paced(self, campaign_id: int, count: int, rate: float, threads: int) -> tuple[ClaimsRun, float]:
        """Submit `count` claims at `rate` per second; the run and the rate actually achieved."""
        before, first_post = self.sim.state(), datetime.now(UTC)
        self.say(f"  campaign {campaign_id}: submitting {count:,} claims at {rate:,.1f}/s …")
        achieved = self._submit_paced(campaign_id, count, rate, threads)
        self.wait_final(campaign_id, count, first_post)
        return self._measure(campaign_id, count, first_post, before, None), achieved

    def stored(self, campaign_id: int) -> int:
        """Claims of the campaign in the database."""
        with self.engine.connect() as conn:
            return int(conn.execute(_STORED_SQL, {"campaign_id": campaign_id}).scalar_one())

    def wait_final(self, campaign_id: int, count: int, first_post: datetime) -> None:
        """Poll the claims table until `count` claims are completed, rejected or failed."""
        deadline, next_report = time.monotonic() + self.timeout, time.monotonic() + PROGRESS_SECONDS
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                states = {str(s): int(n) for s, n in conn.execute(_STATES_SQL, {"campaign_id": campaign_id})}
            if sum(states.get(s, 0) for s in FINAL_STATES) >= count:
                return
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + PROGRESS_SECONDS
                elapsed = (datetime.now(UTC) - first_post).total_seconds()
                done = states.get("completed", 0)
                counts = "  ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
                self.say(f"  campaign {campaign_id}: {counts}  ({done / elapsed:,.1f} completed/s so far)")
            time.sleep(POLL_SECONDS)
        raise TimeoutError(f"claims of campaign {campaign_id} not final within {self.timeout:.0f} s")

    def _measure(
        self,
        campaign_id: int,
        count: int,
        first_post: datetime,
        before: dict[str, Any],
        cpu: CpuReport | None,
    ) -> ClaimsRun:
        after = self.sim.state()
        with self.engine.connect() as conn:
            row = conn.execute(_SUMMARY_SQL, {"campaign_id": campaign_id}).one()
            completions = [
                float(value)
                for value in conn.execute(
                    _COMPLETIONS_SQL, {"campaign_id": campaign_id, "first_post": first_post}
                ).scalars()
            ]
        completed, failed, rejected = int(row[0]), int(row[1]), int(row[2])
        last_created, last_completed = as_utc(row[3]), as_utc(row[4])
        if completed == 0 or last_completed is None or last_created is None:
            raise RuntimeError(f"no claim of campaign {campaign_id} completed")
        requests_made = Counter(after["requests"]) - Counter(before["requests"])
        promotion = after["promotions"].get(f"PROMO-{campaign_id}", {})
        run = ClaimsRun(
            claims=count,
            completed=completed,
            failed=failed,
            rejected=rejected,
            seconds=(last_completed - first_post).total_seconds(),
            submit_rate=count / max((last_created - first_post).total_seconds(), 1e-3),
            p50=float(row[5] or 0.0),
            p99=float(row[6] or 0.0),
            steps=(float(row[7] or 0.0), float(row[8] or 0.0), float(row[9] or 0.0)),
            completions=completions,
            calls={
                "validateCustomers": requests_made["validateCustomers"],
                "UpdateCustomerPromotionStatus": requests_made["UpdateCustomerPromotionStatus"],
                "contexts_validated": int(promotion.get("contexts_validated", 0)),
                "rate_limited_429": int(after["rate_limited"]) - int(before["rate_limited"]),
            },
            cpu=cpu,
        )
        self.say(
            f"  campaign {campaign_id}: {completed:,} completed, {failed} failed, {rejected} rejected; "
            f"{run.rate:,.1f} claims/s, p50 {run.p50:.2f} s, p99 {run.p99:.2f} s"
        )
        return run

    def _submit_paced(self, campaign_id: int, count: int, rate: float, threads: int) -> float:
        """Claim i is sent at start + i / rate (never earlier) by the next free thread; the achieved rate."""
        indexes, lock = itertools.count(), threading.Lock()
        statuses: Counter[int] = Counter()
        started = time.perf_counter()
        finished = [started]

        def post_claims() -> None:
            session = requests.Session()
            session.trust_env = False
            session.headers["Authorization"] = f"Bearer {self.api_key}"
            while True:
                with lock:
                    index = next(indexes)
                if index >= count:
                    return
                time.sleep(max(0.0, started + index / rate - time.perf_counter()))
                customer = f"{campaign_id}-{index:07d}"
                status = session.post(
                    self.claims_url,
                    json={"campaign_id": campaign_id, "customer_id": customer},
                    headers={"Idempotency-Key": customer},
                    timeout=30,
                ).status_code
                with lock:
                    statuses[status] += 1
                    finished[0] = max(finished[0], time.perf_counter())

        workers = [threading.Thread(target=post_claims, daemon=True) for _ in range(threads)]
        for worker in workers:
            worker.start()
        next_report = started + PROGRESS_SECONDS
        while any(worker.is_alive() for worker in workers):
            time.sleep(POLL_SECONDS)
            if time.perf_counter() >= next_report:
                next_report += PROGRESS_SECONDS
                self.say(f"  submitted {sum(statuses.values()):,} of {count:,} claims")
        if statuses != Counter({202: count}):
            raise RuntimeError(f"POST /v1/claims answered {dict(statuses)}")
        return max(count - 1, 1) / max(finished[0] - started, 1e-3)  # claim 0 goes at the start
