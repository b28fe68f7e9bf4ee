"""`promobridge bench`: benchmarks that print promobridge's numbers beside a baseline from the same run."""

from __future__ import annotations

import click


@click.group("bench")
def bench_group() -> None:
    """Benchmarks (need PostgreSQL and Redis on this machine; they start every other process)."""


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
@click.option("--page-size", default=10_000, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--rate-limit", default="50/10", show_default=True, help="LIMIT/WINDOW_SECONDS for phase 2.")
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
    page_size: int,
    rate_limit: str,
    admin_url: str,
    redis_url: str,
) -> None:
    """Flow A: ingest vs a bare COPY, memory vs audience size, time to approve vs the rate floor."""
    from benchmarks.ingest import IngestBenchConfig, render, run_benchmark

    limit, _, window = rate_limit.partition("/")
    if not limit.isdigit() or not window.replace(".", "", 1).isdigit():
        raise click.BadParameter("expected LIMIT/WINDOW_SECONDS, e.g. 50/10", param_hint="--rate-limit")
    config = IngestBenchConfig(
        customers=customers,
        small_customers=small_customers,
        admin_url=admin_url,
        redis_url=redis_url,
        page_size=page_size,
        rate_limit=int(limit),
        rate_window_seconds=float(window),
        limited_customers=limited_customers,
    )
    result = run_benchmark(config, say=lambda line: click.echo(line, err=True))
    click.echo(render(result, config))


@bench_group.command("claims")
@click.option("--claims", default=3000, show_default=True, type=click.IntRange(min=1))
@click.option("--chains", type=click.IntRange(min=1), help="Baseline no-op chains [default: --claims].")
@click.option(
    "--concurrency", default=16, show_default=True, type=click.IntRange(min=1), help="HTTP submitters."
)
@click.option("--rate-limit", default="50/10", show_default=True, help="LIMIT/WINDOW_SECONDS for phase 2.")
@click.option(
    "--max-contexts",
    default=100,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="validateCustomers contexts per call (OPTIPROMO_MAX_CONTEXTS, and the simulator's limit).",
)
@click.option(
    "--admin-url",
    default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres",
    show_default=True,
    help="A PostgreSQL role that may create the throwaway benchmark database.",
)
@click.option(
    "--redis-url",
    default="redis://127.0.0.1:6379/13",
    show_default=True,
    help="A Redis database the benchmark may flush.",
)
def claims_command(
    claims: int,
    chains: int | None,
    concurrency: int,
    rate_limit: str,
    max_contexts: int,
    admin_url: str,
    redis_url: str,
) -> None:
    """Flow C: claims/s vs a bare Celery chain of 3 no-ops, then claims/s vs the rate-limit ceiling."""
    from benchmarks.claims import ClaimsBenchConfig, render, run_benchmark

    limit, _, window = rate_limit.partition("/")
    if not limit.isdigit() or int(limit) < 1 or not window.replace(".", "", 1).isdigit() or not float(window):
        raise click.BadParameter("expected LIMIT/WINDOW_SECONDS, e.g. 50/10", param_hint="--rate-limit")
    config = ClaimsBenchConfig(
        claims=claims,
        chains=chains,
        concurrency=concurrency,
        rate_limit=int(limit),
        rate_window_seconds=float(window),
        max_contexts=max_contexts,
        admin_url=admin_url,
        redis_url=redis_url,
    )
    result = run_benchmark(config, say=lambda line: click.echo(line, err=True))
    click.echo(render(result, config))
