"""Sections (b), (c) and (e): end-to-end throughput against its baselines, latency at half of it, scaling.

(b) runs three things on the same broker and worker, with the same number of claims: the bare
chain of three no-op tasks, the naive per-claim pipeline, and promobridge's claims, submitted in
one burst. (c) submits claims at half of (b)'s rate, paced, and reads the latency from claim to
status delivered. (e) runs a burst with one worker process and with two, sampling every process
group's CPU.
"""

from __future__ import annotations

from benchmarks.claims.config import SECTION_TITLES
from benchmarks.claims.context import BURST, NAIVE, ONE_WORKER, PACED, TWO_WORKERS, Context
from benchmarks.claims.cpu import KERNEL, OTHERS, OURS_SHARE, SATURATED_SHARE, CpuReport
from benchmarks.claims.naive import NaiveTarget, insert_claims, run_naive_pipeline
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.runs import ClaimsRun
from benchmarks.claims.stack import ALL_ELIGIBLE, Pipeline
from benchmarks.noop_tasks import run_chains

SCALING_TARGET = 1.7


def run_end_to_end(ctx: Context) -> SectionResult:
    """(b): promobridge's claims/s beside the no-op chain and the naive pipeline."""
    config, stack, say = ctx.config, ctx.stack, ctx.say
    count = config.claims
    stack.run_pipeline(Pipeline())
    say(f"  bare chains of three no-op tasks: {count:,} …")
    chains = count / run_chains(
        stack.producer, stack.broker, count, progress=lambda done: say(f"    {done:,} chains done")
    )
    say(f"    {chains:,.1f} chains/s")
    say(f"  naive pipeline (three tasks per claim, each one HTTP call + one UPDATE/COMMIT): {count:,} …")
    stack.sim.create_campaign(count, campaign_id=NAIVE, **ALL_ELIGIBLE)
    target = NaiveTarget(
        database_url=stack.baseline_database_url,
        simulator_url=stack.sim_url,
        api_key=stack.api_key_for_simulator,
        campaign_id=NAIVE,
        promo_code=f"PROMO-{NAIVE}",
    )
    claim_ids = insert_claims(stack.baseline_engine, NAIVE, count)
    naive = count / run_naive_pipeline(
        stack.producer,
        stack.broker,
        target,
        claim_ids,
        timeout=config.final_timeout_seconds,
        progress=lambda done: say(f"    {done:,} naive claims done"),
    )
    say(f"    {naive:,.1f} claims/s")
    say("  promobridge (wallet activator) …")
    run = ctx.wallet = ctx.runner.burst(BURST, count)
    rows = [
        Row("vs_noop_chain", "claims/s end to end ÷ no-op chains/s", run.rate, chains, Target(">=", 2)),
        Row("vs_naive", "claims/s end to end ÷ naive pipeline claims/s", run.rate, naive, Target(">=", 4)),
        Row("p50_seconds", "claim → status delivered p50 s (burst)", run.p50, digits=2),
        Row("p99_seconds", "claim → status delivered p99 s (burst)", run.p99, digits=2),
        Row("post_per_second", "POST /v1/claims stored/s during the burst", run.submit_rate),
    ]
    notes = [
        f"{count:,} of each; promobridge: {run.completed:,} completed, {run.failed} failed, {run.rejected} "
        f"rejected; claims/s = completed ÷ (last status delivered - first POST), {run.seconds:.1f} s",
        "naive pipeline: validateCustomers (1 context), a grant to the simulated operator endpoint "
        "(latency 0: the wallet activator makes no call), UpdateCustomerPromotionStatus (1 status), "
        "each followed by an UPDATE + COMMIT",
        run.describe_steps(),
        f"calls: {run.describe_calls()}",
    ]
    figures = {
        "noop_chains_per_second": chains,
        "naive_claims_per_second": naive,
        "promobridge": run.figures(),
    }
    return SectionResult("b", SECTION_TITLES["b"], rows, notes, figures)


