"""Every process of one benchmark run, and the campaigns its sections claim on.

The simulator (Optimove, OptiPromo and the operator's grant endpoint), `promobridge web` (2
gunicorn workers), the worker process(es) and the relay run against a throwaway database on the
machine's PostgreSQL and a Redis database the run flushes. Each section names the `Pipeline` it
needs (rate limit, contexts per call, activator, worker processes); the worker and relay are
restarted only when that changes. A second throwaway database, migrated to the same schema, holds
the rows of the baselines (the ingress skeleton, the naive pipeline), which no promobridge process
reads.
"""

from __future__ import annotations

import contextlib
import re
import shlex
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import redis
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from app.adapters.db.campaigns import SqlCampaigns
from app.adapters.db.dialect import build_engine
from app.config import Settings
from app.security import fresh_secrets_env
from benchmarks.claims.config import ClaimsBenchConfig
from benchmarks.claims.cpu import matching, with_children
from benchmarks.claims.skeleton import DATABASE_ENV, skeleton_command
from benchmarks.noop_tasks import chain_producer, run_chains
from benchmarks.stack import ProcessGroup, free_port, http_ready, wait_until
from simulator.control_client import SimControl

WORKER_INCLUDES = "benchmarks.noop_tasks,benchmarks.claims.naive"  # the baselines' tasks
ALL_ELIGIBLE = {"no_consent_rate": 0.0, "fraud_rate": 0.0, "clearance_in_seconds": 3600}
WEB_WORKERS = 2
# A client backend's title ends with its client: "… postgres mydb 127.0.0.1(51234) idle", "[local]".
_CLIENT_BACKEND = re.compile(r"\(\d+\)|\[local\]")
# 50 polls over 2 processes split unevenly: let either hold them all (64 threads - 8 kept free).
MAX_LONG_POLLS_PER_PROCESS = 56
STOP_SECONDS = 30.0


@dataclass(frozen=True)
class Pipeline:
    """How the worker processes and the relay run during a section."""

    workers: int = 1
    limited: bool = False  # the shared Optimove budget on (and the simulator's limit)
    max_contexts: int = 100
    activator: str = "wallet"

    def apply(self, env: dict[str, str], config: ClaimsBenchConfig, simulator_url: str) -> None:
        """Set this pipeline's settings in `env`; what it does not set keeps its default."""
        settings = {
            "OPTIMOVE_RATE_LIMIT_ENABLED": "true" if self.limited else "false",
            "OPTIPROMO_MAX_CONTEXTS": str(self.max_contexts),
            "REWARD_ACTIVATOR": self.activator,
            "REWARD_ACTIVATOR_URL": f"{simulator_url}/_operator/grants" if self.activator == "http" else None,
            "RETRY_BACKOFF_BASE_SECONDS": (
                str(config.retry_backoff_base_seconds) if self.activator == "http" else None
            ),
            # Statuses linger for fuller calls only while the budget is scarce: up to one window.
            "STATUS_LINGER_SECONDS": str(config.rate_window_seconds) if self.limited else None,
        }
        for name, value in settings.items():
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value


