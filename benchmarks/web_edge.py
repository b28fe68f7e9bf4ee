"""The web edge with and without long polls open: `/healthz` latency and claims POST throughput.

Starts `promobridge web` (the shipped gunicorn config) on a throwaway PostgreSQL database, admits
customers through the triggered gateway, and measures on that same process, first with no long
poll open and then with `long_polls` open (claims left pending: no worker runs): `/healthz` p50
and p99 over sequential requests on new connections, and claims POSTed per second by
`concurrency` threads. Last, it makes the polled claims final in one transaction and reports how
long the last long poll took to answer. `python -m benchmarks.web_edge [--long-polls 50 …]`.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

from app.adapters.db.dialect import build_engine
from app.adapters.db.unit_of_work import SqlAlchemyUnitOfWorkFactory
from app.security import fresh_secrets_env
from app.services.claim_recovery import fail_claims
from benchmarks.gateway import Latencies
from benchmarks.stack import ProcessGroup, free_port, http_ready, throwaway_postgres_database, wait_until

Say = Callable[[str], None]
SECRETS = fresh_secrets_env()  # strong, fresh secrets: the web refuses weak ones
TOKEN = SECRETS["LISTENER_TOKEN"]
CAMPAIGN_ID = 9201
POLLS_PER_CLIENT = 10  # under CLAIMS_MAX_LONG_POLLS_PER_CLIENT's default (16)
LONG_POLL_SECONDS = 30  # CLAIMS_MAX_WAIT_SECONDS: longer than a measuring phase
FINAL_STATES = ("completed", "rejected", "failed")
HEALTH_PROBE_INTERVAL_SECONDS = 0.02  # a busy probe: 50 a second, enough samples for a p99 in 10 s


@dataclass(frozen=True)
class EdgeConfig:
    """How much to measure."""

    claims: int = 1000
    health_requests: int = 500
    long_polls: int = 50
    concurrency: int = 8


@dataclass(frozen=True)
class Phase:
    """One side of the table."""

    health: Latencies
    claims_per_second: float


@dataclass(frozen=True)
class EdgeResult:
    """Both sides, and how fast the long polls answered once their claims were final."""

    idle: Phase
    polled: Phase
    long_polls: int
    last_poll_answered_ms: float


class Web:
    """HTTP helpers for the running web process."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.trust_env = False

    def admit(self, customer: str) -> None:
        body = {
            "user": {"user_id": customer, "is_visitor": False},
            "campaign": {"id": CAMPAIGN_ID, "series_id": 1, "action": {"promo_codes": ["SPIN"]}},
        }
        answer = self.session.post(f"{self.base}/webhooks/optimove/triggered/{TOKEN}", json=body, timeout=10)
        if answer.json().get("allowed") is not True:
            raise RuntimeError(f"the gateway refused {customer}: {answer.text[:200]}")

    def claim(self, session: requests.Session, key: str, customer: str) -> str:
        response = session.post(
            f"{self.base}/v1/claims",
            json={"campaign_id": CAMPAIGN_ID, "customer_id": customer},
            headers={"Authorization": f"Bearer {key}"},
            timeout=10,
        )
        if response.status_code != 202:
            raise RuntimeError(f"claim answered {response.status_code}: {response.text[:200]}")
        return str(response.json()["id"])

    def long_poll(self, key: str, claim_id: str) -> int:
        response = requests.get(
            f"{self.base}/v1/claims/{claim_id}?wait={LONG_POLL_SECONDS}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=LONG_POLL_SECONDS + 30,
        )
        return response.status_code


def health_latencies(base: str, count: int) -> Latencies:
    """`count` sequential `/healthz` requests, each on a new connection like a probe; ms each."""
    return Latencies([_probe_health(base) for _ in range(count)])


def _probe_health(base: str) -> float:
    started = time.perf_counter()
    response = requests.get(f"{base}/healthz", timeout=5)  # a new connection each time, like a probe
    elapsed_ms = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"/healthz answered {response.status_code}")
    return elapsed_ms


