"""Benchmark of flow A: webhook → paged ingest → approvals, against the simulator, on real servers.

It starts the simulator, the web app, a Celery worker and the relay as real processes on a
throwaway PostgreSQL database and a Redis database, then prints, side by side:
  * customers ingested per second, beside a bare COPY of the same rows into an identically
    indexed table in the same run (the floor of what PostgreSQL itself costs);
  * the worker's peak memory for a small and a large audience (it must not grow with the size);
  * with the rate limit on, the time from webhook to the last approval sent, beside the floor
    the limit allows (calls needed ÷ limit per second);
  * the customers' trail: customers/s with TRAIL_ENABLED on beside off, runs alternating.
"""

from __future__ import annotations

import io
import math
import signal
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import psutil
import redis
from sqlalchemy import Engine, create_engine, text

from app.adapters.db.campaigns import SqlCampaigns
from app.domain.campaigns import Campaign
from app.procfile import DEFAULT_WORKER_CONCURRENCY
from app.security import fresh_secrets_env
from benchmarks.alternation import medians, off_on_order
from benchmarks.stack import ProcessGroup, free_port, http_ready, throwaway_postgres_database, wait_until
from simulator.control_client import SimControl

Say = Callable[[str], None]
POLL_SECONDS = 1.0
CAMPAIGN_TIMEOUT_SECONDS = 1800


@dataclass(frozen=True)
class IngestBenchConfig:
    """Sizes and servers of one benchmark run."""

    customers: int = 1_000_000
    small_customers: int = 100_000
    admin_url: str = "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
    redis_url: str = "redis://127.0.0.1:6379/12"
    # Ingest is measured with each of these numbers of worker processes; the rate-limited run uses the
    # largest. Each is `promobridge worker -P <pool> -c <threads>`: a pool of threads lets one process
    # fetch a page while it writes another. -c as deployed (the Procfile's WORKER_CONCURRENCY default).
    worker_processes: tuple[int, ...] = (1, 2)
    worker_pool: str = "threads"
    worker_threads: int = DEFAULT_WORKER_CONCURRENCY
    # Relays claim disjoint outbox batches (SKIP LOCKED).
    relays: int = 2
    page_size: int = 10_000
    rate_limit: int = 50
    rate_window_seconds: float = 10.0
    limited_customers: int | None = None  # defaults to `customers`
    # The trail's cost: this many campaigns of `trail_customers` with TRAIL_ENABLED off and as many on,
    # one worker process, alternating off, on, on, off, … (0: not measured). A campaign of 100,000
    # ingests in about 1.5 s, of which the webhook and the first page's round trips are a share that
    # moves more from run to run than the trail costs (measured: 0.85 and 0.90 at 100,000 where
    # 300,000 gave 0.97 in the same hour).
    trail_rounds: int = 3
    trail_customers: int = 300_000


@dataclass
class CampaignRun:
    """What one campaign cost."""

    customers: int
    workers: int = 1
    eligible: int = 0
    ingest_seconds: float = 0.0
    webhook_to_last_approval_seconds: float = 0.0
    worker_peak_rss_mb: float = 0.0
    worker_peak_child_rss_mb: float = 0.0
    page_calls: int = 0
    status_calls: int = 0
    rate_limited: int = 0
    customers_approved: int = 0  # customers whose status Optimove (the simulator) saw set
    approved_more_than_once: int = 0
    cpu: dict[str, float] = field(default_factory=dict)  # core-seconds by process group

    @property
    def ingest_rate(self) -> float:
        return self.customers / self.ingest_seconds if self.ingest_seconds else 0.0

    @property
    def approved_exactly_once(self) -> bool:
        """Every eligible customer approved, none twice."""
        return self.customers_approved == self.eligible and self.approved_more_than_once == 0


