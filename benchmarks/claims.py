"""Benchmark of flow C (claims over HTTP → validate → activate → status) on real processes.

A claim is Celery hops plus calls and commits, so claims/s (first POST → last completed_at) is shown
beside what the same broker and worker do with the hops alone (three no-op tasks chained,
benchmarks/noop_tasks.py), with where a claim's time goes; then, rate-limited, beside the ceiling.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import redis
import requests
from sqlalchemy import Engine, create_engine, text

from app.adapters.db.campaigns import SqlCampaigns
from app.adapters.db.claims import SqlClaims
from app.clock import as_utc
from app.security import fresh_secrets_env
from benchmarks.noop_tasks import chain_producer, run_chains
from benchmarks.stack import ProcessGroup, free_port, http_ready, throwaway_postgres_database, wait_until
from simulator.control_client import SimControl

Say = Callable[[str], None]
CAMPAIGN_IDS = (9101, 9102)  # phase 1, phase 2; both claim mode through CAMPAIGN_MODES
WORKER_ARGS = ("--", "--include", "benchmarks.noop_tasks")  # forwarded to `celery worker`
ALL_ELIGIBLE = {"no_consent_rate": 0.0, "fraud_rate": 0.0, "clearance_in_seconds": 3600}
CEILING_NOTE = """\
ceiling = limit/window ÷ (1/max_contexts + 1/status_batch) = {c.rate_limit}/{c.rate_window_seconds:g} ÷ \
(1/{c.max_contexts} + 1/{c.status_batch_size}) = {ceiling:,.1f} claims/s
  A claim needs one validateCustomers context (≤ max_contexts a call) and one status (≤ status_batch a
  call), both paid from one per-key budget. The ceiling binds only when claims arrive faster than it and
  the pipeline could keep up; below it batches shrink, and claims/s is set by the submissions (POST 202/s)
  or the pipeline (compare phase 1)."""
# (start, end, percentile) of the claims' own timestamps: total latency, then each step's share
_SPANS = [("created", "completed", 0.5), ("created", "completed", 0.99), ("created", "validated", 0.5)]
_SPANS += [("validated", "activated", 0.5), ("activated", "completed", 0.5)]
_PERCENTILE = "percentile_cont({2}) WITHIN GROUP (ORDER BY extract(epoch FROM {1}_at - {0}_at)::float8)"
_LATENCY_SQL = text(
    f"SELECT count(*), max(completed_at), {', '.join(_PERCENTILE.format(*span) for span in _SPANS)} "
    "FROM claims WHERE campaign_id = :campaign_id AND state = 'completed'"
)


@dataclass(frozen=True)
class ClaimsBenchConfig:
    """Sizes and servers of one benchmark run."""

    claims: int = 3000
    chains: int | None = None  # baseline chains; defaults to `claims`
    concurrency: int = 16  # HTTP submitters
    rate_limit: int = 50
    rate_window_seconds: float = 10.0
    max_contexts: int = 100
    status_batch_size: int = 10_000
    worker_concurrency: int = 2
    admin_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/13"
    final_timeout_seconds: float = 900.0

    @property
    def ceiling(self) -> float:
        """Claims/s the limit allows: a claim is 1/max_contexts of a validate call + 1/batch of a status."""
        calls_per_claim = 1 / self.max_contexts + 1 / self.status_batch_size
        return self.rate_limit / self.rate_window_seconds / calls_per_claim


@dataclass
class ClaimsRun:
    """What one batch of claims cost."""

    completed: int = 0
    rate: float = 0.0  # completed ÷ (last completed_at - first POST)
    submit_rate: float = 0.0  # POSTs answered per second
    latency: tuple[float, ...] = (0.0,) * 5  # s: p50, p99 created → completed; p50 of each step
    validate_calls: int = 0
    contexts_validated: int = 0
    status_calls: int = 0
    rate_limited: int = 0


@dataclass
class ClaimsBenchResult:
    """Everything the benchmark measured."""

    chains: int = 0
    chain_rate: float = 0.0
    unlimited: ClaimsRun | None = None
    limited: ClaimsRun | None = None


def run_benchmark(config: ClaimsBenchConfig, say: Say = print) -> ClaimsBenchResult:
    """Run both phases and return the measurements (progress goes to `say`)."""
    result = ClaimsBenchResult(chains=config.chains or config.claims)
    broker = redis.Redis.from_url(config.redis_url)
    broker.flushdb()
    producer = chain_producer(config.redis_url)
    with (
        TemporaryDirectory(prefix="promobridge-bench-") as tmp,
        throwaway_postgres_database("promobridge_bench", config.admin_url) as database_url,
    ):
        sim_port, web_port = free_port(), free_port()
        sim_url, web_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
        env = {
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": config.redis_url,
            "OPTIMOVE_API_URL": f"{sim_url}/current",
            "OPTIPROMO_API_URL": f"{sim_url}/optipromo",
            "CAMPAIGN_MODES": ",".join(f"{c}:claim" for c in CAMPAIGN_IDS),
            "PROMOBRIDGE_PUBLIC_URL": web_url,
            "PROMOBRIDGE_DATA_DIR": str(Path(tmp) / "data"),
            "OPTIPROMO_MAX_CONTEXTS": str(config.max_contexts),
            "OPTIMOVE_STATUS_BATCH_SIZE": str(config.status_batch_size),
            "OPTIMOVE_RATE_LIMIT": str(config.rate_limit),
            "OPTIMOVE_RATE_WINDOW_SECONDS": str(config.rate_window_seconds),
            "LOG_LEVEL": "WARNING",
            **fresh_secrets_env(),
        }
        group, engine = ProcessGroup(env, Path(tmp)), create_engine(database_url)
        try:
            group.run("db", "upgrade")
            contexts = ["--max-validate-contexts", str(config.max_contexts)]
            sim_args = ["--port", str(sim_port), "--no-rate-limit", "--api-key", env["OPTIMOVE_API_KEY"]]
            group.start("simulator", ["simulator", *sim_args, *contexts])
            group.start("web", ["web", "--port", str(web_port), "--workers", "2"])
            _start_pipeline(group, config, limiter=False)
            wait_until(http_ready(f"{sim_url}/_sim/state"), timeout=30, what="the simulator")
            wait_until(http_ready(f"{web_url}/healthz"), timeout=30, what="the web app")
            group.run("register")
            api_key = group.run("clients", "create", "bench", "--rate-limit-per-minute", "10000000").strip()
            bench = _Claims(engine, SimControl(sim_url), f"{web_url}/v1/claims", api_key, config, say)
            for campaign_id in CAMPAIGN_IDS:  # both now, so phase 2 spends its budget on claims only
                bench.ready_campaign(campaign_id)
            say("phase 1: rate limit off (simulator and promobridge)")
            run_chains(producer, broker, 4 * config.worker_concurrency)  # warm the pool children up
            result.chain_rate = result.chains / run_chains(producer, broker, result.chains)
            say(f"  baseline: {result.chains:,} chains of 3 no-ops, {result.chain_rate:,.1f}/s")
            result.unlimited = bench.run(CAMPAIGN_IDS[0])
            limit, window = config.rate_limit, config.rate_window_seconds
            say(f"phase 2: rate limit on ({limit} per {window:g} s)")
            group.kill("worker", signal.SIGTERM)
            group.kill("relay", signal.SIGTERM)
            bench.sim.set_rate_limit(enabled=True, limit=limit, window_seconds=window)
            _start_pipeline(group, config, limiter=True)
            run_chains(producer, broker, 2 * config.worker_concurrency)  # the new worker consumes
            result.limited = bench.run(CAMPAIGN_IDS[1])
        except BaseException:
            say(group.logs())
            raise
        finally:
            group.stop_all()
            engine.dispose()
            producer.close()
    return result


def _start_pipeline(group: ProcessGroup, config: ClaimsBenchConfig, *, limiter: bool) -> None:
    group.env["OPTIMOVE_RATE_LIMIT_ENABLED"] = "true" if limiter else "false"
    # Under the limit, statuses wait up to two windows for a fuller batch (each call is scarce).
    group.env["STATUS_LINGER_SECONDS"] = str(2 * config.rate_window_seconds) if limiter else "0"
    group.start("worker", ["worker", "-c", str(config.worker_concurrency), *WORKER_ARGS])
    group.start("relay", ["relay"])


@dataclass
class _Claims:
    """Makes claim campaigns ready, submits their claims over HTTP and measures them."""

    engine: Engine
    sim: SimControl
    url: str
    api_key: str
    config: ClaimsBenchConfig
    say: Say

    def ready_campaign(self, campaign_id: int) -> None:
        """A claim-mode campaign in which every customer is eligible, ingested and open for claims."""
        size = self.config.claims
        self.sim.create_campaign(size, campaign_id=campaign_id, **ALL_ELIGIBLE)
        deliveries = self.sim.fire(campaign_id)
        if deliveries[0].get("status") != 200:
            raise RuntimeError(f"the webhook was not accepted: {deliveries}")

        def ready() -> bool:
            with self.engine.connect() as conn:
                campaign = SqlCampaigns(conn).get(campaign_id)
            return campaign is not None and campaign.state.value == "ready"

        wait_until(ready, timeout=60 + size / 1000, what=f"campaign {campaign_id} to be ready")
        self.say(f"  campaign {campaign_id}: {size:,} customers ingested, ready for claims")

    def run(self, campaign_id: int) -> ClaimsRun:
        """Submit one claim per customer as fast as the submitters go; wait until all are final."""
        count, run, before = self.config.claims, ClaimsRun(), self.sim.state()
        first_post, started = datetime.now(UTC), time.perf_counter()
        codes = self.submit(campaign_id, count)
        run.submit_rate = count / (time.perf_counter() - started)
        if codes != Counter({202: count}):
            raise RuntimeError(f"POST /v1/claims answered {dict(codes)}")
        self.say(f"  {count:,} claims submitted ({run.submit_rate:,.0f}/s)")
        self.wait_final(campaign_id)
        after = self.sim.state()
        with self.engine.connect() as conn:  # the claims' own timestamps: web app, worker and relay
            row = conn.execute(_LATENCY_SQL, {"campaign_id": campaign_id}).one()
        run.completed, last, run.latency = int(row[0]), as_utc(row[1]), tuple(float(v or 0) for v in row[2:])
        if run.completed == 0 or last is None:
            raise RuntimeError(f"no claim of campaign {campaign_id} completed")
        run.rate = run.completed / (last - first_post).total_seconds()
        calls = Counter(after["requests"]) - Counter(before["requests"])
        run.validate_calls = calls["validateCustomers"]
        run.status_calls = calls["UpdateCustomerPromotionStatus"]
        run.contexts_validated = int(after["promotions"][f"PROMO-{campaign_id}"]["contexts_validated"])
        run.rate_limited = int(after["rate_limited"]) - int(before["rate_limited"])
        self.say(f"  campaign {campaign_id}: {run.completed:,} claims completed, {run.rate:,.1f}/s")
        return run

    def submit(self, campaign_id: int, count: int) -> Counter[int]:
        """POST claims for customers 0..count-1 from `concurrency` threads; the status codes answered."""
        local = threading.local()

        def post(i: int) -> int:
            session: requests.Session | None = getattr(local, "session", None)
            if session is None:  # one keep-alive session per thread: a Session is not thread-safe
                session = local.session = requests.Session()
                session.trust_env = False  # no proxy lookup per request: it costs the client CPU
                session.headers["Authorization"] = f"Bearer {self.api_key}"
            customer = f"{campaign_id}-{i:07d}"
            body, key = {"campaign_id": campaign_id, "customer_id": customer}, {"Idempotency-Key": customer}
            return session.post(self.url, json=body, headers=key, timeout=60).status_code

        with ThreadPoolExecutor(self.config.concurrency) as pool:
            return Counter(pool.map(post, range(count)))

    def wait_final(self, campaign_id: int) -> None:
        """Poll the claims table until every claim is completed, rejected or failed."""
        deadline, next_report = time.monotonic() + self.config.final_timeout_seconds, 0.0
        while time.monotonic() < deadline:
            with self.engine.connect() as conn:
                states = SqlClaims(conn).counts_by_state(campaign_id)
            if sum(states.get(s, 0) for s in ("completed", "rejected", "failed")) >= self.config.claims:
                return
            if time.monotonic() >= next_report:
                next_report = time.monotonic() + 2.0
                counts = "  ".join(f"{state} {n:,}" for state, n in sorted(states.items()))
                self.say(f"  campaign {campaign_id}: {counts}")
            time.sleep(0.1)
        raise TimeoutError(f"claims of campaign {campaign_id} not final in time")


def render(result: ClaimsBenchResult, config: ClaimsBenchConfig) -> str:
    """The side-by-side table, then how the rate-limit ceiling is computed."""
    assert result.unlimited is not None and result.limited is not None
    free, lim = result.unlimited, result.limited
    limit = f"{config.rate_limit}/{config.rate_window_seconds:g}s"
    return "\n".join(
        [
            "",
            f"flow C claims benchmark (1 worker -c {config.worker_concurrency}, 2 gunicorn workers, relay, "
            "PostgreSQL + Redis on this machine)",
            _row("measure", "promobridge", "baseline", "ratio"),
            _compare(f"claims/s, limit off, {free.completed:,} claims", free.rate, result.chain_rate),
            f"  (baseline: {result.chains:,} chains of 3 no-op Celery tasks/s, same broker and worker)",
            *_details(free, config),
            _compare(f"claims/s, limit {limit}, {lim.completed:,} claims", lim.rate, config.ceiling),
            "  (baseline: the ceiling the limit allows, see below)",
            *_details(lim, config),
            "",
            CEILING_NOTE.format(c=config, ceiling=config.ceiling),
        ]
    )


def _row(label: str, ours: str, baseline: str = "", ratio: str = "") -> str:
    return f"{label:<60}{ours:>20}{baseline:>12}{ratio:>8}".rstrip()


def _compare(label: str, ours: float, baseline: float) -> str:
    return _row(label, f"{ours:,.1f}", f"{baseline:,.1f}", f"{ours / baseline:.2f}" if baseline else "-")


def _details(run: ClaimsRun, config: ClaimsBenchConfig) -> list[str]:
    per_call = run.contexts_validated / max(run.validate_calls, 1)
    calls = f"{run.validate_calls} ({per_call:.0f}) / {run.status_calls} / {run.rate_limited}"
    claims_per_call = run.completed / max(run.validate_calls + run.status_calls, 1)
    assumed = 1 / (1 / config.max_contexts + 1 / config.status_batch_size)
    return [
        _row("  latency created → completed, p50 / p99, s", f"{run.latency[0]:.2f} / {run.latency[1]:.2f}"),
        _row(
            "  p50 s: → validated / → activated / → completed",
            " / ".join(f"{s:.2f}" for s in run.latency[2:]),
        ),
        _row(f"  POST /v1/claims 202/s ({config.concurrency} submitters)", f"{run.submit_rate:,.0f}"),
        _row("  calls: validateCustomers (contexts each) / status / 429s", calls),
        _row(f"  claims per call made (the ceiling assumes {assumed:.0f})", f"{claims_per_call:.1f}"),
    ]
