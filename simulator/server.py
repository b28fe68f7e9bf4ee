"""Running the simulator as an HTTP server: embedded in a thread (tests, demo) or in the foreground (CLI).

A werkzeug server on a pool of request threads is enough: the simulator must serve the rate-limited
traffic of one tenant (50 requests per 10 s by default) plus control calls, must let an injected
timeout sleep in one request thread while others are served, and, as the operator's platform in
benchmarks, takes a POST per reward grant on the same cores as promobridge. werkzeug closes every
connection, so each grant is a new connection; its threaded server starts a thread for each, and
its accept loop waits for that thread to start. A pool of threads that live on costs 0.75 instead
of 0.90 ms of CPU per grant (measured), and accepts the next connection at once.
"""

from __future__ import annotations

import queue
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Self

from flask import Flask
from werkzeug.serving import BaseWSGIServer, ThreadedWSGIServer, WSGIRequestHandler

from simulator.app import create_simulator_app
from simulator.config import DEFAULT_HOST, DEFAULT_PORT, SimulatorConfig
from simulator.context import state_of
from simulator.state import SimulatorState

STOP_POLL_SECONDS = 0.5  # how often the foreground server checks for a stop signal
SHUTDOWN_POLL_SECONDS = 0.05  # how often the serving loop checks for stop(); bounds stop()'s latency
THREAD_JOIN_TIMEOUT_SECONDS = 5.0
# Request threads: enough for every grant promobridge's workers send at once (worker processes times
# REWARD_ACTIVATOR_CONCURRENCY, 64 with the defaults) while each sleeps its latency, plus Optimove and
# control calls beside them. A connection beyond them waits for a free thread.
REQUEST_THREADS = 128


class _QuietRequestHandler(WSGIRequestHandler):
    """Skips werkzeug's per-request access log; the inspection API counts requests instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Do not log successful or failed requests line by line."""


class _DaemonThreadPool:
    """Up to `limit` daemon threads that live on and run submitted calls in order of arrival.

    Not ``ThreadPoolExecutor``: its threads are joined when the interpreter exits, so a request
    sleeping an injected timeout would hold up the exit of every test run that embeds a simulator.
    Like it, a thread is started only when none is idle.
    """

    def __init__(self, limit: int, name: str) -> None:
        self._limit, self._name = limit, name
        self._calls: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._idle = threading.Semaphore(0)
        self._started = 0
        self._lock = threading.Lock()

    def submit(self, call: Callable[[], None]) -> None:
        self._calls.put(call)
        if self._idle.acquire(blocking=False):
            return
        with self._lock:
            if self._started < self._limit:
                self._started += 1
                threading.Thread(target=self._work, name=f"{self._name}-{self._started}", daemon=True).start()

    def _work(self) -> None:
        while True:
            self._calls.get()()
            self._idle.release()


class _PooledWSGIServer(ThreadedWSGIServer):
    """werkzeug's threaded server, each connection handled on a thread of a pool, not a new thread."""

    def __init__(self, host: str, port: int, app: Flask) -> None:
        super().__init__(host, port, app, handler=_QuietRequestHandler)
        self._pool = _DaemonThreadPool(REQUEST_THREADS, "simulator-request")

    def process_request(self, request: socket.socket, client_address: tuple[str, int]) -> None:  # type: ignore[override]
        # process_request_thread is what socketserver's per-connection thread runs: handle, report
        # an error, close the connection.
        self._pool.submit(lambda: self.process_request_thread(request, client_address))


class SimulatorServer:
    """One simulator listening on ``host:port`` (port 0 picks a free one), served from a daemon thread.

    The socket is bound on construction, so ``url`` is known before ``start()``.
    """

    def __init__(self, config: SimulatorConfig, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.config = config
        self.app = create_simulator_app(config)
        self._host = host
        self._server: BaseWSGIServer = _PooledWSGIServer(host, port, self.app)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:8900``."""
        return f"http://{self._host}:{self._server.server_port}"

    @property
    def optimove_url(self) -> str:
        """What promobridge's ``OPTIMOVE_API_URL`` should be set to."""
        return f"{self.url}/current"

    @property
    def optipromo_url(self) -> str:
        """What promobridge's ``OPTIPROMO_API_URL`` should be set to."""
        return f"{self.url}/optipromo"

    @property
    def operator_grants_url(self) -> str:
        """What promobridge's ``REWARD_ACTIVATOR_URL`` should be set to (the simulated operator platform)."""
        return f"{self.url}/_operator/grants"

    @property
    def state(self) -> SimulatorState:
        """The in-memory state, for tests running in the same process."""
        return state_of(self.app)

    def start(self) -> Self:
        """Serve in a daemon thread; returns at once."""
        if self._thread is not None:
            raise RuntimeError("simulator server already started")
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
            name=f"simulator-{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting requests and release the port (requests in flight finish on their own)."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(THREAD_JOIN_TIMEOUT_SECONDS)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def serve_forever(config: SimulatorConfig, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve in the foreground until SIGTERM or SIGINT, then stop cleanly."""
    stop_requested = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()

    server = SimulatorServer(config, host, port)
    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.start()
        print(f"simulator listening on {server.url}", flush=True)
        while not stop_requested.wait(STOP_POLL_SECONDS):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
