"""`/healthz` as the event loop answers it: which requests it takes, its answers, a stalled pool."""

from __future__ import annotations

import json

import pytest

from app.web.loop_liveness import HeadLimits, LivenessProbe, PoolWatch, liveness_answer, liveness_probe


@pytest.mark.parametrize(
    ("request_bytes", "head_only"),
    [
        (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (b"GET /healthz?probe=k8s HTTP/1.1\r\nHost: x\r\n\r\n", False),
        (b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"GET /healthz HTTP/1.0\r\n\r\n", False),
        (b"GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n", False),
    ],
)
def test_a_plain_liveness_probe_is_taken_by_the_loop(request_bytes: bytes, head_only: bool) -> None:
    assert liveness_probe(request_bytes) == LivenessProbe(head_only=head_only)
    assert liveness_probe(bytearray(request_bytes)) == LivenessProbe(head_only=head_only)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz/ HTTP/1.1\r\nHost: x\r\n\r\n",  # the app's 404, as before
        b"GET /healthzz HTTP/1.1\r\n\r\n",
        b"GET /readyz HTTP/1.1\r\n\r\n",
        b"POST /healthz HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}",  # the app's 405
        b"GET /healthz HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",  # a body: the app decides
        b"GET /healthz HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\n\r\nGET /v1/claims/1 HTTP/1.1\r\n\r\n",  # pipelined: kept in order
        b"GET /healthz HTTP/2.0\r\n\r\n",
        b"GET  /healthz HTTP/1.1\r\n\r\n",  # malformed request line: gunicorn's 400
        b"GET /healthz HTTP/1.1\r\nBad Header : x\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nno colon\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",  # incomplete head
        b"get /healthz HTTP/1.1\r\n\r\n",
    ],
)
def test_anything_else_goes_to_the_app(request_bytes: bytes) -> None:
    assert liveness_probe(request_bytes) is None


LIMITS = HeadLimits(line=4094, field_size=8190, fields=100)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /healthz?" + b"q" * 4090 + b" HTTP/1.1\r\n\r\n",  # gunicorn's 414
        b"GET /healthz HTTP/1.1\r\nX-Padding: " + b"y" * 8191 + b"\r\n\r\n",  # gunicorn's 431
        b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-F-%d: 1\r\n" % n for n in range(101)) + b"\r\n",
    ],
)
def test_a_head_near_or_over_gunicorns_limits_gets_gunicorns_answer(request_bytes: bytes) -> None:
    assert liveness_probe(request_bytes, LIMITS) is None
    assert liveness_probe(request_bytes) is not None  # without limits it would have been taken


def test_a_probe_within_the_limits_is_taken() -> None:
    many = b"GET /healthz HTTP/1.1\r\n" + b"".join(b"X-F-%d: 1\r\n" % n for n in range(100)) + b"\r\n"
    assert liveness_probe(many, LIMITS) == LivenessProbe(head_only=False)


def _split(answer: bytes) -> tuple[list[str], bytes]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return head.decode().split("\r\n"), body


def test_an_alive_pool_answers_200_with_the_apps_liveness_body() -> None:
    lines, body = _split(liveness_answer(LivenessProbe(head_only=False), stalled_for=None))
    assert lines[0] == "HTTP/1.1 200 OK"
    assert json.loads(body) == {"status": "ok"}
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert headers["Content-Type"] == "application/json"
    assert headers["Content-Length"] == str(len(body))
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Content-Type-Options"] == "nosniff"  # as every answer of the app
    assert headers["Connection"] == "close"
    assert len(headers["X-Request-ID"]) == 32


def test_a_stalled_pool_answers_503_with_the_error_shape() -> None:
    lines, body = _split(liveness_answer(LivenessProbe(head_only=False), stalled_for=61.4))
    assert lines[0] == "HTTP/1.1 503 Service Unavailable"
    assert json.loads(body) == {
        "error": "stalled",
        "message": "requests have waited for a thread and none started for 61 s",
    }


def test_head_gets_the_headers_with_the_bodys_length_and_no_body() -> None:
    full = liveness_answer(LivenessProbe(head_only=False), stalled_for=None)
    lines, body = _split(liveness_answer(LivenessProbe(head_only=True), stalled_for=None))
    assert body == b""
    assert f"Content-Length: {len(_split(full)[1])}" in lines


def test_an_idle_pool_is_alive_however_long_it_was_idle() -> None:
    watch = PoolWatch(stall_seconds=5)
    watch.handed(now=0)
    watch.started(now=0)
    assert watch.stalled_for(now=10_000) is None


def test_work_waiting_is_no_stall_while_threads_keep_starting_requests() -> None:
    watch = PoolWatch(stall_seconds=5)
    for second in range(100):  # a burst: ten handed a second, eight started
        for _ in range(10):
            watch.handed(now=second)
        for _ in range(8):
            watch.started(now=second + 0.5)
    assert watch.stalled_for(now=100) is None


def test_work_waiting_with_no_start_for_the_limit_is_a_stall() -> None:
    watch = PoolWatch(stall_seconds=5)
    watch.handed(now=1000)  # after a long idle time: the wait counts from when it was handed
    assert watch.stalled_for(now=1004.9) is None
    assert watch.stalled_for(now=1005) == pytest.approx(5)
    watch.started(now=1006)
    assert watch.stalled_for(now=1007) is None


def test_a_wedged_pool_is_a_stall_from_its_last_start() -> None:
    watch = PoolWatch(stall_seconds=5)
    watch.handed(now=0)
    watch.handed(now=0)
    watch.started(now=1)  # one thread takes one and never returns; the other waits
    assert watch.stalled_for(now=5.9) is None
    assert watch.stalled_for(now=6) == pytest.approx(5)
