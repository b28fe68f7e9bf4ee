"""Wake-ups through PostgreSQL: NOTIFY in the transaction that does the work, LISTEN where someone waits.

- Claims that became final (`CLAIMS_FINAL`, payload: their ids): the web's long polls wake.
- Status updates queued in the outbox (`OUTBOX`): the relay wakes instead of waiting out its idle
  sleep, so a reward's status reaches Optimove within moments of the grant.

The adapters notify in the same transaction as the change, so PostgreSQL delivers it at commit,
never before and never for a rolled-back change. A ``ChannelListener`` is a thread holding its own
connection that LISTENs on one channel and passes the payloads to a callback. Notifications are
only hints (the database stays the truth): when the connection drops, some may be lost, so the
listener says so (``on_gap``) every time it (re)connects, and waiters re-read. SQLite has no
NOTIFY: nothing is sent there, and waiters poll.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func
from sqlalchemy import select as sql_select

from app.adapters.db.dialect import is_postgres

log = logging.getLogger(__name__)

CLAIMS_FINAL = "promobridge_claims_final"
OUTBOX = "promobridge_outbox"
# PostgreSQL refuses payloads of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7900
IDLE_CHECK_SECONDS = 5.0  # the longest select(); stop() and notifications end it sooner
RECONNECT_MIN_SECONDS = 0.5
RECONNECT_MAX_SECONDS = 30.0
# A dead server or network is noticed by TCP keepalives even while no notification arrives.
KEEPALIVE_ARGS = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}
CONNECT_TIMEOUT_SECONDS = 5


def payload_chunks(claim_ids: Iterable[str]) -> list[str]:
    """Comma-joined claim ids, split into payloads PostgreSQL accepts."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for claim_id in claim_ids:
        added = len(claim_id.encode()) + (1 if current else 0)
        if current and size + added > MAX_PAYLOAD_BYTES:
            chunks.append(",".join(current))
            current, size, added = [], 0, len(claim_id.encode())
        current.append(claim_id)
        size += added
    if current:
        chunks.append(",".join(current))
    return chunks


def notify_claims_final(conn: Connection, claim_ids: Sequence[str]) -> None:
    """Tell the web processes, at commit, that these claims reached a final state (PostgreSQL only)."""
    if not claim_ids or not is_postgres(conn):
        return
    for payload in payload_chunks(claim_ids):
        conn.execute(sql_select(func.pg_notify(CLAIMS_FINAL, payload)))


def notify_outbox(conn: Connection) -> None:
    """Tell the relay, at commit, that status updates were queued (PostgreSQL only)."""
    if is_postgres(conn):
        conn.execute(sql_select(func.pg_notify(OUTBOX, "")))


class ChannelListener:
    """A daemon thread LISTENing on one channel on its own PostgreSQL connection; started on first use."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_final: Callable[[list[str]], None],
        on_gap: Callable[[], None],
        channel: str = CLAIMS_FINAL,
    ) -> None:
        self.engine = engine
        self.on_final = on_final  # the payloads' comma-separated parts (claim ids on CLAIMS_FINAL)
        self.on_gap = on_gap
        self.channel = channel
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._wake_reader, self._wake_writer = socket.socketpair()  # ends a select() at once on stop
        self._thread: threading.Thread | None = None
        self.connected = threading.Event()

    def ensure_started(self) -> None:
        """Start the listening thread unless it runs already (gunicorn forks: call it in the worker)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                while select.select([self._wake_reader], [], [], 0)[0]:
                    self._wake_reader.recv(64)
                self._thread = threading.Thread(
                    target=self._run, name=f"listener-{self.channel}", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = IDLE_CHECK_SECONDS + 1) -> None:
        """Stop listening and close the connection."""
        self._stopping.set()
        self._wake_writer.send(b"x")
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        delay = RECONNECT_MIN_SECONDS
        while not self._stopping.is_set():
            try:
                connection = self._connect()
            except Exception as exc:
                log.warning("listener cannot connect", extra={"error": repr(exc), "retry_in_s": delay})
                self._stopping.wait(delay)
                delay = min(delay * 2, RECONNECT_MAX_SECONDS)
                continue
            delay = RECONNECT_MIN_SECONDS
            try:
                self.connected.set()
                self.on_gap()  # anything that became final before LISTEN took effect was not heard
                self._listen(connection)
            except Exception as exc:
                if not self._stopping.is_set():
                    log.warning("listener lost its connection", extra={"error": repr(exc)})
            finally:
                self.connected.clear()
                _close_quietly(connection)
            if not self._stopping.is_set():
                self.on_gap()
                self._stopping.wait(delay)

    def _connect(self) -> Any:
        # Its own connection, outside the engine's pool: it is held for the life of the process.
        dialect = self.engine.dialect
        args, kwargs = dialect.create_connect_args(self.engine.url)
        kwargs = {**kwargs, **KEEPALIVE_ARGS, "connect_timeout": CONNECT_TIMEOUT_SECONDS}
        connection: Any = dialect.connect(*args, **kwargs)
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f"LISTEN {self.channel}")
        return connection

    def _listen(self, connection: Any) -> None:
        while not self._stopping.is_set():
            readable, _, _ = select.select([connection, self._wake_reader], [], [], IDLE_CHECK_SECONDS)
            if connection not in readable:
                continue
            connection.poll()
            ids: list[str] = []
            heard = bool(connection.notifies)
            while connection.notifies:
                ids.extend(part for part in connection.notifies.pop(0).payload.split(",") if part)
            if heard:
                self.on_final(ids)


def _close_quietly(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # already broken: nothing to release
        log.debug("closing a listener connection failed", exc_info=True)
