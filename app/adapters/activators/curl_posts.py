"""Many POSTs to one URL at once, on libcurl's multi interface (pycurl): the HTTP activator's transport.

Why libcurl rather than requests on a thread pool: a worker pays the client's CPU for every grant of
a burst, on the same cores as the web, PostgreSQL and the rest of the pipeline. Against the
simulator's operator endpoint, a grant cost 0.13 ms of client CPU here against 0.58 ms with
requests (its adapter, response objects and cookie handling, plus a thread per grant in flight).
One thread drives every request of a batch; connections are kept alive between batches.

This module knows HTTP, not grants: it sends bodies, each with its own ``Idempotency-Key``, and says
for each what came back (``Answered``), that nothing did (``NoAnswer``: the request may or may not
have been applied) or that it could not be sent at all (``NotSent``). The HTTP activator reads that.

Timeouts: ``connect_timeout`` bounds opening a connection; ``read_timeout`` bounds the exchange once
connected (sending the request and reading the whole answer), so a slow endpoint costs a grant at
most their sum. Redirects are never followed and proxies are never used (libcurl would otherwise
read ``http_proxy`` from the environment). Handles are not shared between threads or processes: each
caller borrows an engine of its own, and a forked child starts with none.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import certifi
import pycurl
from requests.exceptions import InvalidHeader
from requests.utils import check_header_validity

__all__ = ["Answered", "CurlPoster", "NoAnswer", "NotSent", "PostResult"]

# libcurl errors that mean the request never left: a URL or option libcurl cannot use.
_NOT_SENT_ERRORS = {
    pycurl.E_UNSUPPORTED_PROTOCOL: "InvalidURL",
    pycurl.E_URL_MALFORMAT: "InvalidURL",
    pycurl.E_BAD_FUNCTION_ARGUMENT: "InvalidURL",
}
NO_ANSWER_TIMEOUT = "ReadTimeout"
NO_ANSWER_CONNECT_TIMEOUT = "ConnectTimeout"
NO_ANSWER_CONNECTION = "ConnectionError"
POLL_SECONDS = 0.05  # the longest wait on sockets before checking each exchange's deadline
RETRY_AFTER = b"retry-after:"


@dataclass(frozen=True, slots=True)
class Answered:
    """The endpoint answered: its status, its Retry-After header (if any) and at most the cap of its body."""

    status: int
    retry_after: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class NoAnswer:
    """No (complete) answer: refused, reset or timed out. The request may have been applied."""

    error: str


@dataclass(frozen=True, slots=True)
class NotSent:
    """The request could not be sent at all (a header or URL that is not valid); nothing left."""

    error: str


PostResult = Answered | NoAnswer | NotSent


class CurlPoster:
    """POSTs bodies to one URL, fixed headers plus an ``Idempotency-Key`` each, ``concurrency`` at once."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        *,
        connect_timeout_seconds: float,
        read_timeout_seconds: float,
        concurrency: int,
        max_answer_bytes: int,
    ) -> None:
        self._unsendable = _invalid_header(headers)
        self._settings = _EngineSettings(
            url=url,
            # "Expect:" stops libcurl waiting for a 100-continue that a small JSON body never needs.
            header_lines=(*(f"{name}: {value}" for name, value in headers.items()), "Expect:"),
            concurrency=concurrency,
            connect_timeout=connect_timeout_seconds,
            read_timeout=read_timeout_seconds,
            max_answer_bytes=max_answer_bytes,
        )
        self._idle: list[_Engine] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def post_all(self, posts: Sequence[tuple[str, bytes]]) -> list[tuple[PostResult, float]]:
        """Each (idempotency key, body) POSTed once; its result and seconds taken, in order."""
        results: list[tuple[PostResult, float] | None] = [None] * len(posts)
        sendable: list[int] = []
        for index, (key, _) in enumerate(posts):
            unsendable = self._unsendable or _invalid_header({"Idempotency-Key": key})
            if unsendable:
                results[index] = (NotSent(unsendable), 0.0)
            else:
                sendable.append(index)
        if sendable:
            engine = self._borrow()
            try:
                done = engine.run([posts[i] for i in sendable])
            except BaseException:
                engine.close()  # its handles' state is unknown now: never lend it again
                raise
            self._give_back(engine)
            for index, result in zip(sendable, done, strict=True):
                results[index] = result
        return [result for result in results if result is not None]

    def close(self) -> None:
        """Close every idle engine (and its kept-alive connections); later calls open new ones."""
        with self._lock:
            idle, self._idle = self._idle, []
        for engine in idle:
            engine.close()

    def _borrow(self) -> _Engine:
        with self._lock:
            if os.getpid() != self._pid:  # a forked child: the parent's connections are not ours
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return _Engine(self._settings)

    def _give_back(self, engine: _Engine) -> None:
        with self._lock:
            if os.getpid() == self._pid:
                self._idle.append(engine)
                return
        engine.close()


