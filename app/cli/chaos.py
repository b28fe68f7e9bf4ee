"""`promobridge chaos`: fault-injection runs that check promobridge's guarantees on real processes.

Why a command as well as a test: the full run (2,000 claims, every kind of crash) is what to run before
trusting a deployment, or a change to the retry, lease or reconcile paths; the default test suite only
runs a small slice of it. The run needs PostgreSQL's server binaries and redis-server on this machine:
it starts private instances of both, so crashing them disturbs nothing else. `--seeds N` runs N
seeds in a row and prints a table over them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from benchmarks.chaos import ChaosReport
    from benchmarks.chaos_series import SeedResult


@click.group("chaos")
def chaos_group() -> None:
    """Fault-injection runs against the whole stack on private PostgreSQL and Redis servers."""
    from app.processes import stop_like_ctrl_c_on_sigterm

    stop_like_ctrl_c_on_sigterm()  # a killed run stops the processes it started


def _check_writable(_ctx: click.Context, _param: click.Parameter, path: Path | None) -> Path | None:
    """Fail before a long run, not after it, when the JSON file cannot be written."""
    if path is not None:
        try:
            path.write_text("[]\n")
        except OSError as exc:
            raise click.BadParameter(f"cannot write {path}: {exc.strerror}") from exc
    return path


@chaos_group.command("claims")
@click.option("--claims", default=2000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--seed",
    "--first-seed",
    "seed",
    default=1,
    show_default=True,
    type=int,
    help="Seeds the nemesis, the clicks and faults (with --seeds, the first of consecutive seeds).",
)
@click.option(
    "--seeds",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Complete runs in a row, each on fresh servers, seeds S, S+1, ...; then a table over them.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_check_writable,
    help="Write one JSON row per seed here (rewritten after each seed).",
)
@click.option(
    "--worker-kills", default=4, show_default=True, type=click.IntRange(min=0), help="Pool-child SIGKILLs."
)
@click.option(
    "--worker-restarts",
    default=2,
    show_default=True,
    type=click.IntRange(min=0),
    help="SIGKILLs of a whole worker (main process and pool), started again 2 s later.",
)
@click.option("--redis-restarts", default=1, show_default=True, type=click.IntRange(min=0))
@click.option("--postgres-restarts", default=1, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--faults/--no-faults",
    default=True,
    show_default=True,
    help="Simulator faults on validateCustomers and UpdateCustomerPromotionStatus: "
    "10% 5xx, 5% 429, 5% timeouts, 3% applied with the answer lost.",
)
@click.option(
    "--convergence-timeout",
    default=300.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds to wait after the last fault for every claim to be final.",
)
def claims(
    claims: int,
    seed: int,
    worker_kills: int,
    worker_restarts: int,
    redis_restarts: int,
    postgres_restarts: int,
    faults: bool,
    convergence_timeout: float,
    seeds: int,
    json_path: Path | None,
) -> None:
    """Flow C under crashes: 0 lost, 0 stuck, 0 duplicate rewards, every reward reported, and a killed
    worker's claims moving again in time (exit 1 if not, for any seed)."""
    from benchmarks.chaos import ChaosConfig, run_chaos
    from benchmarks.chaos_series import SeedResult, render_table, run_series, write_rows

    config = ChaosConfig(
        claims=claims,
        seed=seed,
        worker_kills=worker_kills,
        worker_restarts=worker_restarts,
        redis_restarts=redis_restarts,
        postgres_restarts=postgres_restarts,
        faults=faults,
        convergence_timeout=convergence_timeout,
    )
    if seeds == 1:
        report = run_chaos(config, say=_progress)
        click.echo(render(report))
        if json_path is not None:
            write_rows(json_path, [SeedResult(seed, report, log_dir=report.log_dir)])
        if report.violations:
            raise SystemExit(1)
        return

    def after_each(results: list[SeedResult]) -> None:
        latest = results[-1]
        if latest.report is not None and not latest.passed:
            click.echo(render(latest.report), err=True)  # the whole story of a failed seed
        if json_path is not None:
            write_rows(json_path, results)

    configs = [dataclasses.replace(config, seed=seed + offset) for offset in range(seeds)]
    results = run_series(configs, run_chaos, _progress, after_each=after_each)
    click.echo(render_table(results))
    if not all(result.passed for result in results):
        raise SystemExit(1)


def _progress(line: str) -> None:
    click.echo(line, err=True)


def _longest(report: ChaosReport) -> str:
    longest = report.longest_kill_delay
    return "n/a" if longest is None else f"{longest:.1f} s"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items())) or "none"


def render(report: ChaosReport) -> str:
    """The report: every invariant with its count, then the figures that explain the run."""
    from benchmarks.kill_watch import IN_HAND_DEFINITION

    c, faults = report.config, "on" if report.config.faults else "off"
    answered = report.submitted - report.invariants.get("never answered 2xx", 0)
    resent_unflagged = report.resent - report.resent_after_ambiguous
    converged = (
        f"{report.converge_seconds:.1f} s" if report.converge_seconds is not None else "did not converge"
    )
    lines = [
        "",
        f"flow C chaos run: {c.claims:,} claims, seed {c.seed}, Optimove faults {faults}",
        f"{'claims submitted (answered 2xx)':<46}{report.submitted:>8,}  ({answered:,})",
        f"{'final states':<46}{_counts(report.states)}",
        "invariants (each must be 0):",
        *(
            f"  {name:<44}{count:>8,}  {'ok' if count == 0 else 'VIOLATED'}"
            for name, count in report.invariants.items()
        ),
        f"{'re-sends (status received more than once)':<46}{report.resent:>8,}  "
        f"({report.resent_after_ambiguous:,} after an ambiguous failure promobridge counted, "
        f"{resent_unflagged:,} not counted by promobridge)",
        f"{'Optimove faults injected by the simulator':<46}{_counts(report.simulator_faults)}",
        f"{'nemesis faults':<46}{c.worker_kills} pool-child kills, {c.worker_restarts} worker restarts, "
        f"{c.redis_restarts} Redis restarts, {c.postgres_restarts} PostgreSQL restarts",
        *(f"  {line}" for line in report.nemesis_log),
        f"{'kill → moving delay, longest':<46}{_longest(report):>8}  "
        f"(bound {report.kill_delay_bound:g} s: CLAIM_STALE_AFTER_SECONDS + 15 s)",
        f"  {IN_HAND_DEFINITION}",
        *(f"  {kill.describe()}" for kill in report.kill_delays),
        f"{'client retries (same Idempotency-Key)':<46}{sum(report.client_retries.values()):>8,}  "
        f"({_counts(report.client_retries)})",
        f"{'processes that died on their own':<46}{len(report.crashes):>8,}  "
        f"({'; '.join(report.crashes) or 'none'}; restarted, as `restart: unless-stopped` would)",
        f"{'reconciler rounds that re-dispatched claims':<46}{report.reconciler_rounds:>8,}",
        f"{'promobridge reconcile findings':<46}{_counts(report.reconcile_findings)}",
        f"{'broker messages still unacknowledged':<46}{report.unacked_messages:>8,}  "
        "(held by killed workers: Redis redelivers them only after its visibility timeout)",
        f"{'time to converge after the last fault':<46}{converged:>8}",
        f"{'whole run':<46}{report.total_seconds:>6.0f} s",
    ]
    violations = report.violations
    lines.append("RESULT: " + ("PASS" if not violations else "FAIL: " + "; ".join(violations)))
    return "\n".join(lines)
