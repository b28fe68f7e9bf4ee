"""Readiness checks: can this process reach the database and the Celery broker right now?

Liveness (``/healthz``) touches nothing, so a database outage never gets healthy processes
restarted; readiness (``/readyz``) is what a load balancer or orchestrator uses to stop sending
traffic. Each check is short and bounded (a dead host must not hang the probe) and its failure
reason is scrubbed: probe bodies end up in dashboards and must never show a password.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from app.adapters.db.dialect import limit_statement_time
from app.observability.deadline import call_with_deadline
from app.observability.redaction import scrub, url_password

__all__ = [
    "BROKER_CHECK_TIMEOUT_SECONDS",
    "DATABASE_CHECK_TIMEOUT_SECONDS",
    "OK",
    "Readiness",
    "check_broker",
    "check_database",
    "readiness",
]

OK = "ok"
SKIPPED = "skipped"
DATABASE_CHECK_TIMEOUT_SECONDS = 2.0
BROKER_CHECK_TIMEOUT_SECONDS = 1.0
MAX_REASON_CHARS = 200
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


@dataclass(frozen=True, slots=True)
class Readiness:
    """Each check's result (``ok``, ``skipped`` or ``error: <reason>``) and which ones failed."""

    checks: dict[str, str]
    failing: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        """True when no check failed."""
        return not self.failing

    def as_json(self) -> dict[str, Any]:
        """The ``/readyz`` body."""
        if self.ready:
            return {"status": "ready", "checks": self.checks}
        return {"status": "unavailable", "checks": self.checks, "failing": self.failing}


def readiness(checks: dict[str, Callable[[], str]]) -> Readiness:
    """Run every check at once (none stops the others) and collect the failures.

    Concurrently, so the probe takes as long as the slowest check rather than their sum, and fits
    a probe timeout of a few seconds (docker-compose's web healthcheck allows 3 s).
    """
    with ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="readyz") as pool:
        futures = {name: pool.submit(check) for name, check in checks.items()}
        results = {name: _result_of(future) for name, future in futures.items()}
    return Readiness(results, [name for name, result in results.items() if result.startswith("error")])


def _result_of(future: Future[str]) -> str:
    try:
        return future.result()
    except Exception as exc:  # checks report failures as values; this only catches a bug in one
        return f"error: {type(exc).__name__}"


def _failure(exc: BaseException, *secrets: str | None) -> str:
    detail = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = [line.strip() for line in str(detail).splitlines() if line.strip()]
    reason = lines[0] if lines else type(detail).__name__
    return "error: " + scrub(reason, *secrets)[:MAX_REASON_CHARS]


def check_database(engine: Engine, *, timeout_seconds: float = DATABASE_CHECK_TIMEOUT_SECONDS) -> str:
    """``SELECT 1`` within `timeout_seconds` (statement timeout on PostgreSQL, plus a hard deadline)."""

    def probe() -> None:
        with engine.connect() as conn:
            limit_statement_time(conn, max(1, int(timeout_seconds * 1000)))
            conn.execute(text("SELECT 1"))
            conn.rollback()

    try:
        call_with_deadline(probe, timeout_seconds)
    except Exception as exc:
        return _failure(exc, engine.url.password if isinstance(engine.url.password, str) else None)
    return OK


def check_broker(
    broker_url: str,
    broker_folder: Path | None = None,
    *,
    timeout_seconds: float = BROKER_CHECK_TIMEOUT_SECONDS,
) -> str:
    """Redis brokers answer PING; the embedded file-system broker's folder accepts a file.

    Other transports are reported ``skipped``: promobridge does not configure them, and a check that
    cannot tell is better left out than faked.
    """
    if broker_url.startswith(_REDIS_SCHEMES):
        return _ping_redis(broker_url, timeout_seconds)
    if broker_url.startswith("filesystem://"):
        if broker_folder is None:
            return "error: no broker folder configured"
        return _check_folder(broker_folder)
    return SKIPPED


def _ping_redis(url: str, timeout_seconds: float) -> str:
    try:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),  # one attempt: the probe reports, the next probe retries
        )
    except Exception as exc:  # a malformed URL
        return _failure(exc, url_password(url))
    try:
        client.ping()
    except Exception as exc:
        return _failure(exc, url_password(url))
    finally:
        client.close()
    return OK


def _check_folder(folder: Path) -> str:
    if not folder.is_dir():
        return f"error: broker folder {folder} does not exist"
    try:
        # A real write (not os.access) also catches a full disk and read-only mounts. The name has
        # no ".<queue>.msg" suffix, so the file-system transport never mistakes it for a message.
        handle, name = tempfile.mkstemp(prefix=".readyz-", suffix=".tmp", dir=folder)
        os.close(handle)
        os.unlink(name)
    except OSError as exc:
        return f"error: broker folder {folder} is not writable ({exc.strerror or type(exc).__name__})"
    return OK