@dataclass
class BenchResult:
    """Everything the benchmark measured."""

    unlimited: list[CampaignRun] = field(default_factory=list)
    copy_rows_per_second: float = 0.0
    limited: CampaignRun | None = None
    limited_floor_seconds: float = 0.0
    limited_calls_needed: tuple[int, int] = (0, 0)  # pages, status updates
    trail_runs: list[tuple[bool, CampaignRun]] = field(default_factory=list)  # (trail on?, run), in order

    def trail_medians(self) -> tuple[float, float]:
        """Median customers/s ingested with the trail on, and off."""
        return medians((trail, run.ingest_rate) for trail, run in self.trail_runs)

    def large_run(self, workers: int) -> CampaignRun | None:
        """The large audience's run with this many worker processes."""
        runs = [r for r in self.unlimited if r.workers == workers]
        return max(runs, key=lambda r: r.customers) if runs else None


class CpuMeter:
    """Core-seconds each process group used between `start` and `stop`, and the whole machine's.

    Groups are process trees by pid; `postgres` is the backends serving this benchmark's database
    (read from pg_stat_activity at both ends). What the machine used beyond these groups is the
    other processes on it (the bench's own, other work on a shared machine).
    """

    def __init__(self, engine: Engine, groups: dict[str, list[int]]) -> None:
        self.engine = engine
        self.groups = groups
        self.used: dict[str, float] = {}
        self._start: dict[int, float] = {}
        self._machine = 0.0
        self._wall = 0.0

    @staticmethod
    def _tree(pids: list[int]) -> list[psutil.Process]:
        found = []
        for pid in pids:
            try:
                process = psutil.Process(pid)
                found += [process, *process.children(recursive=True)]
            except psutil.Error:
                continue
        return found

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)

    def _backends(self) -> list[int]:
        with self.engine.connect() as conn:
            query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            return [int(pid) for pid in conn.execute(text(query)).scalars()]

    def _members(self) -> dict[str, list[psutil.Process]]:
        members = {name: self._tree(pids) for name, pids in self.groups.items()}
        members["postgres"] = self._tree(self._backends())
        return members

    def start(self) -> None:
        """Take the first reading."""
        self._start = {p.pid: self._cpu(p) for ps in self._members().values() for p in ps}
        times = psutil.cpu_times()
        self._machine = float(times.user + times.system + getattr(times, "nice", 0.0))
        self._wall = time.monotonic()

    def stop(self) -> None:
        """Take the second reading: core-seconds per group, the machine's, and the others'."""
        for name, processes in self._members().items():
            self.used[name] = sum(self._cpu(p) - self._start.get(p.pid, 0.0) for p in processes)
        times = psutil.cpu_times()
        machine = float(times.user + times.system + getattr(times, "nice", 0.0)) - self._machine
        self.used["other processes on the machine"] = max(machine - sum(self.used.values()), 0.0)
        available = (time.monotonic() - self._wall) * (psutil.cpu_count() or 1)
        self.used[f"machine (of {available:.0f} available)"] = machine

    def render(self) -> str:
        """One line: core-seconds per group."""
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.used.items())


