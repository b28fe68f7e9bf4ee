"""Fault-injection run of flow C: claims while workers, Redis and PostgreSQL crash and Optimove misbehaves.

Why: DESIGN §2 promises that a claim answered 2xx ends terminal, rewarded at most once and reported to
Optimove, whatever crashes; that rests on PostgreSQL being the source of truth and on the reconciler, so
only killing the real processes shows it holds. The run owns private servers, submits claims over HTTP
like an app backend while a seeded nemesis strikes, waits for convergence, then checks the invariants of
reliability-anchors §6.2 over the whole history (`ChaosReport.violations`), and times how long the
claims a killed worker held wait before they move again (``benchmarks.kill_watch``).
"""

from __future__ import annotations

import math
import random
import shutil
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.security import fresh_secrets_env
from app.services.reconciliation import ReconcileConfig, reconcile_campaign
from benchmarks.kill_watch import KillDelay, KillWatch
from benchmarks.servers import Nemesis, PrivatePostgres, PrivateRedis
from benchmarks.stack import ProcessGroup, free_port, http_ready, wait_until
from simulator.control_client import SimControl

Say = Callable[[str], None]
CAMPAIGN_ID = 7001
TERMINAL_STATES = frozenset({"completed", "rejected", "failed"})
MAX_SUBMIT_RATE = 40.0  # claims per second, at most
FAULT_SPACING_SECONDS = 6.0  # at least, between two nemesis faults: a 2 s outage, then recovery
PROGRESS_SECONDS = 2.0
DRIVER_THREADS = 8
REQUEST_TIMEOUT_SECONDS, CLIENT_RETRY_PAUSE_SECONDS, CLIENT_GIVE_UP_SECONDS = 10.0, 0.5, 180.0
ELIGIBLE_SHARE = 0.85  # the campaign is sized so that enough customers survive the policies
# 23% of validate and status calls fail; 2 s timeouts outlast OPTIMOVE_TIMEOUT_SECONDS (the client gives up).
FAULT_PLAN = {"rate_5xx": 0.10, "rate_429": 0.05, "rate_timeout": 0.05, "rate_applied_lost": 0.03}
FAULT_TARGETS = {"timeout_seconds": 2.0, "endpoints": ["validateCustomers", "UpdateCustomerPromotionStatus"]}
# Test-speed tunables: a claim whose message died with its worker is re-dispatched by the reconciler
# after CLAIM_STALE_AFTER_SECONDS, not after Redis' visibility timeout; retries outlast transient faults.
STACK_SETTINGS = {
    "OPTIMOVE_TIMEOUT_SECONDS": "1.5", "CLAIM_STALE_AFTER_SECONDS": "10", "SWEEP_INTERVAL_SECONDS": "1",
    "RETRY_BACKOFF_BASE_SECONDS": "0.5", "RETRY_BACKOFF_MAX_SECONDS": "4", "CLAIM_MAX_RETRIES": "30",
    "RELAY_MAX_ATTEMPTS": "30", "RELAY_LEASE_SECONDS": "10", "RELAY_IDLE_SLEEP_SECONDS": "0.2",
    "OPTIMOVE_RATE_LIMIT": "200", "OPTIMOVE_RATE_WINDOW_SECONDS": "2",
}  # fmt: skip
SIMULATOR_RATE_LIMIT = "200/2"
# A dead worker may delay its claims by the staleness delay plus this much (sweeps, redelivery, restarts).
KILL_DELAY_SLACK_SECONDS = 15.0
KILL_DELAY_BOUND_SECONDS = float(STACK_SETTINGS["CLAIM_STALE_AFTER_SECONDS"]) + KILL_DELAY_SLACK_SECONDS
LATE_KILLS = "kills whose claims moved past the bound"
RECONCILE_DISCREPANCIES = "discrepancies promobridge reconcile finds"


@dataclass(frozen=True)
class ChaosConfig:
    """How many claims and how many faults of each kind one run injects."""

    claims: int = 2000
    seed: int = 1
    worker_kills: int = 4
    worker_restarts: int = 2
    redis_restarts: int = 1
    postgres_restarts: int = 1
    faults: bool = True
    convergence_timeout: float = 300.0
    restart_pause: float = 2.0