class BenchStack:
    """Starts and stops the run's processes; readies campaigns; names the process groups for CPU."""

    def __init__(
        self, config: ClaimsBenchConfig, tmp: Path, database_url: str, baseline_database_url: str
    ) -> None:
        self.config, self.tmp = config, tmp
        self.sim_port, self.web_port, self.skeleton_port = free_port(), free_port(), free_port()
        self.sim_url = f"http://127.0.0.1:{self.sim_port}"
        self.web_url = f"http://127.0.0.1:{self.web_port}"
        self.skeleton_url = f"http://127.0.0.1:{self.skeleton_port}"
        self.database_url, self.baseline_database_url = database_url, baseline_database_url
        self.group = ProcessGroup(
            {
                "DATABASE_URL": database_url,
                "CELERY_BROKER_URL": config.redis_url,
                "OPTIMOVE_API_URL": f"{self.sim_url}/current",
                "OPTIPROMO_API_URL": f"{self.sim_url}/optipromo",
                "OPTIMOVE_STATUS_BATCH_SIZE": str(config.status_batch_size),
                "OPTIMOVE_RATE_LIMIT": str(config.rate_limit),
                "OPTIMOVE_RATE_WINDOW_SECONDS": str(config.rate_window_seconds),
                "PROMOBRIDGE_PUBLIC_URL": self.web_url,
                "PROMOBRIDGE_DATA_DIR": str(tmp / "data"),
                "CLAIMS_MAX_LONG_POLLS": str(MAX_LONG_POLLS_PER_PROCESS),
                "LOG_LEVEL": "WARNING",
                DATABASE_ENV: baseline_database_url,
                **fresh_secrets_env(),
            },
            tmp,
        )
        self.engine: Engine = build_engine(database_url)
        self.baseline_engine: Engine = build_engine(baseline_database_url)
        self.sim = SimControl(self.sim_url)
        self.broker = redis.Redis.from_url(config.redis_url)
        self.producer = chain_producer(config.redis_url)
        self.pipeline: Pipeline | None = None
        self.api_key = ""

    @property
    def api_key_for_simulator(self) -> str:
        """The Optimove key the simulator accepts (the naive pipeline calls it directly)."""
        return self.group.env["OPTIMOVE_API_KEY"]

    @property
    def web_threads(self) -> int:
        """Threads per gunicorn worker of `promobridge web` (WEB_THREADS), for the skeleton to match."""
        return int(self.group.env.get("WEB_THREADS", Settings.model_fields["web_threads"].default))

    def start(self, campaign_modes: str) -> None:
        """Migrate both databases; start the simulator and the web; register; create the client key."""
        self.group.env["CAMPAIGN_MODES"] = campaign_modes
        self.broker.flushdb()
        self.group.run("db", "upgrade")
        ProcessGroup({**self.group.env, "DATABASE_URL": self.baseline_database_url}, self.tmp).run(
            "db", "upgrade"
        )
        sim_args = ["--port", str(self.sim_port), "--no-rate-limit", "--api-key", self.api_key_for_simulator]
        self.group.start("simulator", ["simulator", *sim_args, "--operator-latency-ms", "0"])
        self._start_web()
        wait_until(http_ready(f"{self.sim_url}/_sim/state"), timeout=30, what="the simulator")
        self.group.run("register")
        self.api_key = self.client_key("bench")

    def restart_with(self, settings: dict[str, str]) -> None:
        """Stop the pipeline and the web, set `settings` in every process's environment, start the web
        again on its port (the pipeline starts at the next `run_pipeline`)."""
        self.stop_pipeline()
        self._stop("web")
        self.group.env.update(settings)
        self._start_web()

    def _start_web(self) -> None:
        self.group.start("web", ["web", "--port", str(self.web_port), "--workers", str(WEB_WORKERS)])
        wait_until(http_ready(f"{self.web_url}/healthz"), timeout=30, what="the web app")

    def client_key(self, name: str) -> str:
        """A new client API key with a limit the benchmark never reaches."""
        return self.group.run("clients", "create", name, "--rate-limit-per-minute", "100000000").strip()

    def run_pipeline(self, pipeline: Pipeline) -> None:
        """Have the worker(s) and relay run as `pipeline` says (restarted only if that changes)."""
        if self.pipeline == pipeline:
            return
        self.stop_pipeline()
        pipeline.apply(self.group.env, self.config, self.sim_url)
        concurrency = str(self.config.worker_concurrency)
        for n in range(pipeline.workers):
            args = ["worker", "-c", concurrency, "--", "--include", WORKER_INCLUDES, "-n", f"bench{n + 1}@%h"]
            self.group.start(self._worker_name(n), args)
        self.group.start("relay", ["relay"])
        # Every pool child consumes before anything is measured (the first chains wait for the start).
        run_chains(
            self.producer, self.broker, 4 * self.config.worker_concurrency * pipeline.workers, timeout=120
        )
        self.pipeline = pipeline

    def stop_pipeline(self) -> None:
        """Stop the worker(s) and the relay (a warm shutdown: tasks in hand finish)."""
        for name in [*self._worker_names(), "relay"]:
            self._stop(name)
        self.pipeline = None

    def start_skeleton(self) -> str:
        """Serve the ingress skeleton; its base URL."""
        threads = self.web_threads
        command = shlex.join(skeleton_command(self.skeleton_port, WEB_WORKERS, threads))
        self.group.start_command_line("skeleton", command)
        wait_until(http_ready(f"{self.skeleton_url}/healthz"), timeout=30, what="the ingress skeleton")
        return self.skeleton_url

    def stop_skeleton(self) -> None:
        """Stop the ingress skeleton."""
        self._stop("skeleton")

    def ready_campaigns(self, sizes: dict[int, int]) -> None:
        """Claim-mode campaigns of these sizes, every customer eligible, ingested and taking claims."""
        for campaign_id, size in sizes.items():
            self.sim.create_campaign(size, campaign_id=campaign_id, **ALL_ELIGIBLE)
            deliveries = self.sim.fire(campaign_id)
            if deliveries[0].get("status") != 200:
                raise RuntimeError(f"the webhook of campaign {campaign_id} was not accepted: {deliveries}")
        for campaign_id, size in sizes.items():
            wait_until(
                self._ready(campaign_id), timeout=60 + size / 500, what=f"campaign {campaign_id} to be ready"
            )

    def cpu_groups(self) -> dict[str, list[psutil.Process]]:
        """The run's processes by group, found again at every call (children come and go)."""
        databases = {make_url(url).database for url in (self.database_url, self.baseline_database_url)}
        redis_port = f":{make_url(self.config.redis_url).port or 6379}"
        me = psutil.Process()
        load = [child for child in me.children() if child.name() == "wrk"]
        trees = [self.tree(name) for name in self._worker_names()]
        return {
            # Celery's main process consumes and publishes every message; its pool children run the tasks.
            "worker main process": [tree[0] for tree in trees if tree],
            "worker pool children": [child for tree in trees for child in tree[1:]],
            "web": self.tree("web"),
            "relay": self.tree("relay"),
            "simulator": self.tree("simulator"),
            "postgres (our backends)": matching(
                lambda name, cmdline: name == "postgres" and any(f" {db} " in cmdline for db in databases)
            ),
            # The server's own processes (WAL writer, checkpointer, background writer, autovacuum):
            # shared by every database, but busy with the benchmark's writes while it runs.
            "postgres (server processes)": matching(
                lambda name, cmdline: name == "postgres" and not _CLIENT_BACKEND.search(cmdline)
            ),
            "redis": matching(
                lambda name, cmdline: name.startswith("redis-server") and redis_port in cmdline
            ),
            "wrk": load,
            "this benchmark (submitter)": [me],
        }

    def close(self) -> None:
        """Stop every process; release connections."""
        self.group.stop_all()
        self.engine.dispose()
        self.baseline_engine.dispose()
        self.producer.close()
        self.broker.close()

    def _ready(self, campaign_id: int) -> Callable[[], bool]:
        def ready() -> bool:
            with self.engine.connect() as conn:
                campaign = SqlCampaigns(conn).get(campaign_id)
            return campaign is not None and campaign.state.value == "ready"

        return ready

    def tree(self, name: str) -> list[psutil.Process]:
        """The named process and its children (an empty list when it is not running)."""
        process = self.group.processes.get(name)
        return with_children(process.pid) if process is not None and process.poll() is None else []

    def _worker_names(self) -> list[str]:
        return [name for name in self.group.processes if name.startswith("worker")]

    @staticmethod
    def _worker_name(n: int) -> str:
        return "worker" if n == 0 else f"worker{n + 1}"

    def _stop(self, name: str) -> None:
        process = self.group.processes.get(name)
        if process is None or process.poll() is not None:
            return
        try:
            self.group.kill(name, signal.SIGTERM)
        except subprocess.TimeoutExpired:
            self.group.kill(name, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_SECONDS)
