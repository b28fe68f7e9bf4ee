"""gunicorn's threaded worker, reading each request in its event loop so slow clients hold no thread.

Stock ``gthread`` (gunicorn 27) gives a new connection a thread as soon as its first byte arrives,
and that thread then blocks until the request head is complete, with no deadline: two sockets
trickling header bytes held both threads of a small worker (issue 7). Here the worker's event loop
reads every request (the head, and a body announced by Content-Length up to what the app accepts)
with non-blocking reads, and hands it to a thread only once it is complete (see
``app.web.request_framing``). Slow or idle clients therefore cost a file descriptor and a buffer,
never a thread; a request that has not fully arrived ``WEB_REQUEST_READ_TIMEOUT_SECONDS`` after
it started is answered ``408`` and closed. Bodies the loop does not buffer (chunked ones) are read
by the thread with that timeout on each read, so a stalled sender is cut off too.

What remains bounded only by numbers: at most ``worker_connections`` (1000) connections per process
are open at once, and each slow one lasts up to the read timeout. An internet-facing deployment
should still put a buffering reverse proxy in front (see the README).

Used through ``worker_class`` in ``app.observability.gunicorn_conf``. It relies on gthread's
internals (``enqueue_req``, ``murder_pending``, ``TConn``), so ``pyproject.toml`` pins gunicorn 27.
"""

from __future__ import annotations

import errno
import json
import logging
import selectors
import socket
import time
from collections import deque
from functools import partial
from typing import Any

from gunicorn.workers.gthread import TConn, ThreadWorker

from app.config import load_settings
from app.web.loop_liveness import HeadLimits, PoolWatch, liveness_answer, liveness_probe
from app.web.request_framing import RequestFraming

log = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
# gunicorn's own fallbacks when a limit is configured as 0 (unlimited).
DEFAULT_FIELD_BYTES = 8190
DEFAULT_LINE_BYTES = 8190


class BufferedConnection(TConn):  # type: ignore[misc]
    """A client connection plus the bytes of its next request that the event loop has read."""

    def __init__(self, cfg: Any, sock: socket.socket, client: Any, server: Any, read_timeout: float) -> None:
        super().__init__(cfg, sock, client, server)
        self.read_ahead = bytearray()
        self.read_deadline = 0.0
        self.thread_read_timeout = read_timeout

    def init(self) -> None:
        """Called by the thread before parsing: give the parser what the event loop read."""
        super().init()
        if self.read_ahead:
            self.parser.unreader.unread(bytes(self.read_ahead))
            self.read_ahead = bytearray()
        self.sock.settimeout(self.thread_read_timeout)


def max_head_bytes(cfg: Any) -> int:
    """The longest request head gunicorn's parser accepts with these limits."""
    line = cfg.limit_request_line or DEFAULT_LINE_BYTES
    field = cfg.limit_request_field_size or DEFAULT_FIELD_BYTES
    return int(line + 2 + cfg.limit_request_fields * (field + 2) + 2)


def request_timeout_response(seconds: float) -> bytes:
    """The 408 sent to a client whose request did not arrive in time."""
    body = json.dumps(
        {"error": "request_timeout", "message": f"the request did not arrive within {seconds:g} seconds"}
    ).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    return head + body