@dataclass
class ChaosReport:
    """What happened: `invariants` (each must be 0, see `violations`) and the figures around them."""

    config: ChaosConfig
    invariants: dict[str, int] = field(default_factory=dict)
    submitted: int = 0
    states: dict[str, int] = field(default_factory=dict)
    resent: int = 0  # customers whose status Optimove (the simulator) received more than once
    resent_after_ambiguous: int = 0  # ... of which promobridge had counted an ambiguous failure
    simulator_faults: dict[str, int] = field(default_factory=dict)
    nemesis_log: list[str] = field(default_factory=list)
    client_retries: dict[str, int] = field(default_factory=dict)
    crashes: list[str] = field(default_factory=list)  # restarted, as the deployment's supervisor would
    reconciler_rounds: int = 0
    unacked_messages: int = 0
    reconcile_findings: dict[str, int] = field(default_factory=dict)  # kind -> count, the non-zero ones
    converge_seconds: float | None = None
    total_seconds: float = 0.0
    nemesis_injected: dict[str, int] = field(default_factory=dict)  # faults really injected, by kind
    kill_delays: list[KillDelay] = field(default_factory=list)  # one per worker SIGKILL, in order
    kill_delay_bound: float = KILL_DELAY_BOUND_SECONDS
    log_dir: str | None = None  # where the process logs were kept (a failed run keeps them)

    @property
    def violations(self) -> list[str]:
        """Every invariant that failed, as `name: count` (empty when the run passed)."""
        return [f"{name}: {count}" for name, count in self.invariants.items() if count]

    @property
    def longest_kill_delay(self) -> float | None:
        """The longest kill → moving delay measured (None when no kill caught a claim in hand)."""
        measured = [kill.delay for kill in self.kill_delays if kill.delay is not None]
        return max(measured, default=None)


class ChaosRunError(RuntimeError):
    """The run itself broke (a server or process would not start, a wait timed out): no verdict."""

    def __init__(self, message: str, log_dir: Path) -> None:
        super().__init__(f"{message} (process logs kept in {log_dir})")
        self.log_dir = log_dir


def run_chaos(config: ChaosConfig, say: Say = print) -> ChaosReport:
    """Start everything on private servers, inject the faults, converge, check; logs kept on failure."""
    started, log_dir = time.monotonic(), Path(tempfile.mkdtemp(prefix="promobridge-chaos-"))
    with PrivatePostgres() as postgres, PrivateRedis() as broker:
        sim_port, web_port = free_port(), free_port()
        env = {
            **STACK_SETTINGS,
            "DATABASE_URL": postgres.create_database("promobridge_chaos"),
            "CELERY_BROKER_URL": broker.url(),
            "OPTIMOVE_API_URL": f"http://127.0.0.1:{sim_port}/current",
            "OPTIPROMO_API_URL": f"http://127.0.0.1:{sim_port}/optipromo",
            "CAMPAIGN_MODES": f"{CAMPAIGN_ID}:claim",
            **fresh_secrets_env(),
            "PROMOBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "PROMOBRIDGE_DATA_DIR": str(log_dir / "data"),
        }
        commands = {
            "simulator": [
                "simulator",
                *("--port", str(sim_port), "--rate-limit", SIMULATOR_RATE_LIMIT),
                *("--api-key", env["OPTIMOVE_API_KEY"]),
            ],
            "web": ["web", "--port", str(web_port), "--workers", "2"],
            "worker-1": ["worker", "-c", "2", "-n", "chaos1@%h"],
            "worker-2": ["worker", "-c", "2", "-n", "chaos2@%h"],
            "relay": ["relay"],
        }
        group = ProcessGroup(env, log_dir)
        run = _Run(config, env["DATABASE_URL"], SimControl(f"http://127.0.0.1:{sim_port}"), say)
        nemesis = Nemesis(
            config, config.seed, config.restart_pause, group, commands, postgres, broker, say,
            on_kill=run.kill_watch.caught,
        )  # fmt: skip
        try:
            group.run("db", "upgrade")
            for name, args in commands.items():
                group.start(name, args)
            wait_until(http_ready(f"{run.sim.base_url}/_sim/state"), timeout=30, what="the simulator")
            wait_until(http_ready(f"http://127.0.0.1:{web_port}/healthz"), timeout=30, what="the web app")
            group.run("register")
            customers = run.ready_campaign()
            api_key = group.run("clients", "create", "chaos", "--rate-limit-per-minute", "1000000").strip()
            if config.faults:
                run.sim.set_faults(**FAULT_PLAN, **FAULT_TARGETS, seed=config.seed)
            driver = ClaimDriver(f"http://127.0.0.1:{web_port}", api_key, customers, config.seed)
            run.drive(driver, nemesis)
            run.sim.clear_faults()
            run.check(driver, broker, (log_dir / "relay.log").read_text(errors="replace"))
        except BaseException as exc:
            say(group.logs())
            say(f"process logs kept in {log_dir}")
            if isinstance(exc, Exception):
                raise ChaosRunError(f"the run broke: {exc!r}", log_dir) from exc
            raise
        finally:
            run.kill_watch.stop()
            group.stop_all()
            run.engine.dispose()
    run.report.total_seconds = time.monotonic() - started
    if run.report.violations:
        run.report.log_dir = str(log_dir)
        say(f"process logs kept in {log_dir}")
    else:
        shutil.rmtree(log_dir, ignore_errors=True)
    return run.report


