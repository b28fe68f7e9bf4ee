"""Section (d): claims/s under the shared rate limit beside the ceiling that limit allows.

The limit is on in promobridge (the shared Redis budget) and in the simulator, each
validateCustomers call carries at most `max_contexts` contexts (OPTIPROMO_MAX_CONTEXTS and the
promotion's own limit in the simulator), and more claims are submitted at once than the ceiling
lets through in `budget_windows` windows, so the budget, not the submitter, binds.

The ceiling is a steady-state figure, but a run starts with a whole window's budget unused: a
sliding window lets `limit` calls go at once. The verdict therefore reads the steady state: the
claims completed after the first status delivery that follows first POST + one window, over the
time from that delivery to the last. The whole run's rate is printed beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.claims.config import SECTION_TITLES
from benchmarks.claims.context import BUDGET, Context
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.stack import Pipeline


@dataclass(frozen=True)
class SteadyRate:
    """Claims completed per second once the first window's unused budget is spent."""

    rate: float
    from_seconds: float  # after the first POST
    claims: int


def steady_rate(completions: list[float], window_seconds: float) -> SteadyRate | None:
    """From sorted completion times (s after the first POST): claims completed after the first
    completion at or after one window, per second until the last; None when the run fit in a window."""
    after = [t for t in completions if t >= window_seconds]
    if not after:
        return None
    start = after[0]
    counted = [t for t in after if t > start]  # those of the delivery at `start` were bought earlier
    if not counted:
        return None
    return SteadyRate(len(counted) / (counted[-1] - start), start, len(counted))


def run_budget(ctx: Context) -> SectionResult:
    """Run (d) and compare it with the ceiling."""
    config, stack = ctx.config, ctx.stack
    limit, window = config.rate_limit, config.rate_window_seconds
    stack.run_pipeline(Pipeline(limited=True, max_contexts=config.max_contexts))
    stack.sim.set_rate_limit(enabled=True, limit=limit, window_seconds=window)
    promotion = {"promocode_id": f"PROMO-{BUDGET}", "max_contexts": config.max_contexts}
    stack.sim.http.post(f"{stack.sim_url}/_sim/promotions", json=promotion, timeout=30).raise_for_status()
    ctx.say(f"  limit {limit} per {window:g} s on both sides, {config.max_contexts} contexts per call")
    try:
        run = ctx.runner.burst(BUDGET, config.budget_claims)
    finally:
        stack.sim.set_rate_limit(enabled=False, limit=limit, window_seconds=window)
    steady = steady_rate(run.completions, window)
    calls = run.calls["validateCustomers"] + run.calls["UpdateCustomerPromotionStatus"]
    rows = []
    if steady is not None:
        rows.append(
            Row("steady_vs_ceiling", "claims/s after the first window ÷ ceiling", steady.rate, config.ceiling,
                Target(">=", 0.9))
        )  # fmt: skip
    rows += [
        Row("rate_limited_429", "429s answered by the simulator", run.calls["rate_limited_429"],
            target=Target("==", 0), on_ratio=False, digits=0),
        Row("whole_run_vs_ceiling", "claims/s first POST → last status ÷ ceiling", run.rate, config.ceiling),
        Row("post_vs_ceiling", "POST /v1/claims stored/s ÷ ceiling", run.submit_rate, config.ceiling),
    ]  # fmt: skip
    notes = [
        config.ceiling_formula(),
        f"{run.claims:,} claims submitted at once ({config.budget_windows} windows' worth at the ceiling); "
        f"{run.completed:,} completed, {run.failed} failed, {run.rejected} rejected in {run.seconds:.1f} s",
        f"calls: {run.describe_calls()}; claims per call made: {run.completed / max(calls, 1):.1f} "
        f"(the ceiling assumes {1 / config.calls_per_claim:.1f})",
        f"STATUS_LINGER_SECONDS={window:g} (one window; statuses linger only while the budget is scarce)",
    ]
    if run.submit_rate < config.ceiling:
        notes.append(
            "WARNING: the claims were stored more slowly than the ceiling: the submissions, not the budget, "
            "may have bound"
        )
    if steady is None:
        notes.append(
            "WARNING: every claim completed within the first window, on its unused budget: the budget never "
            "bound; run more claims (--claims) for a verdict"
        )
    else:
        notes.append(
            f"steady state: {steady.claims:,} claims completed after the delivery at "
            f"{steady.from_seconds:.1f} s (the first at or after one window), over the "
            f"{run.seconds - steady.from_seconds:.1f} s to the last; the whole-run rate also spends the "
            "first window's unused budget"
        )
    figures = {
        "ceiling": config.ceiling,
        "steady_claims_per_second": None if steady is None else steady.rate,
        "promobridge": run.figures(),
    }
    if steady is None:
        verdict = "the budget never bound, so there is no steady-state rate to compare with the ceiling"
        return SectionResult("d", SECTION_TITLES["d"], rows, notes, figures, verdict, verdict_met=False)
    return SectionResult("d", SECTION_TITLES["d"], rows, notes, figures)
