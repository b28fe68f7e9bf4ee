"""`promobridge demo`: the whole flow, end to end, on one machine, with nothing installed but Python.

It starts the simulator, the web process, a worker and the relay (SQLite and the file-system
broker unless told otherwise), registers the listener, fires a scheduled campaign in claim mode,
lets simulated customers claim (some double-click, some are scrubbed, some are outsiders, some hit
the promotion's audience cap), shows progress per stage and ends with a report. It stops every
process it started, whatever happens.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

import requests
from sqlalchemy import Engine, create_engine

from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWork
from app.demo.report import DemoReport, collect_report
from app.processes import ProcessGroup, free_port, http_ready, wait_for
from app.security import fresh_secrets_env
from simulator.control_client import SimControl

DEMO_CAMPAIGN_ID = 7001
STAGE_TIMEOUT_SECONDS = 300
DEMO_CONSOLE_USER = "demo"


@dataclass(frozen=True)
class ConsoleAccess:
    """Where the kept demo's console is, and its demo sign-in (a random password, shown once)."""

    url: str
    user: str
    password: str


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs on and how big it is."""

    customers: int = 3000
    claims: int = 400
    database_url: str | None = None  # default: SQLite in a temporary folder
    broker_url: str | None = None  # default: the file-system broker in that folder
    seed: int = 7
    log_dir: Path | None = None  # keep the processes' logs here (default: removed with the temp folder)


@dataclass
class Progress:
    """One stage's progress, as the UI shows it."""

    stage: str
    done: int = 0
    total: int = 0
    note: str = ""


@dataclass
class DemoUi:
    """Where the demo reports progress; the CLI renders bars, tests collect lines."""

    show: Callable[[list[Progress]], None]
    say: Callable[[str], None]
    stages: list[Progress] = field(default_factory=list)


def run_demo(
    config: DemoConfig,
    ui: DemoUi,
    *,
    while_running: Callable[[DemoReport, ConsoleAccess], None] | None = None,
) -> DemoReport:
    """Run the demo and return its report (processes are stopped before this returns).

    With `while_running` (`demo --keep`), a console user is created once the report is ready and
    `while_running` is called with both while every process still runs; they stop when it returns.
    """
    with TemporaryDirectory(prefix="promobridge-demo-") as tmp:
        folder = Path(tmp)
        database_url = config.database_url or f"sqlite:///{folder / 'demo.sqlite'}"
        sim_port, web_port = free_port(), free_port()
        env = {
            "PROMOBRIDGE_DATA_DIR": str(folder / "data"),
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": config.broker_url or "",
            "OPTIMOVE_API_URL": f"http://127.0.0.1:{sim_port}/current",
            "OPTIPROMO_API_URL": f"http://127.0.0.1:{sim_port}/optipromo",
            # Fresh for this run, shared with the simulator below: never a value anyone else knows.
            **fresh_secrets_env(),
            "PROMOBRIDGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}",
            "CONSOLE_PLAIN_HTTP": "true",  # the console is on http://127.0.0.1
            "CAMPAIGN_MODES": f"{DEMO_CAMPAIGN_ID}:claim",
            # Embedded mode limits Optimove calls per process; the demo's simulator does not enforce one.
            "OPTIMOVE_RATE_LIMIT_ENABLED": "false",
            # kombu's file-system transport can lose a message a producer is still writing; PostgreSQL
            # (here SQLite) is the source of truth and the reconciler re-dispatches within seconds.
            "CLAIM_STALE_AFTER_SECONDS": "4",
            "SWEEP_STALE_AFTER_SECONDS": "10",
            "SWEEP_INTERVAL_SECONDS": "1",
            "RELAY_IDLE_SLEEP_SECONDS": "0.2",
            "LOG_LEVEL": "WARNING",
        }
        if config.log_dir is not None:
            config.log_dir.mkdir(parents=True, exist_ok=True)
        group = ProcessGroup(env, config.log_dir or folder)
        engine = create_engine(database_url)
        try:
            ui.say(f"data in {folder} (removed at the end); logs in {config.log_dir or folder}")
            group.run("db", "upgrade")
            sim_key = ["--api-key", env["OPTIMOVE_API_KEY"]]
            group.start("simulator", ["simulator", "--port", str(sim_port), "--no-rate-limit", *sim_key])
            group.start("web", ["web", "--port", str(web_port), "--workers", "2"])
            group.start("worker", ["worker", "--concurrency", "2"])
            group.start("relay", ["relay"])
            wait_for(http_ready(f"http://127.0.0.1:{sim_port}/_sim/state"), timeout=60, what="the simulator")
            wait_for(http_ready(f"http://127.0.0.1:{web_port}/healthz"), timeout=60, what="the web process")
            ui.say("processes up: simulator, web, worker, relay")
            group.run("register")
            key = group.run("clients", "create", "demo-backend", "--rate-limit-per-minute", "100000").strip()
            sim = SimControl(f"http://127.0.0.1:{sim_port}")
            timings = _run_flow(config, ui, engine, sim, f"http://127.0.0.1:{web_port}", key)
            report = collect_report(engine, sim, DEMO_CAMPAIGN_ID, timings)
            if while_running is not None:
                password = secrets.token_urlsafe(12)
                group.run(
                    "users",
                    "create",
                    DEMO_CONSOLE_USER,
                    "--role",
                    "operator",
                    "--password-stdin",
                    stdin=password,
                )
                console = ConsoleAccess(f"http://127.0.0.1:{web_port}/console/", DEMO_CONSOLE_USER, password)
                while_running(report, console)
            return report
        except BaseException:
            ui.say(group.logs())
            raise
        finally:
            group.stop_all()
            engine.dispose()


