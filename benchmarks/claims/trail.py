"""Section (g): what the customers' trail costs the claims flow, end to end (issue 11).

Bursts of the same size as (b), each on a campaign of its own, with every promobridge process
(web, worker, relay) restarted with TRAIL_ENABLED=false or true before it, in the order off, on,
on, off, off, on, …: on a shared machine whose load drifts, both sides meet the same drift. The
figure is the median claims/s with the trail beside the median without it; the target is issue
11's "at most 10 % slower".
"""

from __future__ import annotations

from benchmarks.alternation import medians
from benchmarks.claims.config import SECTION_TITLES
from benchmarks.claims.context import TRAIL_ROUNDS_FROM, Context
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.stack import Pipeline

MOST_SLOWDOWN = 0.10  # issue 11: the trail makes the flow at most 10 % slower


def run_trail_cost(ctx: Context) -> SectionResult:
    """Run the alternating bursts; compare the medians."""
    config, stack = ctx.config, ctx.stack

    def switch(on: bool) -> None:
        stack.restart_with({"TRAIL_ENABLED": "true" if on else "false"})
        stack.run_pipeline(Pipeline())

    def label(on: bool) -> str:
        return f"trail {'on' if on else 'off'} (restarting)"

    ran = ctx.alternating_bursts(config.trail_rounds, TRAIL_ROUNDS_FROM, label, switch)
    # (g) runs last (SECTIONS' order): no section after it needs the trail's setting back.
    runs = {side: [run for on, run in ran if on == side] for side in (False, True)}
    on_rate, off_rate = medians((on, run.rate) for on, run in ran)
    on_p99, off_p99 = medians((on, run.p99) for on, run in ran)
    rows = [
        Row("trail_on_vs_off", "claims/s end to end, trail on ÷ off (medians)", on_rate, off_rate,
            Target(">=", 1 - MOST_SLOWDOWN)),
        Row("p99_seconds", "claim → status delivered p99 s, on ÷ off (medians)", on_p99, off_p99, digits=2),
    ]  # fmt: skip
    order = ", ".join(f"{'on' if on else 'off'} {run.rate:,.1f}" for on, run in ran)
    notes = [
        f"{config.claims:,} claims per burst, {config.trail_rounds} bursts each way, every promobridge "
        f"process restarted before each; claims/s in the order run: {order}",
        f"target: the trail costs at most {MOST_SLOWDOWN:.0%} of the end-to-end rate (ratio >= "
        f"{1 - MOST_SLOWDOWN:g})",
    ]
    figures = {
        "on_claims_per_second": [r.rate for r in runs[True]],
        "off_claims_per_second": [r.rate for r in runs[False]],
        "on_p99_seconds": [r.p99 for r in runs[True]],
        "off_p99_seconds": [r.p99 for r in runs[False]],
    }
    return SectionResult("g", SECTION_TITLES["g"], rows, notes, figures)