class PeakMemory:
    """Samples the resident memory of a process tree in a background thread."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        self.process = psutil.Process(pid)
        self.interval = interval
        self.peak_total = 0
        self.peak_child = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                tree = [self.process, *self.process.children(recursive=True)]
                sizes = [p.memory_info().rss for p in tree]
            except psutil.Error:
                sizes = []
            if sizes:
                self.peak_total = max(self.peak_total, sum(sizes))
                self.peak_child = max(self.peak_child, max(sizes[1:], default=0))
            self._stop.wait(self.interval)


def run_benchmark(config: IngestBenchConfig, say: Say = print) -> BenchResult:
    """Run both phases and return the measurements (progress goes to `say`)."""
    result = BenchResult()
    redis.Redis.from_url(config.redis_url).flushdb()
    with (
        TemporaryDirectory(prefix="promobridge-bench-") as tmp,
        throwaway_postgres_database("promobridge_bench", config.admin_url) as database_url,
    ):
        sim_port, web_port = free_port(), free_port()
        env = {
            **fresh_secrets_env(),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": config.redis_url,
            "OPTIMOVE_API_URL": f"http://127.0.0.1:{sim_port}/current",
            "DEFAULT_CAMPAIGN_MODE": "auto",  # it measures time to the last bulk approval
            "PROMOBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "PROMOBRIDGE_DATA_DIR": str(Path(tmp) / "data"),
            "OPTIMOVE_PAGE_SIZE": str(config.page_size),
            "OPTIMOVE_RATE_LIMIT": str(config.rate_limit),
            "OPTIMOVE_RATE_WINDOW_SECONDS": str(config.rate_window_seconds),
            "OPTIMOVE_RATE_LIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
        }
        group = ProcessGroup(env, Path(tmp))
        engine = create_engine(database_url)
        try:
            group.run("db", "upgrade")
            sim_key = ["--api-key", env["OPTIMOVE_API_KEY"]]
            group.start("simulator", ["simulator", "--port", str(sim_port), "--no-rate-limit", *sim_key])
            group.start("web", ["web", "--port", str(web_port), "--workers", "2"])
            wait_until(
                http_ready(f"http://127.0.0.1:{sim_port}/_sim/state"), timeout=30, what="the simulator"
            )
            wait_until(http_ready(f"http://127.0.0.1:{web_port}/healthz"), timeout=30, what="the web app")
            sim = SimControl(f"http://127.0.0.1:{sim_port}")
            group.run("register")

            counts = sorted(set(config.worker_processes))
            for workers in counts:
                say(f"phase 1: rate limit off, {_workers_text(workers, config)}")
                pids = _start_pipeline(group, config, limiter=False, workers=workers)
                # The memory figures come from the first setting (its audiences, small and large).
                sizes = (
                    (config.small_customers, config.customers)
                    if workers == counts[0]
                    else (config.customers,)
                )
                for size in sizes:
                    result.unlimited.append(
                        _run_campaign(engine, sim, pids, size, workers, say, others(group))
                    )
                _stop_pipeline(group, workers, config)
            result.copy_rows_per_second = _bare_copy_rate(
                engine, campaign_id=_last_campaign_id(engine), say=say
            )
            for n, trail in enumerate(off_on_order(config.trail_rounds)):
                say(
                    f"the trail's cost: run {n + 1} of {2 * config.trail_rounds}, TRAIL_ENABLED="
                    f"{'true' if trail else 'false'}, {_workers_text(1, config)}"
                )
                group.env["TRAIL_ENABLED"] = "true" if trail else "false"
                pids = _start_pipeline(group, config, limiter=False, workers=1)
                run = _run_campaign(engine, sim, pids, config.trail_customers, 1, say, others(group))
                result.trail_runs.append((trail, run))
                _stop_pipeline(group, 1, config)
            group.env.pop("TRAIL_ENABLED", None)

            best = counts[-1]
            say(
                f"phase 2: rate limit on ({config.rate_limit} per {config.rate_window_seconds:g} s), "
                f"{_workers_text(best, config)}"
            )
            sim.set_rate_limit(
                enabled=True, limit=config.rate_limit, window_seconds=config.rate_window_seconds
            )
            pids = _start_pipeline(group, config, limiter=True, workers=best)
            limited = _run_campaign(
                engine, sim, pids, config.limited_customers or config.customers, best, say, others(group)
            )
            result.limited = limited
            result.limited_calls_needed = _calls_needed(limited.customers, limited.eligible, config.page_size)
            calls = sum(result.limited_calls_needed)
            result.limited_floor_seconds = calls / (config.rate_limit / config.rate_window_seconds)
        except BaseException:
            say(group.logs())
            raise
        finally:
            group.stop_all()
            engine.dispose()
    return result


def others(group: ProcessGroup) -> dict[str, list[int]]:
    """The benchmark's processes other than the workers, by group, for the CPU figures."""
    named: dict[str, list[int]] = {"relays": [], "simulator": [], "web": []}
    for name, process in group.processes.items():
        if process.poll() is not None:
            continue
        key = "relays" if name.startswith("relay") else name
        if key in named:
            named[key].append(process.pid)
    return named


def _workers_text(workers: int, config: IngestBenchConfig) -> str:
    plural = "es" if workers > 1 else ""
    return f"{workers} worker process{plural} (-P {config.worker_pool} -c {config.worker_threads})"


