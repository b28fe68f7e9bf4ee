"""Section (f): the HTTP reward activator against the simulator's operator endpoint (~20 ms a grant).

Two bursts with REWARD_ACTIVATOR=http: every grant answered after `operator_latency_ms`, then with
`grant_failure_rate` of the grant requests answered a server error (retryable: nothing granted,
the activate task retries the grant after the backoff). Both beside (b)'s wallet activator.
RETRY_BACKOFF_BASE_SECONDS is lowered for the run (and the report says so): at its default the
first retries alone would take most of the latency budget.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from benchmarks.claims.config import SECTION_TITLES
from benchmarks.claims.context import HTTP_ACTIVATOR, HTTP_FAILING, Context
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.runs import ClaimsRun
from benchmarks.claims.stack import Pipeline

FAULT_SEED = 9


def run_http_activator(ctx: Context) -> SectionResult:
    """Run (f) without and with failing grants."""
    config, stack = ctx.config, ctx.stack
    wallet = ctx.wallet_run()
    latency, failing = config.operator_latency_ms, config.grant_failure_rate
    stack.run_pipeline(Pipeline(activator="http"))
    try:
        stack.sim.set_operator_faults(latency_ms=latency)
        ctx.say(f"  HTTP activator, operator endpoint answering in {latency:g} ms …")
        clean = ctx.runner.burst(HTTP_ACTIVATOR, config.claims)
        clean_grants = _grants(stack.sim.operator_grants(), HTTP_ACTIVATOR)
        stack.sim.set_operator_faults(latency_ms=latency, rate_5xx=failing, seed=FAULT_SEED)
        ctx.say(f"  HTTP activator, {failing:.0%} of grant requests answered 5xx …")
        faulty = ctx.runner.burst(HTTP_FAILING, config.claims)
        faulty_grants = _grants(stack.sim.operator_grants(), HTTP_FAILING)
    finally:
        stack.sim.clear_operator_faults()
    pct = f"{failing:.0%} failing grants"
    rows = [
        Row("vs_wallet", "claims/s, HTTP activator ÷ wallet activator (b)", clean.rate, wallet.rate,
            Target(">=", 0.8)),
        Row("p50_seconds", "claim → status delivered p50 s", clean.p50, digits=2),
        Row("p99_seconds", "claim → status delivered p99 s", clean.p99, target=Target("<=", 2),
            on_ratio=False, digits=2),
        Row("failing_vs_wallet", f"claims/s, {pct} ÷ wallet activator (b)", faulty.rate, wallet.rate),
        Row("failing_p50_seconds", f"claim → status delivered p50 s, {pct}", faulty.p50, digits=2),
        Row("failing_p99_seconds", f"claim → status delivered p99 s, {pct}", faulty.p99,
            target=Target("<=", 10), on_ratio=False, digits=2),
    ]  # fmt: skip
    notes = [
        f"operator endpoint: the simulator's POST /_operator/grants, {latency:g} ms per grant; "
        "REWARD_ACTIVATOR_CONCURRENCY at its default; "
        f"RETRY_BACKOFF_BASE_SECONDS={config.retry_backoff_base_seconds:g} for this section (default 1)",
        _describe("no failing grant", clean, clean_grants),
        _describe(pct, faulty, faulty_grants),
    ]
    figures = {
        "wallet_claims_per_second": wallet.rate,
        "http": {**clean.figures(), "grants": clean_grants},
        "http_failing": {**faulty.figures(), "grants": faulty_grants},
    }
    return SectionResult("f", SECTION_TITLES["f"], rows, notes, figures)


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
