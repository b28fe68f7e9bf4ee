"""Running the simulator as an HTTP server: embedded in a thread (tests, demo) or in the foreground (CLI).

A threaded werkzeug server is enough: the simulator must serve the rate-limited traffic of one tenant
(50 requests per 10 s by default) plus control calls, and must let an injected timeout sleep in one
request thread while others are served.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType, TracebackType
from typing import Self

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from simulator.app import create_simulator_app
from simulator.config import DEFAULT_HOST, DEFAULT_PORT, SimulatorConfig
from simulator.context import state_of
from simulator.state import SimulatorState

STOP_POLL_SECONDS = 0.5  # how often the foreground server checks for a stop signal
SHUTDOWN_POLL_SECONDS = 0.05  # how often the serving loop checks for stop(); bounds stop()'s latency
THREAD_JOIN_TIMEOUT_SECONDS = 5.0


class _QuietRequestHandler(WSGIRequestHandler):
    """Skips werkzeug's per-request access log; the inspection API counts requests instead."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Do not log successful or failed requests line by line."""


class SimulatorServer:
    """One simulator listening on ``host:port`` (port 0 picks a free one), served from a daemon thread.

    The socket is bound on construction, so ``url`` is known before ``start()``.
    """

    def __init__(self, config: SimulatorConfig, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.config = config
        self.app = create_simulator_app(config)
        self._host = host
        self._server: BaseWSGIServer = make_server(
            host, port, self.app, threaded=True, request_handler=_QuietRequestHandler
        )
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
