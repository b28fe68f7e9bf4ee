"""Section (a): `POST /v1/claims` beside the ingress skeleton, then with 50 long polls open.

Three load runs of the same length from the same load generator, connections and Lua script: the
skeleton, the service, the service while `long_polls` polls wait on claims that stay pending. The
worker and relay are stopped meanwhile: the claims wait pending (so the polls stay open) and the
ingress alone is measured. A probe reads `/healthz` on a new connection every 20 ms during every
run. Afterwards the section's claims are made final, so the pipeline never works on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import psutil
import requests
from sqlalchemy import Engine, text

from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.clock import utcnow
from benchmarks.claims.config import SECTION_TITLES, ClaimsBenchConfig
from benchmarks.claims.context import INGRESS, Context
from benchmarks.claims.load import ClaimTarget, LoadResult
from benchmarks.claims.report import Row, SectionResult, Target
from benchmarks.claims.stack import BenchStack
from benchmarks.gateway import Latencies
from benchmarks.web_edge import HEALTH_PROBE_INTERVAL_SECONDS, POLLS_PER_CLIENT, HealthProbe, LongPolls

# Requests/s no endpoint of this stack reaches on these machines (a bare 202 endpoint: 2,500-3,200):
# each run gets this many customers per second, so none runs out of new customers.
INGRESS_MAX_RATE = 4000
# Unmeasured load before each measured run, on customers of its own: the server's connection pools
# fill and its lazily built parts (the broker publisher, compiled statements) are built, so that
# neither side's figure includes its cold start.
WARMUP_SECONDS = 2.0
MADE_FINAL_REASON = "benchmark: ingress claim made final"
FAIL_CHUNK = 5000
_PENDING_SQL = text("SELECT id FROM claims WHERE campaign_id = :campaign_id AND state = 'pending'")
_STORED_SQL = text("SELECT count(*) FROM claims WHERE campaign_id = :campaign_id")


def per_run_customers(config: ClaimsBenchConfig) -> int:
    """Customers one load run may claim."""
    return math.ceil(config.ingress_seconds * INGRESS_MAX_RATE)


def warmup_customers() -> int:
    """Customers one warm-up may claim."""
    return math.ceil(WARMUP_SECONDS * INGRESS_MAX_RATE)


def ingress_audience(config: ClaimsBenchConfig) -> int:
    """The ingress campaign's audience: two service runs, the long polls' claims, two warm-ups."""
    return 2 * per_run_customers(config) + config.long_polls + 2 * warmup_customers()


def run_ingress(ctx: Context) -> SectionResult:
    """Measure the three runs and compare them."""
    config, stack, say = ctx.config, ctx.stack, ctx.say
    per_run, warm = per_run_customers(config), warmup_customers()
    first_warmup = 2 * per_run + config.long_polls
    stack.stop_pipeline()
    say("  worker and relay stopped: the claims stay pending, the ingress alone is measured")
    skeleton_url = stack.start_skeleton()
    try:
        target = ClaimTarget(f"{skeleton_url}/v1/claims", "unused", INGRESS, 0, per_run)
        warmup = ClaimTarget(target.url, "unused", INGRESS, first_warmup, warm)
        skeleton, skeleton_health, skeleton_cpu = _drive(
            ctx, "ingress skeleton", (warmup, target), skeleton_url, stack.baseline_engine,
            _server(stack, "skeleton"),
        )  # fmt: skip
    finally:
        stack.stop_skeleton()
    claims_url = f"{stack.web_url}/v1/claims"
    target = ClaimTarget(claims_url, stack.api_key, INGRESS, 0, per_run)
    warmup = ClaimTarget(claims_url, stack.api_key, INGRESS, first_warmup, warm)
    web = _server(stack, "web")
    free, free_health, free_cpu = _drive(
        ctx, "promobridge, no long poll", (warmup, target), stack.web_url, stack.engine, web
    )
    polls = LongPolls(stack.web_url, _poll_claims(ctx, 2 * per_run))
    polls.open()
    try:
        target = ClaimTarget(claims_url, stack.api_key, INGRESS, per_run, per_run)
        warmup = ClaimTarget(claims_url, stack.api_key, INGRESS, first_warmup + warm, warm)
        label = f"promobridge, {config.long_polls} long polls open"
        polled, polled_health, polled_cpu = _drive(
            ctx, label, (warmup, target), stack.web_url, stack.engine, web
        )
        reopened = polls.reopened
    finally:
        last_poll_ms = polls.close(lambda _ids: _make_final(stack.engine, INGRESS))
    _make_final(stack.engine, INGRESS)  # every claim of the section, polled or not
    runs = _Runs(
        skeleton, free, polled, skeleton_health, free_health, polled_health, reopened, last_poll_ms,
        _Cpu(skeleton_cpu, free_cpu, polled_cpu),
    )  # fmt: skip
    return _result(config, f"{ctx.load.describe()}", stack.web_threads, runs)


@dataclass(frozen=True)
class _Cpu:
    """CPU milliseconds the server's processes spent per request answered, in each run."""

    skeleton: float
    free: float
    polled: float