class HealthProbe:
    """Probes `/healthz` (a new connection each time) every `interval` seconds from a thread until exit."""

    def __init__(self, base: str, interval: float = HEALTH_PROBE_INTERVAL_SECONDS) -> None:
        self.base, self.interval = base, interval
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="healthz-probe", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.samples.append(_probe_health(self.base))

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    @property
    def latencies(self) -> Latencies:
        """What was measured so far."""
        return Latencies(list(self.samples) or [0.0])


class LongPolls:
    """Long polls (`GET /v1/claims/<id>?wait=30`), one thread each, held open on claims still pending.

    A poll the server answers before its claim is final (its wait ran out) is opened again and
    counted in `reopened`, so the polls stay open however long a phase lasts; `close` makes the
    claims final and returns how long the last poll then took to answer.
    """

    def __init__(self, base: str, owned: list[tuple[str, str]]) -> None:
        """`owned`: (client key, claim id) per poll."""
        self.base, self.owned = base, owned
        self.reopened = 0
        self._answered: list[float] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=max(1, len(owned)), thread_name_prefix="long-poll")
        self._polls: list[Future[None]] = []

    def open(self, settle_seconds: float = 1.0) -> None:
        """Open every poll, then wait `settle_seconds` for them to reach the server and start waiting."""
        self._polls = [self._pool.submit(self._hold, key, claim_id) for key, claim_id in self.owned]
        time.sleep(settle_seconds)

    def _hold(self, key: str, claim_id: str) -> None:
        session = requests.Session()
        session.trust_env = False
        while True:
            response = session.get(
                f"{self.base}/v1/claims/{claim_id}?wait={LONG_POLL_SECONDS}",
                headers={"Authorization": f"Bearer {key}"},
                timeout=LONG_POLL_SECONDS + 30,
            )
            if response.status_code != 200:
                raise RuntimeError(f"a long poll answered {response.status_code}: {response.text[:200]}")
            if response.json()["status"] in FINAL_STATES:
                with self._lock:
                    self._answered.append(time.perf_counter())
                return
            with self._lock:
                self.reopened += 1

    def close(self, make_final: Callable[[list[str]], object]) -> float:
        """Make the polled claims final with `make_final(claim ids)`; ms until the last poll answered."""
        made_final = time.perf_counter()
        make_final([claim_id for _, claim_id in self.owned])
        try:
            for poll in self._polls:
                poll.result(timeout=LONG_POLL_SECONDS + 30)
        finally:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return (max(self._answered) - made_final) * 1000 if self._answered else 0.0


def _claims_per_second(web: Web, key: str, customers: list[str], concurrency: int) -> float:
    sessions: dict[int, requests.Session] = {}

    def post(index: int) -> str:
        session = sessions.setdefault(index % concurrency, requests.Session())
        return web.claim(session, key, customers[index])

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(post, range(len(customers))))
    return len(customers) / (time.perf_counter() - started)


def _phase(web: Web, key: str, customers: list[str], config: EdgeConfig, say: Say, label: str) -> Phase:
    say(f"  {label}: {config.health_requests} /healthz, {len(customers)} claims …")
    health = health_latencies(web.base, config.health_requests)
    return Phase(health, _claims_per_second(web, key, customers, config.concurrency))


@dataclass
class _Stack:
    web: Web
    group: ProcessGroup
    database_url: str


@contextmanager
def _started(tmp: Path, admin_url: str | None, say: Say) -> Iterator[_Stack]:
    with throwaway_postgres_database("promobridge_webedge", admin_url) as database_url:
        port = free_port()
        group = ProcessGroup(
            {
                **SECRETS,
                "DATABASE_URL": database_url,
                "TRIGGERED_CAMPAIGNS": str(CAMPAIGN_ID),  # the gateway acts only for declared campaigns
                "LOG_LEVEL": "WARNING",
                "PROMOBRIDGE_DATA_DIR": str(tmp / "data"),
                # The polls are spread over 2 processes unevenly: let either hold all 50 (64 threads - 8).
                "CLAIMS_MAX_LONG_POLLS": "56",
            },
            tmp,
        )
        try:
            group.run("db", "upgrade")
            group.start("web", ["web", "--port", str(port)])
            base = f"http://127.0.0.1:{port}"
            wait_until(http_ready(f"{base}/healthz"), timeout=30, what="the web app")
            yield _Stack(Web(base), group, database_url)
        except BaseException:
            say(group.logs())
            raise
        finally:
            group.stop_all()


