"""``promobridge simulator``: run the Optimove simulator in the foreground."""

from __future__ import annotations

import click

from simulator.config import DEFAULT_API_KEY, DEFAULT_HOST, DEFAULT_PORT, SimulatorConfig
from simulator.contract import DEFAULT_MAX_VALIDATE_CONTEXTS
from simulator.operator_grants import DEFAULT_OPERATOR_LATENCY_MS

DEFAULT_RATE_LIMIT_SPEC = "50/10"


def parse_rate_limit(spec: str) -> tuple[int, float]:
    """``"50/10"`` -> (50 requests, 10.0 seconds); raises ``ValueError`` otherwise."""
    limit_text, separator, window_text = spec.partition("/")
    if not separator:
        raise ValueError(f"rate limit {spec!r} must look like LIMIT/WINDOW_SECONDS, e.g. 50/10")
    limit, window = int(limit_text), float(window_text)
    if limit < 1 or window <= 0:
        raise ValueError(f"rate limit {spec!r} needs a positive limit and window")
    return limit, window


@click.command("simulator")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Interface to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int, help="Port to listen on.")
@click.option(
    "--api-key",
    "api_keys",
    multiple=True,
    default=(DEFAULT_API_KEY,),
    show_default=True,
    help="Accepted X-API-KEY value (repeat for several).",
)
@click.option(
    "--rate-limit",
    default=DEFAULT_RATE_LIMIT_SPEC,
    show_default=True,
    help="Requests per sliding window per key, as LIMIT/WINDOW_SECONDS.",
)
@click.option("--no-rate-limit", is_flag=True, help="Do not enforce the rate limit.")
@click.option("--timezone", default="UTC", show_default=True, help="Tenant time zone for webhook timestamps.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for audiences and faults.")
@click.option(
    "--operator-latency-ms",
    default=DEFAULT_OPERATOR_LATENCY_MS,
    show_default=True,
    type=float,
    help="Time the simulated operator platform (/_operator/grants) takes per grant.",
)
@click.option(
    "--max-validate-contexts",
    default=DEFAULT_MAX_VALIDATE_CONTEXTS,
    show_default=True,
    type=int,
    help="Contexts per validateCustomers call, unless a promotion sets its own.",
)
def simulator_command(
    host: str,
    port: int,
    api_keys: tuple[str, ...],
    rate_limit: str,
    no_rate_limit: bool,
    timezone: str,
    seed: int,
    max_validate_contexts: int,
    operator_latency_ms: float,
) -> None:
    """Run the simulator: Optimove under /current, OptiPromo under /optipromo, control under /_sim.

    It also serves a stand-in for the operator's reward platform under /_operator.
    """
    try:
        limit, window = parse_rate_limit(rate_limit)
        config = SimulatorConfig(
            api_keys=tuple(api_keys),
            rate_limit_enabled=not no_rate_limit,
            rate_limit=limit,
            rate_window_seconds=window,
            timezone=timezone,
            seed=seed,
            max_validate_contexts=max_validate_contexts,
            operator_latency_ms=operator_latency_ms,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    from simulator.server import serve_forever  # Flask and werkzeug: only when it runs, not for --help

    serve_forever(config, host, port)
