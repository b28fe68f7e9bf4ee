"""Latency of the triggered-campaign gateway (flow B) through the real web process.

Optimove waits for this answer synchronously, so its tail matters: the benchmark sends sequential
gateway calls for distinct customers (each one runs the policy pipeline and upserts the audience
row in PostgreSQL) and prints p50/p99 beside the same web process answering `/healthz`, measured
in the same run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory

import requests

from app.security import fresh_secrets_env
from benchmarks.stack import ProcessGroup, free_port, http_ready, throwaway_postgres_database, wait_until

Say = Callable[[str], None]


@dataclass(frozen=True)
class Latencies:
    """Milliseconds per request."""

    samples: list[float]

    def percentile(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def p50(self) -> float:
        return statistics.median(self.samples)

    @property
    def p99(self) -> float:
        return self.percentile(0.99)


def _measure(
    session: requests.Session, send: Callable[[requests.Session, int], requests.Response], count: int
) -> Latencies:
    samples = []
    for i in range(count):
        started = time.perf_counter()
        response = send(session, i)
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"unexpected {response.status_code}: {response.text[:200]}")
    return Latencies(samples)


def run_gateway_benchmark(
    requests_count: int = 2000, admin_url: str | None = None, say: Say = print
) -> tuple[Latencies, Latencies]:
    """Start the web process on a throwaway database; return (gateway, healthz) latencies."""
    with (
        TemporaryDirectory(prefix="promobridge-gateway-") as tmp,
        throwaway_postgres_database("promobridge_gateway", admin_url) as database_url,
    ):
        port, secrets = free_port(), fresh_secrets_env()
        token = secrets["LISTENER_TOKEN"]
        group = ProcessGroup(
            {
                **secrets,
                "DATABASE_URL": database_url,
                "TRIGGERED_CAMPAIGNS": "9001",  # the gateway acts only for declared campaigns
                "LOG_LEVEL": "WARNING",
                "PROMOBRIDGE_DATA_DIR": str(Path(tmp) / "data"),
            },
            Path(tmp),
        )
        try:
            group.run("db", "upgrade")
            group.start("web", ["web", "--port", str(port), "--workers", "2"])
            base = f"http://127.0.0.1:{port}"
            wait_until(http_ready(f"{base}/healthz"), timeout=30, what="the web app")
            session = requests.Session()
            session.trust_env = False

            def gateway(s: requests.Session, i: int) -> requests.Response:
                body = {
                    "user": {"user_id": f"cust-{i}", "is_visitor": False},
                    "campaign": {"id": 9001, "series_id": 1, "action": {"promo_codes": ["SPIN"]}},
                }
                return s.post(f"{base}/webhooks/optimove/triggered/{token}", json=body, timeout=5)

            _measure(session, gateway, 50)  # warm-up: connections, first campaign row
            say(f"  {requests_count} gateway calls …")
            gateway_latencies = _measure(session, gateway, requests_count)
            say(f"  {requests_count} /healthz calls (baseline) …")
            health = _measure(session, lambda s, _i: s.get(f"{base}/healthz", timeout=5), requests_count)
        except BaseException:
            say(group.logs())
            raise
        finally:
            group.stop_all()
    return gateway_latencies, health


def render_gateway(gateway: Latencies, health: Latencies) -> str:
    """The side-by-side table."""
    return "\n".join(
        [
            "",
            "triggered gateway latency (sequential requests, gunicorn 2 workers, PostgreSQL on this machine)",
            f"{'measure':<40}{'gateway':>12}{'/healthz':>12}",
            f"{'p50 ms':<40}{gateway.p50:>12.2f}{health.p50:>12.2f}",
            f"{'p99 ms':<40}{gateway.p99:>12.2f}{health.p99:>12.2f}",
            f"{'max ms':<40}{max(gateway.samples):>12.2f}{max(health.samples):>12.2f}",
        ]
    )