def run_web_edge_benchmark(
    config: EdgeConfig = EdgeConfig(), admin_url: str | None = None, say: Say = print
) -> EdgeResult:
    """Start the web process on a throwaway database and measure both phases on it."""
    with (
        TemporaryDirectory(prefix="promobridge-webedge-") as tmp,
        _started(Path(tmp), admin_url, say) as stack,
    ):
        return _measure(stack, config, say)


def _measure(stack: _Stack, config: EdgeConfig, say: Say) -> EdgeResult:
    web, group = stack.web, stack.group
    pollers = max(1, -(-config.long_polls // POLLS_PER_CLIENT))
    keys = [
        group.run("clients", "create", f"bench-{n}", "--rate-limit-per-minute", "1000000").strip()
        for n in range(pollers + 1)
    ]
    poster, poll_keys = keys[0], keys[1:]
    customers = [f"edge-{n}" for n in range(2 * config.claims + config.long_polls)]
    say(f"  admitting {len(customers)} customers through the gateway …")
    with ThreadPoolExecutor(max_workers=config.concurrency) as pool:
        list(pool.map(web.admit, customers))
    idle_customers = customers[: config.claims]
    polled_customers = customers[config.claims : 2 * config.claims]
    poll_customers = customers[2 * config.claims :]

    idle = _phase(web, poster, idle_customers, config, say, "no long poll open")
    session = requests.Session()
    owned = [
        (poll_keys[n // POLLS_PER_CLIENT], web.claim(session, poll_keys[n // POLLS_PER_CLIENT], customer))
        for n, customer in enumerate(poll_customers)
    ]
    polls = LongPolls(web.base, owned)
    polls.open()
    polled = _phase(web, poster, polled_customers, config, say, f"{config.long_polls} long polls open")
    if polls.reopened:
        raise RuntimeError("a long poll answered before its claim was final: the phase did not hold")
    engine = build_engine(stack.database_url)
    try:
        last_ms = polls.close(
            lambda claim_ids: fail_claims(
                SqlAlchemyUnitOfWorkFactory(engine), claim_ids, reason="benchmark: made final"
            )
        )
    finally:
        engine.dispose()
    return EdgeResult(idle, polled, config.long_polls, last_ms)


def render_web_edge(result: EdgeResult, config: EdgeConfig) -> str:
    """The side-by-side table."""
    polled = f"{result.long_polls} long polls"
    return "\n".join(
        [
            "",
            "web edge (promobridge web, shipped gunicorn config, PostgreSQL on this machine)",
            f"{'measure':<44}{'no long poll':>14}{polled:>16}",
            f"{'/healthz p50 ms':<44}{result.idle.health.p50:>14.2f}{result.polled.health.p50:>16.2f}",
            f"{'/healthz p99 ms':<44}{result.idle.health.p99:>14.2f}{result.polled.health.p99:>16.2f}",
            f"{f'claims POST req/s ({config.concurrency} clients)':<44}"
            f"{result.idle.claims_per_second:>14.0f}{result.polled.claims_per_second:>16.0f}",
            f"last long poll answered {result.last_poll_answered_ms:.0f} ms after its claim became final",
        ]
    )


def main() -> None:
    """`python -m benchmarks.web_edge`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--claims", type=int, default=EdgeConfig.claims)
    parser.add_argument("--health-requests", type=int, default=EdgeConfig.health_requests)
    parser.add_argument("--long-polls", type=int, default=EdgeConfig.long_polls)
    parser.add_argument("--concurrency", type=int, default=EdgeConfig.concurrency)
    args = parser.parse_args()
    config = EdgeConfig(args.claims, args.health_requests, args.long_polls, args.concurrency)
    print(render_web_edge(run_web_edge_benchmark(config), config))


if __name__ == "__main__":
    main()