class ClaimDriver:
    """Clicks like an app backend: each customer once, ~10% double clicks (same Idempotency-Key), ~5%
    replays (another key); a failed request (5xx, 429, no answer) is sent again with the same key until
    answered 200/202, as a real client would, so a claim the server committed is not doubled."""

    def __init__(self, web_url: str, api_key: str, customers: list[str], seed: int) -> None:
        rng = random.Random(seed + 1)
        self.url, self.session = f"{web_url}/v1/claims", requests.Session()  # urllib3's pool is thread-safe
        self.session.trust_env = False
        self.session.headers["Authorization"] = f"Bearer {api_key}"
        self.clicks = [
            (c, {"deposit_amount": rng.choice([20, 150])}, rng.random() < 0.10, rng.random() < 0.05)
            for c in customers
        ]
        self.claim_ids: dict[str, str] = {}
        self.retries: Counter[str] = Counter()  # by what the failed attempt got
        self.submitted = self.unanswered = self.mismatches = 0
        self._lock = threading.Lock()

    def run(self, rate: float) -> None:
        """Click for every customer, paced at `rate` customers per second."""
        begun, count = time.monotonic(), len(self.clicks)
        with ThreadPoolExecutor(DRIVER_THREADS) as pool:
            list(pool.map(lambda i: self._click(begun + i / rate, *self.clicks[i]), range(count)))

    def _click(self, at: float, customer: str, props: dict[str, int], double: bool, replay: bool) -> None:
        time.sleep(max(0.0, at - time.monotonic()))
        body = {"campaign_id": CAMPAIGN_ID, "customer_id": customer, "session_properties": props}
        first = self._post(body, f"{customer}-a")
        repeats = [self._post(body, f"{customer}-a")] if double else []
        repeats += [self._post(body, f"{customer}-b")] if replay else []
        with self._lock:
            self.submitted += 1
            self.unanswered += first is None
            self.mismatches += sum(answer != first for answer in repeats)
            if first is not None:
                self.claim_ids[customer] = first

    def _post(self, body: dict[str, Any], key: str) -> str | None:
        deadline, headers = time.monotonic() + CLIENT_GIVE_UP_SECONDS, {"Idempotency-Key": key}
        while time.monotonic() < deadline:
            try:
                got = self.session.post(self.url, json=body, headers=headers, timeout=REQUEST_TIMEOUT_SECONDS)
                if got.status_code in (200, 202):
                    return str(got.json()["id"])
                if got.status_code < 500 and got.status_code != 429:
                    return None  # refused for good: judged as unanswered, or as a mismatched answer
                outcome = str(got.status_code)
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with self._lock:
                self.retries[outcome] += 1
            time.sleep(CLIENT_RETRY_PAUSE_SECONDS)
        return None