def run_paced(ctx: Context) -> SectionResult:
    """(c): p50/p99 claim → status delivered with claims arriving at half of (b)'s rate."""
    wallet = ctx.wallet_run()
    rate = wallet.rate / 2
    ctx.stack.run_pipeline(Pipeline())
    run, achieved = ctx.runner.paced(PACED, ctx.config.claims, rate, threads=ctx.config.connections)
    rows = [
        Row("p50_seconds", "claim → status delivered p50 s", run.p50, digits=2),
        Row("p99_seconds", "claim → status delivered p99 s", run.p99, target=Target("<=", 1), on_ratio=False,
            digits=2),
        Row("submitted_per_second", "claims submitted/s (paced) ÷ (b)'s claims/s", achieved, wallet.rate,
            digits=1),
    ]  # fmt: skip
    notes = [
        f"paced at {rate:,.1f}/s = half of (b)'s {wallet.rate:,.1f} claims/s; {run.claims:,} claims, "
        f"{run.completed:,} completed, {run.failed} failed, {run.rejected} rejected",
        run.describe_steps(),
        f"calls: {run.describe_calls()}",
    ]
    figures = {"target_rate": rate, "achieved_rate": achieved, "promobridge": run.figures()}
    return SectionResult("c", SECTION_TITLES["c"], rows, notes, figures)


def run_scaling(ctx: Context) -> SectionResult:
    """(e): one worker process, then two (same -c), with every process group's CPU sampled."""
    runs: list[ClaimsRun] = []
    for workers, campaign_id in ((1, ONE_WORKER), (2, TWO_WORKERS)):
        ctx.say(f"  {workers} worker process(es), -c {ctx.config.worker_concurrency} each …")
        ctx.stack.run_pipeline(Pipeline(workers=workers))
        runs.append(ctx.runner.burst(campaign_id, ctx.config.claims, sample_cpu=True))
    one, two = runs
    ratio = two.rate / one.rate if one.rate else 0.0
    rows = [
        Row("one_worker", "claims/s, 1 worker process", one.rate),
        Row("two_workers", "claims/s, 2 worker processes ÷ 1", two.rate, one.rate),
    ]
    assert one.cpu is not None and two.cpu is not None
    verdict, met = scaling_verdict(ratio, one.cpu, two.cpu)
    notes = [
        f"-c {ctx.config.worker_concurrency} per worker process; {one.completed:,} and {two.completed:,} "
        f"completed; target: 2 workers >= {SCALING_TARGET}x 1, or the two cores saturated (machine >= "
        f"{SATURATED_SHARE:.0%} busy, other processes leaving the benchmark >= {OURS_SHARE:.0%}; the "
        "kernel's work no process is charged with counts as the benchmark's, and is shown)",
        *_cpu_table(one.cpu, two.cpu),
    ]
    figures = {
        "ratio": ratio,
        "one_worker": {**one.figures(), "cpu_percent": one.cpu.mean, "cpu_peak_percent": one.cpu.peak},
        "two_workers": {**two.figures(), "cpu_percent": two.cpu.mean, "cpu_peak_percent": two.cpu.peak},
    }
    return SectionResult("e", SECTION_TITLES["e"], rows, notes, figures, verdict, met)


def scaling_verdict(ratio: float, one: CpuReport, two: CpuReport) -> tuple[str, bool]:
    """(e)'s verdict line, and whether it is met: the ratio, or our processes saturating the cores."""
    busiest = ", ".join(f"{name} {pct:.0f} %" for name, pct in two.busiest())
    others, kernel = two.mean.get(OTHERS, 0.0), two.mean.get(KERNEL, 0.0)
    cores = (
        f"machine {two.machine:.0f} % of {100 * two.cores} %, other processes {others:.0f} %, "
        f"kernel not charged to a process {kernel:.0f} %"
    )
    if ratio >= SCALING_TARGET:
        return f"two workers {ratio:.2f}x one (>= {SCALING_TARGET}); with two: {cores}; {busiest}", True
    if two.saturated:
        return (
            f"two workers {ratio:.2f}x one, but the benchmark saturated the cores ({cores}): {busiest}",
            True,
        )
    return (
        f"two workers {ratio:.2f}x one, and the benchmark did not saturate the cores ({cores}; with one: "
        f"machine {one.machine:.0f} %, other processes {one.mean.get(OTHERS, 0.0):.0f} %): busiest with two: "
        f"{busiest}",
        False,
    )


def _cpu_table(one: CpuReport, two: CpuReport) -> list[str]:
    names = sorted(set(one.mean) | set(two.mean), key=lambda name: -two.mean.get(name, 0.0))
    lines = ["CPU, % of one core (mean / busiest 0.5 s), sampled every 0.5 s during each run:"]
    lines.append(f"  {'process group':<34}{'1 worker':>16}{'2 workers':>16}")
    for name in names:
        cells = [f"{r.mean.get(name, 0.0):.0f} / {_peak(r, name)}" for r in (one, two)]
        lines.append(f"  {name:<34}{cells[0]:>16}{cells[1]:>16}")
    return lines


def _peak(report: CpuReport, name: str) -> str:
    return f"{report.peak[name]:.0f}" if name in report.peak else "-"