def _start_pipeline(
    group: ProcessGroup, config: IngestBenchConfig, *, limiter: bool, workers: int
) -> list[int]:
    group.env["OPTIMOVE_RATE_LIMIT_ENABLED"] = "true" if limiter else "false"
    pids = []
    for index in range(workers):
        name = f"worker-{index + 1}"
        args = ["worker", "-c", str(config.worker_threads), "-P", config.worker_pool, "-n", f"{name}@%h"]
        pids.append(group.start(name, args).pid)
    relays = [group.start(f"relay-{index + 1}", ["relay"]).pid for index in range(config.relays)]
    _settle([*pids, *relays])
    return pids


SETTLE_TIMEOUT_SECONDS = 60.0
SETTLE_IDLE_CORE_SECONDS = 0.05  # per half second, all of them together


def _settle(pids: list[int]) -> None:
    """Wait until freshly started processes are idle (imports done, pools up), so that their start
    is neither timed as ingest nor counted in its CPU."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_SECONDS
    before = sum(CpuMeter._cpu(p) for p in CpuMeter._tree(pids))
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = sum(CpuMeter._cpu(p) for p in CpuMeter._tree(pids))
        if now - before < SETTLE_IDLE_CORE_SECONDS:
            return
        before = now


def _stop_pipeline(group: ProcessGroup, workers: int, config: IngestBenchConfig) -> None:
    for index in range(workers):
        group.kill(f"worker-{index + 1}", signal.SIGTERM)
    for index in range(config.relays):
        group.kill(f"relay-{index + 1}", signal.SIGTERM)


def _run_campaign(
    engine: Engine,
    sim: SimControl,
    worker_pids: list[int],
    size: int,
    workers: int,
    say: Say,
    groups: dict[str, list[int]] | None = None,
) -> CampaignRun:
    before = sim.state()
    campaign_id = int(sim.create_campaign(size, clearance_in_seconds=3600)["campaign_id"])
    run = CampaignRun(customers=size, workers=workers)
    say(f"  campaign {campaign_id}: {size:,} customers, webhook fired")
    cpu = CpuMeter(engine, {"workers": worker_pids, **(groups or {})})
    cpu.start()
    with PeakMemory(worker_pids[0]) as memory:
        fired_at = datetime.now(UTC)
        deliveries = sim.fire(campaign_id)
        if deliveries[0].get("status") != 200:
            raise RuntimeError(f"the webhook was not accepted: {deliveries}")
        campaign = _wait_for_approvals(engine, campaign_id, size, say)
    after = sim.state()
    cpu.stop()
    run.cpu = cpu.used
    assert campaign.ingest_finished_at is not None and campaign.approvals_finished_at is not None
    run.eligible = campaign.eligible_count
    run.ingest_seconds = (campaign.ingest_finished_at - fired_at).total_seconds()
    run.webhook_to_last_approval_seconds = (campaign.approvals_finished_at - fired_at).total_seconds()
    run.worker_peak_rss_mb = memory.peak_total / 2**20
    run.worker_peak_child_rss_mb = memory.peak_child / 2**20
    run.page_calls = _delta(before, after, "GetProcessedCampaignCustomers")
    run.status_calls = _delta(before, after, "UpdateCustomerPromotionStatus")
    run.rate_limited = int(after["rate_limited"]) - int(before["rate_limited"])
    seen = sim.campaign(campaign_id)
    run.customers_approved = int(seen["customers_set"])
    run.approved_more_than_once = int(seen["customers_set_more_than_once"])
    say(
        f"  campaign {campaign_id}: {size:,} customers ingested in {run.ingest_seconds:.1f} s "
        f"({run.ingest_rate:,.0f}/s), last approval after {run.webhook_to_last_approval_seconds:.1f} s, "
        f"{run.page_calls} page calls, {run.status_calls} status calls, {run.rate_limited} 429s, "
        f"approved {run.customers_approved:,} of {run.eligible:,} eligible "
        f"({run.approved_more_than_once} more than once), worker peak RSS {run.worker_peak_rss_mb:.0f} MB"
    )
    say(f"  campaign {campaign_id}: core-seconds used: {cpu.render()}")
    return run


def _wait_for_approvals(engine: Engine, campaign_id: int, size: int, say: Say) -> Campaign:
    deadline = time.monotonic() + CAMPAIGN_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            campaign = SqlCampaigns(conn).get(campaign_id)
        if campaign is not None:
            say(
                f"  campaign {campaign_id}: {campaign.state.value:<9} pages {campaign.pages_done:>4}  "
                f"rows {campaign.rows_ingested:>9,}/{size:,}  approved {campaign.approved_count:>9,}"
            )
            if campaign.state.value == "approved":
                return campaign
            if campaign.state.value == "failed":
                raise RuntimeError(f"campaign {campaign_id} failed: {campaign.error}")
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"campaign {campaign_id} did not finish in {CAMPAIGN_TIMEOUT_SECONDS} s")


def _last_campaign_id(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT max(id) FROM campaigns")).scalar_one())


def _bare_copy_rate(engine: Engine, *, campaign_id: int, say: Say) -> float:
    """COPY the campaign's rows into a fresh table with the same unique key: PostgreSQL's own cost.

    The median of BASELINE_COPIES copies, each into a fresh table: one COPY of a million rows took
    4.5 to 6.4 s from run to run on the same machine, which alone moved the ratio by 40 %.
    """
    columns = (
        "campaign_id, customer_id, page_no, action_id, promo_code, attributes, segment, eligible, "
        "scrub_reason"
    )
    raw = engine.raw_connection()
    timings: list[float] = []
    try:
        cursor = raw.cursor()
        buffer = io.StringIO()
        cursor.copy_expert(
            f"COPY (SELECT {columns} FROM campaign_audience WHERE campaign_id = {campaign_id}) TO STDOUT",
            buffer,
        )
        rows = buffer.getvalue().count("\n")
        for _ in range(BASELINE_COPIES):
            cursor.execute("CREATE TABLE bench_copy (LIKE campaign_audience INCLUDING ALL)")
            raw.commit()
            buffer.seek(0)
            started = time.perf_counter()
            cursor.copy_expert(f"COPY bench_copy ({columns}) FROM STDIN", buffer)
            raw.commit()
            timings.append(time.perf_counter() - started)
            cursor.execute("DROP TABLE bench_copy")
            raw.commit()
    finally:
        raw.close()
    seconds = statistics.median(timings)
    each = ", ".join(f"{t:.1f}" for t in timings)
    say(f"  baseline: COPY of the same {rows:,} rows into PostgreSQL in {seconds:.1f} s (median of {each})")
    return rows / seconds


def _calls_needed(customers: int, eligible: int, page_size: int) -> tuple[int, int]:
    pages = customers // page_size + 1  # the last page is short (or empty) and ends the paging
    return pages, math.ceil(eligible / page_size)


def _delta(before: dict[str, object], after: dict[str, object], endpoint: str) -> int:
    old = before["requests"].get(endpoint, 0)  # type: ignore[attr-defined]
    new = after["requests"].get(endpoint, 0)  # type: ignore[attr-defined]
    return int(new) - int(old)


BASELINE_COPIES = 3
TARGET_ONE_WORKER = 0.5  # of the bare COPY, with one worker process
TARGET_BEST = 0.8  # of the bare COPY, with the best worker count
TARGET_MEMORY = 1.10  # peak at the large audience over the small one
TARGET_LIMITED = 1.1  # webhook → last approval over the floor
TARGET_TRAIL = 0.9  # issue 11: the trail makes ingest at most 10 % slower


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def render(result: BenchResult, config: IngestBenchConfig) -> str:
    """The side-by-side table: promobridge, the baseline of the same run, their ratio, the target."""
    copy = result.copy_rows_per_second
    small, large = result.unlimited[0], result.large_run(result.unlimited[0].workers) or result.unlimited[-1]
    lines = [
        "",
        f"flow A ingest benchmark (a worker process: promobridge worker -P {config.worker_pool} "
        f"-c {config.worker_threads}; {config.relays} relays; PostgreSQL + Redis on this machine)",
        f"{'measure':<60}{'promobridge':>14}{'baseline':>14}{'ratio':>8}  target",
    ]
    ratios = []
    for workers in sorted(set(config.worker_processes)):
        run = result.large_run(workers)
        if run is None:
            continue
        ratio = run.ingest_rate / copy if copy else 0.0
        ratios.append(ratio)
        target = f">= {TARGET_ONE_WORKER}" if workers == 1 else f">= {TARGET_BEST} (best count)"
        label = (
            f"customers/s ingested, {workers} worker process{'es' if workers > 1 else ''}, {run.customers:,}"
        )
        lines.append(
            f"{label:<60}{run.ingest_rate:>14,.0f}{copy:>14,.0f}{ratio:>8.2f}  {target}"
            + (f"  {_verdict(ratio >= TARGET_ONE_WORKER)}" if workers == 1 else "")
        )
    if ratios:
        lines.append(
            f"{'  best worker count vs bare COPY':<60}{'':>14}{'':>14}{max(ratios):>8.2f}  >= {TARGET_BEST}  "
            f"{_verdict(max(ratios) >= TARGET_BEST)}"
        )
    lines.append(f"{'  (baseline: bare COPY of the same rows into an identically indexed table)':<60}")
    memory_ratio = large.worker_peak_rss_mb / small.worker_peak_rss_mb if small.worker_peak_rss_mb else 0.0
    lines += [
        f"{f'worker peak RSS MB, {large.customers:,} vs {small.customers:,} ({small.workers} worker)':<60}"
        f"{large.worker_peak_rss_mb:>14.0f}{small.worker_peak_rss_mb:>14.0f}{memory_ratio:>8.2f}"
        f"  <= {TARGET_MEMORY}  {_verdict(memory_ratio <= TARGET_MEMORY)}",
    ]
    if result.limited is not None:
        limited = result.limited
        floor = result.limited_floor_seconds
        ratio = limited.webhook_to_last_approval_seconds / floor if floor else 0.0
        pages, statuses = result.limited_calls_needed
        ok = ratio <= TARGET_LIMITED and limited.rate_limited == 0 and limited.approved_exactly_once
        limit = f"{config.rate_limit}/{config.rate_window_seconds:g}s"
        label = f"webhook → last approval s, {limited.customers:,}, limit {limit}"
        once = f"{limited.customers_approved:,} / {limited.eligible:,} / {limited.approved_more_than_once}"
        lines += [
            f"{label:<60}{limited.webhook_to_last_approval_seconds:>14.1f}{floor:>14.1f}{ratio:>8.2f}"
            f"  <= {TARGET_LIMITED}, no 429, each once  {_verdict(ok)}",
            f"{'  (baseline: calls needed ÷ limit per second)':<60}",
            f"{'  calls made: pages / status updates / 429s':<60}"
            f"{f'{limited.page_calls} / {limited.status_calls} / {limited.rate_limited}':>14}"
            f"{f'{pages} / {statuses} / 0':>14}  (needed)",
            f"{'  customers approved (once) / eligible / approved twice':<60}{once:>28}",
        ]
    if result.trail_runs:
        on, off = result.trail_medians()
        ratio = on / off if off else 0.0
        label = f"customers/s ingested, trail on vs off, {config.trail_customers:,} (medians)"
        order = ", ".join(
            f"{'on' if trail else 'off'} {run.ingest_rate:,.0f}" for trail, run in result.trail_runs
        )
        lines += [
            f"{label:<60}{on:>14,.0f}{off:>14,.0f}{ratio:>8.2f}  >= {TARGET_TRAIL}  "
            f"{_verdict(ratio >= TARGET_TRAIL)}",
            f"  (baseline: TRAIL_ENABLED=false; 1 worker process, runs in this order: {order})",
        ]
    for run in (large, result.large_run(max(config.worker_processes)), result.limited):
        if run is not None and run.cpu:
            label = "limited" if run is result.limited else f"{run.workers} worker"
            lines.append(
                f"  core-seconds, {run.customers:,} ({label}): "
                + ", ".join(f"{name} {seconds:.1f}" for name, seconds in run.cpu.items())
            )
    return "\n".join(lines)