class _Run:
    """One run's handles: where its claims are, what it reports, and how it says what is going on."""

    def __init__(self, config: ChaosConfig, url: str, sim: SimControl, say: Say) -> None:
        self.config, self.sim, self.say = config, sim, say
        self.engine = create_engine(url, pool_pre_ping=True)
        self.report = ChaosReport(config)
        self.kill_watch = KillWatch(self.engine)

    def _rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), {"c": CAMPAIGN_ID}))

    def ready_campaign(self) -> list[str]:
        """Create, announce and ingest the claim campaign; the seeded choice of eligible customers."""
        size = math.ceil(self.config.claims / ELIGIBLE_SHARE) + 20
        self.sim.create_campaign(size, campaign_id=CAMPAIGN_ID, no_consent_rate=0.05, fraud_rate=0.05)
        self.sim.fire(CAMPAIGN_ID)
        ready = "SELECT 1 FROM campaigns WHERE id = :c AND state = 'ready'"
        wait_until(lambda: bool(self._rows(ready)), timeout=120, what="the claim campaign to be ready")
        eligible = sorted(r[0] for r in self._rows(ELIGIBLE_SQL))
        if len(eligible) < self.config.claims:
            raise RuntimeError(f"only {len(eligible)} eligible customers for {self.config.claims} claims")
        self.say(f"campaign {CAMPAIGN_ID} ready: {size:,} customers, {len(eligible):,} eligible")
        random.Random(self.config.seed).shuffle(eligible)
        return eligible[: self.config.claims]

    def drive(self, driver: ClaimDriver, nemesis: Nemesis) -> None:
        """Submit while the nemesis strikes, then wait until every claim is final (or the timeout)."""
        claims, faults = self.config.claims, len(nemesis.kinds)
        duration = max(claims / MAX_SUBMIT_RATE, (faults + 1) * FAULT_SPACING_SECONDS)
        nemesis.schedule_over(duration)
        self.say(f"submitting {claims:,} claims over ~{duration:.0f} s; {faults} faults")
        begun = time.monotonic()
        submitting = threading.Thread(target=driver.run, args=(claims / duration,), daemon=True)
        submitting.start()
        self.kill_watch.start()
        nemesis.start(begun)
        calm: float | None = None
        while calm is None or time.monotonic() - calm < self.config.convergence_timeout:
            self.report.crashes += nemesis.revive_crashed()
            try:
                states = {str(r[0]): int(r[1]) for r in self._rows(STATES_SQL)}
                label = ", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "no claims yet"
            except SQLAlchemyError:
                states, label = {}, "database unavailable"
            self.say(
                f"t={time.monotonic() - begun:5.1f}s submitted {driver.submitted:>5}/{claims} "
                f"(client retries {sum(driver.retries.values())}) | {label}"
            )
            if calm is None and not (submitting.is_alive() or nemesis.thread.is_alive()):
                calm = time.monotonic()  # the last fault is over: convergence is timed from here
            if calm is not None and states and all(state in TERMINAL_STATES for state in states):
                self.report.converge_seconds = time.monotonic() - calm
                break
            time.sleep(PROGRESS_SECONDS)
        self.report.nemesis_log = list(nemesis.log)
        self.report.nemesis_injected = dict(nemesis.injected)
        self.report.kill_delays = self.kill_watch.finish()

    def _reconcile_discrepancies(self) -> int:
        """What finance's reconciliation (`promobridge reconcile`) finds once the run converged."""
        stale = timedelta(seconds=float(STACK_SETTINGS["CLAIM_STALE_AFTER_SECONDS"]))
        found = reconcile_campaign(
            SqlAlchemyUnitOfWorkFactory(self.engine), CAMPAIGN_ID, ReconcileConfig(stale_after=stale)
        )
        if found is None:
            return 1  # the campaign itself is missing
        self.report.reconcile_findings = {f.kind: f.count for f in found.findings if f.count}
        return found.discrepancies

    def check(self, driver: ClaimDriver, broker: PrivateRedis, relay_log: str) -> None:
        """Judge the whole history: the database, the simulator's ledger, the driver's answers, the logs."""
        report = self.report
        rows = {r[0]: (r[1], r[2]) for r in self._rows(CLAIMS_SQL)}
        send_counts = {str(r[0]): int(r[1]) for r in self._rows(OUTBOX_SQL)}
        credits = self._rows(REWARDS_SQL)  # (claim, customer) per wallet credit
        answered = [rows.get(claim_id) for claim_id in driver.claim_ids.values()]
        done = {customer for state, customer in rows.values() if state == "completed"}
        told = self.sim.statuses(CAMPAIGN_ID)
        claims_credited, customers_credited = {c for c, _ in credits}, {c for _, c in credits}
        report.invariants = {
            "lost (answered 2xx, no row)": answered.count(None),
            "stuck (not terminal)": sum(1 for row in answered if row and row[0] not in TERMINAL_STATES),
            "duplicate rewards": 2 * len(credits) - len(claims_credited) - len(customers_credited),
            "completed but not reported true": sum(told.get(c, {}).get("status") is not True for c in done),
            "reported but never rewarded": len(set(told) - customers_credited),
            "never answered 2xx": driver.unanswered,
            "repeat clicks answered with another claim": driver.mismatches,
            "outbox rows dead-lettered": self._rows(DEAD_SQL)[0][0],
            LATE_KILLS: sum(not kill.within(report.kill_delay_bound) for kill in report.kill_delays),
            RECONCILE_DISCREPANCIES: self._reconcile_discrepancies(),
        }
        report.submitted, report.client_retries = driver.submitted, dict(driver.retries)
        report.states = dict(Counter(state for state, _ in rows.values()))
        resent = [customer for customer, status in told.items() if status["times"] > 1]
        report.resent = len(resent)
        report.resent_after_ambiguous = sum(send_counts.get(c, 0) > 1 for c in resent)
        report.simulator_faults = dict(self.sim.state()["faults_injected"])
        report.reconciler_rounds = relay_log.count("re-dispatched stuck claims")
        report.unacked_messages = broker.unacked_messages()


STATES_SQL = "SELECT state, count(*) FROM claims WHERE campaign_id = :c GROUP BY state"
ELIGIBLE_SQL = "SELECT customer_id FROM campaign_audience WHERE campaign_id = :c AND eligible"
CLAIMS_SQL = "SELECT id, state, customer_id FROM claims WHERE campaign_id = :c"
OUTBOX_SQL = "SELECT customer_id, send_count FROM outbox WHERE campaign_id = :c"
DEAD_SQL = "SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL"
REWARDS_SQL = "SELECT claim_id, customer_id FROM wallet_ledger WHERE campaign_id = :c"
