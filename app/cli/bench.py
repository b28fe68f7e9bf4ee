"""`promobridge bench`: benchmarks that print promobridge's numbers beside a baseline from the same run."""

from __future__ import annotations

from pathlib import Path

import click

from app.procfile import DEFAULT_WORKER_CONCURRENCY

CLAIMS_SECTIONS = ("a", "b", "c", "d", "e", "f", "g")  # benchmarks.claims.SECTIONS, without importing it


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (need PostgreSQL and Redis on this machine; they start every other process)."""
    from app.processes import stop_like_ctrl_c_on_sigterm

    stop_like_ctrl_c_on_sigterm()  # a killed run stops the processes it started


@bench_group.command("ingest")
@click.option("--customers", default=1_000_000, show_default=True, type=click.IntRange(min=1))
@click.option(
    "--small-customers",
    default=100_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="A smaller audience run first, to show memory does not grow with the audience.",
)
@click.option("--limited-customers", type=click.IntRange(min=1), help="Audience of the rate-limited run.")
@click.option(
    "--trail-rounds",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Campaigns of --trail-customers with the trail off, and as many on, alternating (0: none).",
)
@click.option(
    "--trail-customers",
    default=300_000,
    show_default=True,
    type=click.IntRange(min=1),
    help="Audience of each trail run (large enough that a campaign's fixed start is a small share).",
)
@click.option("--page-size", default=10_000, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--rate-limit", default="50/10", show_default=True, help="LIMIT/WINDOW_SECONDS for phase 2.")
@click.option(
    "--workers",
    default="1,2",
    show_default=True,
    help="Worker process counts to ingest with, comma-separated (the rate-limited run uses the largest).",
)
@click.option(
    "--worker-pool", default="threads", show_default=True, type=click.Choice(["threads", "prefork", "solo"])
)
@click.option(
    "--worker-threads",
    default=DEFAULT_WORKER_CONCURRENCY,
    show_default=True,
    type=click.IntRange(1, 16),
    help="-c of each worker (as deployed: the Procfile's WORKER_CONCURRENCY default).",
)
@click.option(
    "--admin-url",
    default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A PostgreSQL role that may create the throwaway benchmark database.",
)
@click.option(
    "--redis-url",
    default="redis://127.0.0.1:6379/12",
    show_default=True,
    help="A Redis database the benchmark may flush.",
)
def ingest(
    customers: int,
    small_customers: int,
    limited_customers: int | None,
    trail_rounds: int,
    trail_customers: int,
    page_size: int,
    rate_limit: str,
    workers: str,
    worker_pool: str,
    worker_threads: int,
    admin_url: str,
    redis_url: str,
) -> None:
    """Flow A: ingest vs a bare COPY, memory vs audience size, time to approve vs the rate floor."""
    from benchmarks.ingest import IngestBenchConfig, render, run_benchmark

    limit, _, window = rate_limit.partition("/")
    if not limit.isdigit() or not window.replace(".", "", 1).isdigit():
        raise click.BadParameter("expected LIMIT/WINDOW_SECONDS, e.g. 50/10", param_hint="--rate-limit")
    counts = [part.strip() for part in workers.split(",") if part.strip()]
    if not counts or not all(part.isdigit() and 1 <= int(part) <= 8 for part in counts):
        raise click.BadParameter(
            "expected worker process counts from 1 to 8, e.g. 1,2", param_hint="--workers"
        )
    config = IngestBenchConfig(
        customers=customers,
        small_customers=small_customers,
        admin_url=admin_url,
        redis_url=redis_url,
        page_size=page_size,
        rate_limit=int(limit),
        rate_window_seconds=float(window),
        limited_customers=limited_customers,
        trail_rounds=trail_rounds,
        trail_customers=trail_customers,
        worker_processes=tuple(int(part) for part in counts),
        worker_pool=worker_pool,
        worker_threads=worker_threads,
    )
    result = run_benchmark(config, say=lambda line: click.echo(line, err=True))
    click.echo(render(result, config))


@bench_group.command("claims")
@click.option(
    "--claims",
    default=3000,
    show_default=True,
    type=click.IntRange(min=10),
    help="Claims per pipeline run (b, c, e, f; d takes at least this many), and baseline chains.",
)
@click.option(
    "--sections",
    default=",".join(CLAIMS_SECTIONS),
    show_default=True,
    help="Which sections to run, comma-separated (a: ingress, b: end to end, c: latency, d: rate "
    "limit, e: one vs two workers, f: HTTP activator, g: the trail's cost).",
)
@click.option(
    "--trail-rounds",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Bursts with the trail off, and as many on, alternating, in (g).",
)
@click.option(
    "--worker-concurrency",
    default=DEFAULT_WORKER_CONCURRENCY,
    show_default=True,
    type=click.IntRange(min=1),
)
@click.option(
    "--ingress-seconds",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Length of each run of (a).",
)
@click.option(
    "--connections",
    default=32,
    show_default=True,
    type=click.IntRange(min=1),
    help="Load generator connections (wrk -c, or Python threads).",
)
@click.option(
    "--load-generator",
    type=click.Choice(["wrk", "python"]),
    default="wrk",
    show_default=True,
    help="wrk (falls back to python, with a warning, when it is not installed) or python threads.",
)
@click.option("--rate-limit", default="50/10", show_default=True, help="LIMIT/WINDOW_SECONDS for (d).")
@click.option(
    "--max-contexts",
    default=20,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="validateCustomers contexts per call in (d) (OPTIPROMO_MAX_CONTEXTS, and the simulator's limit).",
)
@click.option(
    "--admin-url",
    default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A PostgreSQL role that may create the throwaway benchmark databases.",
)
@click.option(
    "--redis-url",
    default="redis://127.0.0.1:6379/13",
    show_default=True,
    help="A Redis database the benchmark may flush (on a server whose CPU it samples in e).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Also write every figure as JSON to this file.",
)
def claims_command(
    claims: int,
    sections: str,
    trail_rounds: int,
    worker_concurrency: int,
    ingress_seconds: float,
    connections: int,
    load_generator: str,
    rate_limit: str,
    max_contexts: int,
    admin_url: str,
    redis_url: str,
    json_path: Path | None,
) -> None:
    """Flow C: every figure of issue 9 from one run (ingress, end to end, latency, limit, scaling, HTTP),
    and the trail's cost (issue 11)."""
    from benchmarks.claims import ClaimsBenchConfig, run_benchmark

    limit, _, window = rate_limit.partition("/")
    if not limit.isdigit() or int(limit) < 1 or not window.replace(".", "", 1).isdigit() or not float(window):
        raise click.BadParameter("expected LIMIT/WINDOW_SECONDS, e.g. 50/10", param_hint="--rate-limit")
    chosen = tuple(part.strip() for part in sections.split(",") if part.strip())
    if not chosen or set(chosen) - set(CLAIMS_SECTIONS):
        raise click.BadParameter(f"choose among {','.join(CLAIMS_SECTIONS)}", param_hint="--sections")
    config = ClaimsBenchConfig(
        claims=claims,
        sections=chosen,
        trail_rounds=trail_rounds,
        worker_concurrency=worker_concurrency,
        ingress_seconds=ingress_seconds,
        connections=connections,
        prefer_wrk=load_generator == "wrk",
        rate_limit=int(limit),
        rate_window_seconds=float(window),
        max_contexts=max_contexts,
        admin_url=admin_url,
        redis_url=redis_url,
    )
    report = run_benchmark(config, say=lambda line: click.echo(line, err=True))
    click.echo(report.render())
    if json_path is not None:
        report.write_json(json_path)
        click.echo(f"figures written to {json_path}", err=True)
