"""Section (f): the HTTP reward activator against the simulator's operator endpoint (~20 ms a grant).

With REWARD_ACTIVATOR=http, every grant answered after `operator_latency_ms`, then with
`grant_failure_rate` of the grant requests answered a server error (retryable: nothing granted,
the activate task retries the grant after the backoff).

The claims/s target compares the HTTP activator with the wallet activator measured here, in bursts
that alternate wallet, HTTP, HTTP, wallet, wallet, HTTP (`ACTIVATOR_ROUNDS` of each, one campaign
each): on a shared machine whose load drifts, and a database that grows with every section run
before, both sides meet the same drift (as (g) does). Comparing with (b)'s burst instead, minutes and five
sections earlier, read the drift as the activator's cost: in one full run (e)'s one-worker wallet
burst was already 11 % slower than (b)'s. (b)'s rate is printed beside it, without a target.

Then claims paced at half the HTTP bursts' median rate, as (c) measures latency: the p50/p99 with
targets. A burst's p99 is its backlog, not the activator's latency: its last claims wait for every
claim POSTed before them, so it is printed, without a target. The same two runs follow with
failing grants. RETRY_BACKOFF_BASE_SECONDS is lowered for the section (and the report says so): at
its default the first retries alone would take most of the budget.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from benchmarks.alternation import medians
from benchmarks.claims.config import SECTION_TITLES
from benchmarks.claims.context import (
    ACTIVATOR_ROUNDS,
    ACTIVATOR_ROUNDS_FROM,
    HTTP_FAILING,
    HTTP_FAILING_PACED,
    HTTP_PACED,
    Context,
)
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.runs import ClaimsRun
from benchmarks.claims.stack import Pipeline

FAULT_SEED = 9


def run_http_activator(ctx: Context) -> SectionResult:
    """Alternate wallet and HTTP bursts; then pace the HTTP activator, and do both with failing grants."""
    config, stack = ctx.config, ctx.stack
    latency, failing = config.operator_latency_ms, config.grant_failure_rate
    stack.sim.set_operator_faults(latency_ms=latency)
    try:
        rounds = _alternating_bursts(ctx)
        http_rate, wallet_rate = medians((on, run.rate) for on, run in rounds)
        http_runs = [(ACTIVATOR_ROUNDS_FROM + n, run) for n, (on, run) in enumerate(rounds) if on]
        ctx.say(f"  HTTP activator, paced at half its bursts' median {http_rate:,.1f} claims/s …")
        last_campaign, last_burst = http_runs[-1]
        clean = _then_paced(ctx, last_campaign, last_burst, HTTP_PACED, http_rate / 2)
        stack.sim.set_operator_faults(latency_ms=latency, rate_5xx=failing, seed=FAULT_SEED)
        ctx.say(f"  HTTP activator, {failing:.0%} of grant requests answered 5xx …")
        failing_burst = ctx.runner.burst(HTTP_FAILING, config.claims)
        faulty = _then_paced(ctx, HTTP_FAILING, failing_burst, HTTP_FAILING_PACED, failing_burst.rate / 2)
    finally:
        stack.sim.clear_operator_faults()
    pct = f"{failing:.0%} failing grants"
    b_rate = ctx.wallet.rate if ctx.wallet is not None else None
    rows = [
        Row("vs_wallet", "claims/s (bursts), HTTP ÷ wallet activator (medians, alternating)", http_rate,
            wallet_rate, Target(">=", 0.8)),
        Row("p50_seconds", "claim → status delivered p50 s, paced", clean.paced.p50, digits=2),
        Row("p99_seconds", "claim → status delivered p99 s, paced", clean.paced.p99, target=Target("<=", 2),
            on_ratio=False, digits=2),
        Row("burst_p99_seconds", "claim → status delivered p99 s, burst (its backlog)", clean.burst.p99,
            digits=2),
        Row("failing_vs_wallet", f"claims/s (burst), {pct} ÷ wallet activator (median)", faulty.burst.rate,
            wallet_rate),
        Row("failing_p50_seconds", f"claim → status delivered p50 s, paced, {pct}", faulty.paced.p50,
            digits=2),
        Row("failing_p99_seconds", f"claim → status delivered p99 s, paced, {pct}", faulty.paced.p99,
            target=Target("<=", 10), on_ratio=False, digits=2),
        Row("failing_burst_p99_seconds", f"claim → status delivered p99 s, burst, {pct}", faulty.burst.p99,
            digits=2),
    ]  # fmt: skip
    order = ", ".join(f"{'HTTP' if on else 'wallet'} {run.rate:,.1f}" for on, run in rounds)
    notes = [
        f"operator endpoint: the simulator's POST /_operator/grants, {latency:g} ms per grant; "
        "REWARD_ACTIVATOR_CONCURRENCY at its default; "
        f"RETRY_BACKOFF_BASE_SECONDS={config.retry_backoff_base_seconds:g} for this section (default 1)",
        f"{config.claims:,} claims per burst, {ACTIVATOR_ROUNDS} bursts of each activator alternating (both "
        f"meet the machine's drift alike); claims/s in the order run: {order}"
        + (f"; (b)'s wallet burst, earlier in this run: {b_rate:,.1f}" if b_rate is not None else ""),
        "latency (p50/p99 with targets) from claims paced at half the HTTP bursts' median claims/s, as (c) "
        "measures it; a burst's p99 is how long its last claims wait behind the rest",
        *clean.describe("no failing grant"),  # its burst: the last HTTP burst of the alternation
        *faulty.describe(pct),
    ]
    figures = {
        "wallet_claims_per_second": wallet_rate,
        "http_claims_per_second": http_rate,
        "rounds": [{"http": on, "claims_per_second": run.rate} for on, run in rounds],
        "b_wallet_claims_per_second": b_rate,
        "http": clean.figures(),
        "http_failing": faulty.figures(),
    }
    return SectionResult("f", SECTION_TITLES["f"], rows, notes, figures)


def _alternating_bursts(ctx: Context) -> list[tuple[bool, ClaimsRun]]:
    """Bursts with the wallet activator (False) and the HTTP activator (True): wallet, HTTP, HTTP, …"""

    def switch(http: bool) -> None:
        ctx.stack.run_pipeline(Pipeline(activator="http") if http else Pipeline())

    def label(http: bool) -> str:
        return "HTTP activator" if http else "wallet activator"

    ran = ctx.alternating_bursts(ACTIVATOR_ROUNDS, ACTIVATOR_ROUNDS_FROM, label, switch)
    ctx.stack.run_pipeline(Pipeline(activator="http"))
    return ran


@dataclass(frozen=True)
class _Case:
    """One case of (f): its burst, its paced run, and what the operator endpoint saw for each."""

    burst: ClaimsRun
    burst_grants: dict[str, int]
    paced: ClaimsRun
    paced_rate: float
    paced_achieved: float
    paced_grants: dict[str, int]

    def describe(self, label: str) -> list[str]:
        return [
            _describe(f"{label}, burst", self.burst, self.burst_grants),
            _describe(
                f"{label}, paced at {self.paced_rate:,.1f}/s (achieved {self.paced_achieved:,.1f}/s)",
                self.paced,
                self.paced_grants,
            ),
        ]

    def figures(self) -> dict[str, Any]:
        return {
            **self.burst.figures(),
            "grants": self.burst_grants,
            "paced": {
                **self.paced.figures(),
                "target_rate": self.paced_rate,
                "achieved_rate": self.paced_achieved,
                "grants": self.paced_grants,
            },
        }


def _then_paced(
    ctx: Context, burst_campaign: int, burst: ClaimsRun, paced_campaign: int, rate: float
) -> _Case:
    """A case of (f): a burst that ran, then claims paced at `rate`, with the grants the endpoint saw."""
    config = ctx.config
    paced, achieved = ctx.runner.paced(paced_campaign, config.claims, rate, threads=config.connections)
    seen = ctx.stack.sim.operator_grants()
    return _Case(burst, _grants(seen, burst_campaign), paced, rate, achieved, _grants(seen, paced_campaign))


def _grants(snapshot: dict[str, Any], campaign_id: int) -> dict[str, int]:
    """The grant requests the operator endpoint saw for one campaign's claims, and their answers."""
    prefix = f"{campaign_id}-"
    keys = [k for k in snapshot["keys"].values() if str(k.get("customer_id") or "").startswith(prefix)]
    answers: Counter[str] = Counter()
    for key in keys:
        answers.update(key["answers"])
    return {
        "keys": len(keys),
        "attempts": sum(int(k["attempts"]) for k in keys),
        "granted": sum(int(k["granted"]) for k in keys),
        "max_granted_per_key": max((int(k["granted"]) for k in keys), default=0),
        "server_errors": sum(n for status, n in answers.items() if status.startswith("5")),
    }


def _describe(label: str, run: ClaimsRun, grants: dict[str, int]) -> str:
    return (
        f"{label}: {run.completed:,} completed, {run.failed} failed, {run.rejected} rejected; grant requests "
        f"{grants['attempts']:,} for {grants['keys']:,} claims ({grants['server_errors']} answered 5xx), "
        f"granted {grants['granted']:,}, at most {grants['max_granted_per_key']} per claim; "
        f"{run.describe_steps()}"
    )