class BufferingThreadWorker(ThreadWorker):  # type: ignore[misc]
    """gthread with requests read by the event loop, under a deadline, before any thread sees them."""

    @classmethod
    def check_config(cls, cfg: Any, log: Any) -> None:
        """Refuse what the event-loop reads cannot serve: TLS and HTTP/2 are terminated in front."""
        super().check_config(cfg, log)
        if cfg.is_ssl or list(cfg.http_protocols) != ["h1"] or cfg.http2_cleartext != "off":
            raise RuntimeError(f"{cls.__name__} serves plain HTTP/1.1; terminate TLS and HTTP/2 in a proxy")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = load_settings()
        self.read_timeout = settings.web_request_read_timeout_seconds
        # One byte more than WEBHOOK_MAX_BYTES: the views read that much to tell a body that is too large.
        self.framing = RequestFraming(max_head_bytes(self.cfg), settings.webhook_max_bytes + 1)
        self.timeout_answer = request_timeout_response(self.read_timeout)
        self.reading: deque[BufferedConnection] = deque()  # ordered by deadline
        self.pool_watch = PoolWatch(settings.web_liveness_stall_seconds)
        self.head_limits = HeadLimits(
            self.cfg.limit_request_line, self.cfg.limit_request_field_size, self.cfg.limit_request_fields
        )

    def accept(self, listener: socket.socket) -> None:
        """Accept a connection and start reading its first request in the event loop."""
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        self.enqueue_req(
            BufferedConnection(self.cfg, client_sock, client_addr, listener.getsockname(), self.read_timeout)
        )

    def enqueue_req(self, conn: BufferedConnection) -> None:
        """Read the connection's next request in the event loop; a thread gets it once complete.

        gthread calls this for a new connection, a kept-alive one that became readable, and one
        whose previous request left bytes of the next in the parser's buffer.
        """
        if conn.parser is not None:
            conn.read_ahead += conn.parser.unreader.take_buffered()
        conn.read_deadline = time.monotonic() + self.read_timeout
        conn.sock.setblocking(False)
        self.reading.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_request_bytes, conn))
        if self.framing.is_complete(conn.read_ahead):
            self._hand_to_thread(conn)
        else:
            self._read_request_bytes(conn, conn.sock)  # often already there: no need to wait a loop

    def _read_request_bytes(self, conn: BufferedConnection, _sock: object) -> None:
        try:
            data = conn.sock.recv(READ_CHUNK_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._close_reading(conn)
            return
        if not data:  # the client went away before its request was complete
            self._close_reading(conn)
            return
        conn.read_ahead += data
        if self.framing.is_complete(conn.read_ahead):
            self._hand_to_thread(conn)

    def _stop_reading(self, conn: BufferedConnection) -> None:
        self.poller.unregister(conn.sock)
        self.reading.remove(conn)

    def _hand_to_thread(self, conn: BufferedConnection) -> None:
        probe = liveness_probe(conn.read_ahead, self.head_limits)
        if probe is not None:  # answered here, not behind the pool's queue (see loop_liveness)
            _answer_and_drain(conn.sock, liveness_answer(probe, self.pool_watch.stalled_for()))
            self._close_reading(conn)
            return
        self._stop_reading(conn)
        conn.data_ready = True  # gthread must not wait for data the loop already has
        self.pool_watch.handed()
        super().enqueue_req(conn)

    def handle(self, conn: BufferedConnection) -> Any:
        """In a pool thread: note that the pool made progress, then serve as gthread does."""
        self.pool_watch.started()
        return super().handle(conn)

    def _close_reading(self, conn: BufferedConnection) -> None:
        self._stop_reading(conn)
        self.nr_conns -= 1
        conn.close()

    def murder_pending(self) -> None:
        """Besides gthread's own: answer 408 to requests still arriving after the read timeout."""
        super().murder_pending()
        now = time.monotonic()
        while self.reading and self.reading[0].read_deadline <= now:
            conn = self.reading[0]
            _answer_and_drain(conn.sock, self.timeout_answer)
            log.info("request not received in time; closing", extra={"client": str(conn.client)})
            self._close_reading(conn)


def _answer_and_drain(sock: socket.socket, answer: bytes) -> None:
    """Send a short answer without blocking, then discard unread input so closing does not reset it."""
    try:
        sock.send(answer)  # a few hundred bytes into an idle send buffer: never partial in practice
        for _ in range(16):
            if not sock.recv(READ_CHUNK_BYTES):
                break
    except OSError:  # BlockingIOError included: nothing more to read
        pass