def _invalid_header(headers: Mapping[str, str]) -> str | None:
    """Why these headers cannot be sent (as requests would refuse them), or None."""
    for header in headers.items():
        try:
            check_header_validity(header)
        except InvalidHeader:
            return "InvalidHeader"
    return None


@dataclass(slots=True)
class _Exchange:
    """One POST in flight on a handle."""

    index: int
    started: float
    connected: float | None = None  # when the connection was ready (opened or reused) and sending began
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    retry_after: bytes | None = None


@dataclass(frozen=True, slots=True)
class _EngineSettings:
    """What every engine of a poster shares: where, with which headers, how many at once, how long."""

    url: str
    header_lines: tuple[str, ...]
    concurrency: int
    connect_timeout: float
    read_timeout: float
    max_answer_bytes: int


class _Engine:
    """A multi handle and `concurrency` easy handles: runs one caller's batch at a time."""

    def __init__(self, settings: _EngineSettings) -> None:
        self._header_lines = list(settings.header_lines)
        self._read_timeout = settings.read_timeout
        self._max_answer_bytes = settings.max_answer_bytes
        self._multi = pycurl.CurlMulti()
        self._free = [
            self._handle(settings.url, settings.connect_timeout, settings.read_timeout)
            for _ in range(settings.concurrency)
        ]
        self._busy: dict[pycurl.Curl, _Exchange] = {}

    def _handle(self, url: str, connect_timeout: float, read_timeout: float) -> pycurl.Curl:
        handle = pycurl.Curl()
        handle.setopt(pycurl.URL, url)
        handle.setopt(pycurl.POST, 1)
        handle.setopt(pycurl.FOLLOWLOCATION, 0)
        handle.setopt(pycurl.PROXY, "")  # no proxy, whatever the environment says
        handle.setopt(pycurl.NOSIGNAL, 1)
        handle.setopt(pycurl.CAINFO, certifi.where())
        handle.setopt(pycurl.CONNECTTIMEOUT_MS, max(1, int(connect_timeout * 1000)))
        # A backstop only: the read deadline is checked by `run`, from when the connection is ready.
        handle.setopt(pycurl.TIMEOUT_MS, max(1, int((connect_timeout + read_timeout) * 1000) + 1000))
        return handle

    def run(self, posts: Sequence[tuple[str, bytes]]) -> list[tuple[PostResult, float]]:
        results: list[tuple[PostResult, float] | None] = [None] * len(posts)
        waiting = list(reversed(range(len(posts))))
        while waiting or self._busy:
            while waiting and self._free:
                index = waiting.pop()
                self._start(self._free.pop(), index, *posts[index])
            self._perform()
            for handle, error in self._finished():
                self._end(handle, error, results)
            # After the finished are released: a late handle is one still running.
            for handle in self._late():
                self._end(handle, pycurl.E_OPERATION_TIMEDOUT, results)
            if self._busy:
                self._multi.select(POLL_SECONDS)
        return [result for result in results if result is not None]

    def close(self) -> None:
        for handle in [*self._free, *self._busy]:
            handle.close()
        self._multi.close()
        self._free, self._busy = [], {}

    def _start(self, handle: pycurl.Curl, index: int, key: str, body: bytes) -> None:
        exchange = _Exchange(index, time.monotonic())
        handle.setopt(pycurl.HTTPHEADER, [*self._header_lines, f"Idempotency-Key: {key}"])
        handle.setopt(pycurl.POSTFIELDS, body)
        handle.setopt(pycurl.WRITEFUNCTION, self._writer(exchange))
        handle.setopt(pycurl.HEADERFUNCTION, self._header_reader(exchange))
        handle.setopt(pycurl.PREREQFUNCTION, self._on_connected(exchange))
        self._busy[handle] = exchange
        self._multi.add_handle(handle)

    def _writer(self, exchange: _Exchange) -> Callable[[bytes], int | None]:
        cap = self._max_answer_bytes

        def write(chunk: bytes) -> int | None:
            exchange.chunks.append(chunk)
            exchange.size += len(chunk)
            if exchange.size > cap:
                return 0  # anything but len(chunk) makes libcurl stop reading the answer
            return None

        return write

    @staticmethod
    def _on_connected(exchange: _Exchange) -> Callable[[str, str, int, int], int]:
        def connected(_ip: str, _local_ip: str, _port: int, _local_port: int) -> int:
            exchange.connected = time.monotonic()
            return int(pycurl.PREREQFUNC_OK)

        return connected

    @staticmethod
    def _header_reader(exchange: _Exchange) -> Callable[[bytes], None]:
        def read(line: bytes) -> None:
            if line[:5] == b"HTTP/":  # a new status line (after a 1xx): forget the headers before it
                exchange.retry_after = None
            elif line[: len(RETRY_AFTER)].lower() == RETRY_AFTER:
                exchange.retry_after = line[len(RETRY_AFTER) :].strip()

        return read

    def _perform(self) -> None:
        while self._multi.perform()[0] == pycurl.E_CALL_MULTI_PERFORM:
            pass

    def _finished(self) -> list[tuple[pycurl.Curl, int]]:
        finished: list[tuple[pycurl.Curl, int]] = []
        while True:
            queued, ok, failed = self._multi.info_read()
            finished += [(handle, 0) for handle in ok]
            finished += [(handle, errno) for handle, errno, _ in failed]
            if not queued:
                return finished

    def _late(self) -> list[pycurl.Curl]:
        """Handles connected longer than the read timeout ago (connecting has its own timeout)."""
        now = time.monotonic()
        return [
            handle
            for handle, exchange in self._busy.items()
            if exchange.connected is not None and now - exchange.connected > self._read_timeout
        ]

    def _end(self, handle: pycurl.Curl, error: int, results: list[tuple[PostResult, float] | None]) -> None:
        """Take a handle off the multi (aborting a running exchange), free it, record its result."""
        exchange = self._busy.pop(handle)
        self._multi.remove_handle(handle)
        self._free.append(handle)
        results[exchange.index] = (self._result(handle, exchange, error), self._seconds(exchange))

    def _result(self, handle: pycurl.Curl, exchange: _Exchange, error: int) -> PostResult:
        status = int(handle.getinfo(pycurl.RESPONSE_CODE))
        # Once a status line arrived, the answer counts, even if its body was cut short (by the cap,
        # the network or the read timeout): the status is what the contract reads.
        if error == 0 or status:
            body = b"".join(exchange.chunks)[: self._max_answer_bytes]
            retry_after = exchange.retry_after.decode("latin-1") if exchange.retry_after is not None else None
            return Answered(status, retry_after, body)
        if error in _NOT_SENT_ERRORS:
            return NotSent(_NOT_SENT_ERRORS[error])
        if error == pycurl.E_OPERATION_TIMEDOUT:
            connected = exchange.connected is not None
            return NoAnswer(NO_ANSWER_TIMEOUT if connected else NO_ANSWER_CONNECT_TIMEOUT)
        return NoAnswer(NO_ANSWER_CONNECTION)  # refused, unresolvable, reset, or not HTTP at all

    @staticmethod
    def _seconds(exchange: _Exchange) -> float:
        return time.monotonic() - exchange.started
