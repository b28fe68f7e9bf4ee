"""When the event loop hands a request to a thread: only once the thread will not wait for the client."""

from __future__ import annotations

import pytest

from app.web.request_framing import RequestFraming

FRAMING = RequestFraming(max_head_bytes=200, max_body_bytes=100)
HEAD = b"POST /webhooks/optimove/t HTTP/1.1\r\nHost: x\r\n"


def test_a_head_is_incomplete_until_its_blank_line_arrives() -> None:
    assert not FRAMING.is_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaa")
    assert not FRAMING.is_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r")
    assert FRAMING.is_complete(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")


def test_a_body_announced_by_content_length_is_waited_for() -> None:
    request = HEAD + b"Content-Length: 11\r\n\r\n" + b'{"a": 1}'
    assert not FRAMING.is_complete(request)
    assert FRAMING.is_complete(request + b"xyz")
    assert FRAMING.is_complete(request + b"xyz" + b"GET / HTTP/1.1\r\n")  # a pipelined next request


@pytest.mark.parametrize(
    "headers",
    [
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 11\r\nExpect: 100-continue\r\n",  # the body follows the thread's 100 Continue
        b"Content-Length: 101\r\n",  # more than the app accepts: it answers 413 without reading
        b"Content-Length: 5\r\nContent-Length: 6\r\n",  # conflicting: the parser refuses it
        b"Content-Length: -5\r\n",
        b"Content-Length: 5x\r\n",
        b"Content-Length: " + b"9" * 40 + b"\r\n",
    ],
)
def test_bodies_it_does_not_frame_are_left_to_the_parser_once_the_head_is_in(headers: bytes) -> None:
    assert FRAMING.is_complete(HEAD + headers + b"\r\n")


def test_header_names_are_case_insensitive_and_values_trimmed() -> None:
    assert not FRAMING.is_complete(HEAD + b"content-LENGTH:   4 \r\n\r\nab")
    assert FRAMING.is_complete(HEAD + b"content-LENGTH:   4 \r\n\r\nabcd")


def test_heads_the_parser_will_refuse_anyway_are_handed_over_without_waiting_for_more() -> None:
    assert FRAMING.is_complete(b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 200)
    assert FRAMING.is_complete(b"GET / HTTP/1.1\nHost: x\n")  # bare LF line endings