@dataclass(frozen=True)
class _Runs:
    skeleton: LoadResult
    free: LoadResult
    polled: LoadResult
    skeleton_health: Latencies
    free_health: Latencies
    polled_health: Latencies
    reopened: int
    last_poll_ms: float
    cpu: _Cpu


def _server(stack: BenchStack, name: str) -> Callable[[], list[psutil.Process]]:
    """The named server's processes (gunicorn's master and workers), found when the run starts."""
    return lambda: stack.tree(name)


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _drive(
    ctx: Context,
    label: str,
    targets: tuple[ClaimTarget, ClaimTarget],
    base: str,
    engine: Engine,
    server: Callable[[], list[psutil.Process]],
) -> tuple[LoadResult, Latencies, float]:
    seconds = ctx.config.ingress_seconds
    warmup, target = targets
    ctx.say(f"  {label}: warming up for {WARMUP_SECONDS:g} s (not measured) …")
    ctx.load.run_for(warmup, WARMUP_SECONDS, lambda _elapsed: None)
    ctx.say(f"  {label}: {ctx.load.describe()} for {seconds:g} s, /healthz probed …")

    def stored() -> int:
        with engine.connect() as conn:
            return int(conn.execute(_STORED_SQL, {"campaign_id": target.campaign_id}).scalar_one())

    before = stored()

    def tick(elapsed: float) -> None:
        ctx.say(f"    {elapsed:4.0f} s: {stored() - before:,} claims stored")

    processes = server()
    cpu_before = _cpu_seconds(processes)
    with HealthProbe(base) as probe:
        result = ctx.load.run_for(target, seconds, tick)
    answered = result.created + result.replayed + result.failed
    cpu_ms = 1000 * (_cpu_seconds(processes) - cpu_before) / answered if answered else 0.0
    ctx.say(
        f"    {result.rate:,.0f} requests/s created claims; /healthz p99 {probe.latencies.p99:.1f} ms; "
        f"server CPU {cpu_ms:.2f} ms per request"
    )
    return result, probe.latencies, cpu_ms