def _run_flow(
    config: DemoConfig, ui: DemoUi, engine: Engine, sim: SimControl, web_url: str, key: str
) -> dict[str, float]:
    timings: dict[str, float] = {}
    created = sim.create_campaign(
        config.customers, campaign_id=DEMO_CAMPAIGN_ID, no_consent_rate=0.08, fraud_rate=0.03
    )
    eligible_target = int(config.claims * 0.75)
    sim._call(
        "POST", "/promotions", json={"promocode_id": created["promo_code"], "audience_cap": eligible_target}
    )
    started = time.monotonic()
    sim.fire(DEMO_CAMPAIGN_ID, times=2)  # Optimove may redeliver: the second one changes nothing
    ingest = Progress("ingest", total=config.customers)
    ui.stages.append(ingest)

    def ingested() -> bool:
        with SqlAlchemyUnitOfWork(engine) as uow:
            campaign = uow.campaigns.get(DEMO_CAMPAIGN_ID)
        ingest.done = campaign.rows_ingested if campaign else 0
        ingest.note = campaign.state.value if campaign else "waiting for the webhook"
        ui.show(ui.stages)
        return campaign is not None and campaign.state.value == "ready"

    wait_for(ingested, timeout=STAGE_TIMEOUT_SECONDS, interval=0.3, what="the campaign to be ingested")
    timings["ingest"] = time.monotonic() - started
    timings["claims_submitted"] = _submit_claims(config, ui, sim, web_url, key)
    timings["claims_final"] = _wait_for_claims(engine, ui)
    return timings


def _submit_claims(config: DemoConfig, ui: DemoUi, sim: SimControl, web_url: str, key: str) -> float:
    rng = random.Random(config.seed)
    customers = sim.customers(DEMO_CAMPAIGN_ID)
    picks = [c["customer_id"] for c in rng.sample(customers, min(config.claims, len(customers)))]
    picks[: max(1, config.claims // 50)] = [f"stranger-{i}" for i in range(max(1, config.claims // 50))]
    submit = Progress("claims submitted", total=len(picks))
    ui.stages.append(submit)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    started = time.monotonic()

    def claim(customer: str) -> None:
        body = {
            "campaign_id": DEMO_CAMPAIGN_ID,
            "customer_id": customer,
            "session_properties": {"deposit_amount": rng.choice([20, 50, 150])},
        }
        clicks = 2 if rng.random() < 0.2 else 1  # a fifth of the customers double-click
        for _ in range(clicks):
            session.post(
                f"{web_url}/v1/claims", json=body, headers={"Idempotency-Key": f"demo-{customer}"}, timeout=30
            ).raise_for_status()
        submit.done += 1

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(claim, customer) for customer in picks]
        while not all(f.done() for f in futures):
            ui.show(ui.stages)
            time.sleep(0.3)
        for future in futures:
            future.result()
    ui.show(ui.stages)
    return time.monotonic() - started


def _wait_for_claims(engine: Engine, ui: DemoUi) -> float:
    validated = Progress("validated")
    rewarded = Progress("rewarded")
    delivered = Progress("status delivered")
    ui.stages += [validated, rewarded, delivered]
    started = time.monotonic()

    def settled() -> bool:
        with SqlAlchemyUnitOfWork(engine) as uow:
            states = uow.claims.counts_by_state(DEMO_CAMPAIGN_ID)
        total = sum(states.values())
        completed, activated = states.get("completed", 0), states.get("activated", 0)
        for stage in (validated, rewarded, delivered):
            stage.total = total
        rejected = states.get("rejected", 0)
        validated.done = total - states.get("pending", 0) - states.get("validating", 0)
        rewarded.done, rewarded.note = completed + activated, f"{rejected} rejected"
        delivered.done = completed
        ui.show(ui.stages)
        return (
            states.get("pending", 0) + states.get("validating", 0) + states.get("validated", 0) + activated
            == 0
        )

    wait_for(settled, timeout=STAGE_TIMEOUT_SECONDS, interval=0.3, what="every claim to be final")
    return time.monotonic() - started
