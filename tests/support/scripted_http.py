"""A tiny real HTTP server whose answers each test scripts, for testing HTTP clients without mocks.

It runs werkzeug's threaded development server on 127.0.0.1 with an ephemeral port, records every
request it receives, and answers from a queue of ``Scripted`` responses (then from a fallback). A
response can be delayed, or can reset the TCP connection (RST via ``SO_LINGER (1, 0)``) after the
request was read, which is how "the request reached the server but the answer was lost" looks.

    with ScriptedHTTPServer() as server:
        server.enqueue(Scripted(status=429, headers={"Retry-After": "3"}))
        ...  # point the client at server.url
        assert server.requests[0].headers["X-API-KEY"] == "k"
"""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from werkzeug.datastructures import Headers
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

__all__ = ["RecordedRequest", "Responder", "Scripted", "ScriptedHTTPServer"]

SHUTDOWN_POLL_SECONDS = 0.02  # how often serve_forever notices stop(); werkzeug's 0.5 s slows every test
_HANDLER_KEY = "scripted_http.handler"
_LINGER_RESET = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: a JSON body (``json``) or raw ``body``, optional delay or connection reset."""

    status: int = 200
    json: Any = None
    body: bytes | str = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_seconds: float = 0.0
    reset: bool = False

    def payload(self) -> bytes:
        """The bytes to send: ``json`` encoded when given, else ``body``."""
        if self.json is not None:
            return json.dumps(self.json).encode()
        return self.body.encode() if isinstance(self.body, str) else self.body


@dataclass(frozen=True)
class RecordedRequest:
    """What the server received: method, path, decoded query, headers and body."""

    method: str
    path: str
    query: dict[str, str]
    headers: Headers
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON, or None when it is empty."""
        return json.loads(self.body) if self.body else None


Responder = Callable[[RecordedRequest], Scripted]


class _QuietHandler(WSGIRequestHandler):
    """Exposes itself to the app (to reset its socket) and keeps the test output clean."""

    def make_environ(self) -> Any:
        environ = super().make_environ()
        environ[_HANDLER_KEY] = self
        return environ

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def connection_dropped(self, error: BaseException, environ: Any = None) -> None:
        self.close_connection = True


class ScriptedHTTPServer:
    """A real HTTP server on 127.0.0.1 answering from a script; use it as a context manager."""

    def __init__(self, fallback: Scripted | Responder | None = None) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[Scripted | Responder] = deque()
        self._fallback: Scripted | Responder = fallback or Scripted(status=599, body="unscripted request")
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            args=(SHUTDOWN_POLL_SECONDS,),
            name="scripted-http",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321``."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def enqueue(self, *answers: Scripted | Responder) -> None:
        """Answer the next requests, in order, with these responses (or responder functions)."""
        with self._lock:
            self._script.extend(answers)

    def set_fallback(self, answer: Scripted | Responder) -> None:
        """Answer with this once the queue is empty."""
        with self._lock:
            self._fallback = answer

    def paths(self) -> list[str]:
        """The paths received so far, in order."""
        with self._lock:
            return [request.path for request in self.requests]

    def start(self) -> ScriptedHTTPServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; delayed answers still sleeping are cut short."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> ScriptedHTTPServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _next_answer(self, recorded: RecordedRequest) -> Scripted:
        with self._lock:
            self.requests.append(recorded)
            answer = self._script.popleft() if self._script else self._fallback
        return answer(recorded) if callable(answer) else answer

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.args.items()),
            headers=Headers(request.headers),
            body=request.get_data(),
        )
        answer = self._next_answer(recorded)
        if answer.delay_seconds:
            self._stopping.wait(answer.delay_seconds)
        if answer.reset:
            _reset_connection(environ)
        response = Response(answer.payload(), status=answer.status, headers=dict(answer.headers))
        if answer.json is not None:
            response.content_type = "application/json"
        return response(environ, start_response)


def _reset_connection(environ: dict[str, Any]) -> None:
    """Abort the TCP connection with an RST, as a crashed proxy or server would."""
    handler: _QuietHandler = environ[_HANDLER_KEY]
    sock: socket.socket = environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    handler.rfile.close()  # the reader holds a reference; without this close() would not close
    sock.close()
    handler.close_connection = True
    raise ConnectionResetError("scripted connection reset")  # werkzeug treats this as a dropped client