def _poll_claims(ctx: Context, first: int) -> list[tuple[str, str]]:
    """A pending claim per long poll, each created with the key that will poll it."""
    count = ctx.config.long_polls
    keys = [ctx.stack.client_key(f"poller-{n}") for n in range(math.ceil(count / POLLS_PER_CLIENT))]
    session = requests.Session()
    session.trust_env = False
    owned = []
    for n in range(count):
        key, customer = keys[n // POLLS_PER_CLIENT], f"{INGRESS}-{first + n:07d}"
        response = session.post(
            f"{ctx.stack.web_url}/v1/claims",
            json={"campaign_id": INGRESS, "customer_id": customer},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        if response.status_code != 202:
            raise RuntimeError(f"a long poll's claim answered {response.status_code}: {response.text[:200]}")
        owned.append((key, str(response.json()["id"])))
    ctx.say(f"  {count} long polls opening on {len(keys)} client keys ({POLLS_PER_CLIENT} per key) …")
    return owned


def _make_final(engine: Engine, campaign_id: int) -> None:
    """Fail the campaign's pending claims (the service's own state change), a chunk per transaction."""
    uow_factory = SqlAlchemyUnitOfWorkFactory(engine)
    with engine.connect() as conn:
        pending = [
            str(claim_id) for claim_id in conn.execute(_PENDING_SQL, {"campaign_id": campaign_id}).scalars()
        ]
    for start in range(0, len(pending), FAIL_CHUNK):
        with uow_factory() as uow:
            chunk = pending[start : start + FAIL_CHUNK]
            uow.claims.mark_failed(dict.fromkeys(chunk, MADE_FINAL_REASON), now=utcnow())
            uow.commit()


def _result(config: ClaimsBenchConfig, generator: str, threads: int, runs: _Runs) -> SectionResult:
    skeleton, free, polled = runs.skeleton, runs.free, runs.polled
    polls = f"{config.long_polls} long polls open"
    rows = [
        Row("requests_per_second", "requests/s, no long poll open", free.rate, skeleton.rate,
            Target(">=", 0.5)),
        Row("requests_per_second_long_polls", f"requests/s, {polls}", polled.rate, skeleton.rate,
            Target(">=", 0.4)),
        Row("healthz_p99_ms_long_polls", f"/healthz p99 ms, {polls}", runs.polled_health.p99,
            runs.skeleton_health.p99, Target("<", 50), on_ratio=False),
        Row("healthz_p99_ms", "/healthz p99 ms, no long poll open", runs.free_health.p99,
            runs.skeleton_health.p99),
        Row("post_p99_ms", "POST p99 ms (load generator), no long poll", free.p99_ms, skeleton.p99_ms),
        Row("post_p99_ms_long_polls", f"POST p99 ms (load generator), {polls}", polled.p99_ms,
            skeleton.p99_ms),
        Row("server_cpu_ms_per_request", "server CPU ms per request, no long poll", runs.cpu.free,
            runs.cpu.skeleton, digits=2),
        Row("server_cpu_ms_per_request_long_polls", f"server CPU ms per request, {polls}", runs.cpu.polled,
            runs.cpu.skeleton, digits=2),
    ]  # fmt: skip
    notes = [
        f"baseline: the ingress skeleton (bare Flask under the same gunicorn worker class, 2 x {threads} "
        "threads, no auth, no access log; INSERT claim + INSERT outbox + COMMIT into the same schema)",
        f"load: {generator}, {config.ingress_seconds:g} s per run, a new customer per request; /healthz "
        f"probed every {HEALTH_PROBE_INTERVAL_SECONDS * 1000:.0f} ms on a new connection during every run "
        "(answered by each worker's event loop on both sides, not behind the thread pool's queue: "
        "the POST p99 rows are the pool's latency)",
        "the worker and relay are stopped during (a): the claims stay pending (then are made final)",
        f"each measured run follows {WARMUP_SECONDS:g} s of unmeasured load on other customers (pools "
        "filled, lazily built parts built: neither side's figure includes its cold start)",
        "server CPU: user + system seconds of the server's processes (gunicorn master and workers) "
        "during the run, per request answered; less noisy than requests/s on a shared machine",
        f"long polls re-opened during the run (their 30 s ran out): {runs.reopened}; the last answered "
        f"{runs.last_poll_ms:,.0f} ms after its claim became final",
    ]
    for label, result in (("skeleton", skeleton), ("no long poll", free), ("long polls", polled)):
        if result.failed or result.exhausted:
            notes.append(
                f"WARNING {label}: {result.failed} answers other than 202/200; customers ran out: "
                f"{result.exhausted} (the rate is then a lower bound)"
            )
    figures = {
        "skeleton_requests_per_second": skeleton.rate,
        "load_generator": generator,
        "long_polls_reopened": runs.reopened,
        "last_long_poll_answered_ms": runs.last_poll_ms,
        "healthz_p50_ms": {
            "skeleton": runs.skeleton_health.p50,
            "no_long_poll": runs.free_health.p50,
            "long_polls": runs.polled_health.p50,
        },
        "non_2xx": {"skeleton": skeleton.failed, "no_long_poll": free.failed, "long_polls": polled.failed},
    }
    return SectionResult("a", SECTION_TITLES["a"], rows, notes, figures)
