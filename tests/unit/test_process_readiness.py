"""Readiness checks of the processes the demo, the tests and the benchmarks start."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from app.processes import free_port, http_ready


class _Answers(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize(
    ("status", "ready"), [(200, True), (204, True), (404, False), (401, False), (503, False)]
)
def test_a_url_is_ready_only_when_it_answers_success_not_when_another_server_holds_the_port(
    server: ThreadingHTTPServer, status: int, ready: bool
) -> None:
    # Seen in CI: the web process could not bind its port, the simulator answered there with 404,
    # and the run went on against the simulator (the first webhook then "was not accepted": 404).
    _Answers.status = status
    assert http_ready(f"http://127.0.0.1:{server.server_address[1]}/healthz")() is ready


def test_nothing_listening_is_not_ready() -> None:
    assert http_ready(f"http://127.0.0.1:{free_port()}/healthz")() is False


def test_free_ports_handed_out_in_one_process_are_all_different() -> None:
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
