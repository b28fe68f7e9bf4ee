"""The HTTP activator's transport against real servers: kept-alive connections, callers in threads
and in forked processes, and what it says when nothing (or no complete answer) came back."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.adapters.activators.curl_posts import Answered, CurlPoster, NoAnswer, NotSent
from tests.support.scripted_http import Scripted, ScriptedHTTPServer

HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer t0ken-for-tests"}


class KeepAliveServer(ThreadingHTTPServer):
    """An HTTP/1.1 server that keeps connections open and counts them (werkzeug's closes each)."""

    daemon_threads = True
    request_queue_size = 64  # every caller's connections at once, without a SYN dropped from the backlog

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _KeepAliveHandler)
        self.connections = 0
        self.requests: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/grants"


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: KeepAliveServer

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            self.server.requests.append((self.headers["Idempotency-Key"], body))
        answer = b'{"id": "tx"}'
        self.send_response(201)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def keep_alive() -> Iterator[KeepAliveServer]:
    server = KeepAliveServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def poster(url: str, *, concurrency: int = 4, read_timeout: float = 2.0) -> CurlPoster:
    return CurlPoster(
        url,
        HEADERS,
        connect_timeout_seconds=1.0,
        read_timeout_seconds=read_timeout,
        concurrency=concurrency,
        max_answer_bytes=1024,
    )


def posts(prefix: str, count: int) -> list[tuple[str, bytes]]:
    return [(f"{prefix}-{n}", b'{"n": %d}' % n) for n in range(count)]


def test_connections_are_kept_alive_across_batches(keep_alive: KeepAliveServer) -> None:
    sender = poster(keep_alive.url, concurrency=4)
    try:
        for batch in range(5):
            results = sender.post_all(posts(f"b{batch}", 8))
            assert [result for result, _ in results] == [Answered(201, None, b'{"id": "tx"}')] * 8
    finally:
        sender.close()

    assert len(keep_alive.requests) == 40
    assert keep_alive.connections <= 4, "40 POSTs on at most `concurrency` connections"
    assert dict(keep_alive.requests)["b3-5"] == b'{"n": 5}', "each key carries its own body"


def test_callers_in_threads_each_get_their_own_answers(keep_alive: KeepAliveServer) -> None:
    sender = poster(keep_alive.url, concurrency=3)
    results: dict[str, list[object]] = {}

    def send(prefix: str) -> None:
        results[prefix] = [result for result, _ in sender.post_all(posts(prefix, 10))]

    threads = [threading.Thread(target=send, args=(f"t{n}",)) for n in range(4)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        sender.close()

    assert sorted(results) == ["t0", "t1", "t2", "t3"]
    unanswered = [r for rs in results.values() for r in rs if r != Answered(201, None, b'{"id": "tx"}')]
    assert unanswered == []
    expected = sorted(f"t{t}-{n}" for t in range(4) for n in range(10))
    assert sorted(key for key, _ in keep_alive.requests) == expected


def test_a_forked_child_opens_connections_of_its_own(keep_alive: KeepAliveServer) -> None:
    sender = poster(keep_alive.url, concurrency=2)
    try:
        assert all(isinstance(r, Answered) for r, _ in sender.post_all(posts("parent", 2)))
        pid = os.fork()
        if pid == 0:  # the child: exit code 0 only if its POSTs were answered on its own connections
            ok = False
            try:
                answers = [result for result, _ in sender.post_all(posts("child", 3))]
                ok = all(isinstance(r, Answered) and r.status == 201 for r in answers)
            finally:
                os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        again = sender.post_all(posts("parent-again", 2))
    finally:
        sender.close()

    assert all(isinstance(r, Answered) for r, _ in again), "the parent's connections still work"
    assert sum(key.startswith("child-") for key, _ in keep_alive.requests) == 3


def test_the_read_timeout_counts_from_the_connection_not_per_byte() -> None:
    with ScriptedHTTPServer() as server:
        server.enqueue(Scripted(status=201, delay_seconds=0.6), Scripted(status=201, delay_seconds=0.1))
        sender = poster(server.url + "/grants", concurrency=1, read_timeout=0.3)
        try:
            started = time.monotonic()
            [(late, seconds)] = sender.post_all(posts("slow", 1))
            elapsed = time.monotonic() - started
            [(prompt, _)] = sender.post_all(posts("prompt", 1))
        finally:
            sender.close()

    assert late == NoAnswer("ReadTimeout")
    assert 0.3 <= seconds < 0.6 and elapsed < 0.6, f"gave up after {elapsed:.2f} s"
    assert prompt == Answered(201, None, b"")


def test_nothing_is_sent_for_a_key_that_cannot_be_a_header(keep_alive: KeepAliveServer) -> None:
    sender = poster(keep_alive.url)
    try:
        results = sender.post_all([("bad\nkey", b"{}"), ("good", b"{}")])
    finally:
        sender.close()

    assert results[0] == (NotSent("InvalidHeader"), 0.0)
    assert isinstance(results[1][0], Answered)
    assert [key for key, _ in keep_alive.requests] == ["good"]


def test_a_closed_port_is_no_answer() -> None:
    sender = poster("http://127.0.0.1:9/grants")
    try:
        [(result, _)] = sender.post_all(posts("x", 1))
    finally:
        sender.close()

    assert result == NoAnswer("ConnectionError")


def test_a_connection_that_cannot_be_opened_in_time_is_a_connect_timeout() -> None:
    with socket.socket() as listener, socket.socket() as first:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)  # never accepted: once one connection waits, the kernel drops new SYNs
        first.connect(listener.getsockname())
        sender = CurlPoster(
            f"http://127.0.0.1:{listener.getsockname()[1]}/grants",
            HEADERS,
            connect_timeout_seconds=0.3,
            read_timeout_seconds=5.0,
            concurrency=1,
            max_answer_bytes=1024,
        )
        try:
            [(result, seconds)] = sender.post_all(posts("x", 1))
        finally:
            sender.close()

    assert result == NoAnswer("ConnectTimeout")
    assert seconds < 2.0
