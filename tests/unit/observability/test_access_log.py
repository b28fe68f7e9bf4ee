"""The access line promobridge's gunicorn logger writes is the one gunicorn writes with that format."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from gunicorn.config import Config
from gunicorn.glogging import Logger, SafeAtoms

from app.observability.access_log import ACCESS_LOG_FORMAT, AccessLogger, access_line


@dataclass
class Resp:
    status: Any
    headers: list[tuple[str, str]]
    sent: int | None


@dataclass
class Req:
    headers: list[tuple[str, str]] = field(default_factory=lambda: [("HOST", "x"), ("USER-AGENT", "wrk")])


def environ(**overrides: str) -> dict[str, Any]:
    base = {
        "REMOTE_ADDR": "127.0.0.1",
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/v1/claims?x=1",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "PATH_INFO": "/v1/claims",
        "QUERY_STRING": "x=1",
        "HTTP_USER_AGENT": 'curl/8 "quoted"',
    }
    return {**base, **overrides}


def gunicorn_line(resp: Resp, env: dict[str, Any], took: timedelta) -> str:
    config = Config()
    config.set("accesslog", "-")
    atoms = Logger(config).atoms(resp, Req(), env, took)
    return ACCESS_LOG_FORMAT % SafeAtoms(atoms)


@pytest.mark.parametrize(
    ("resp", "env"),
    [
        (
            Resp("202 ACCEPTED", [("Content-Type", "application/json"), ("X-Request-ID", "r-1")], 212),
            environ(),
        ),
        (Resp(404, [("x-request-id", 'odd"id')], None), environ(RAW_URI='/v1/claims/"a"')),
        (
            Resp("500 INTERNAL SERVER ERROR", [], 0),
            {k: v for k, v in environ().items() if k != "HTTP_USER_AGENT"},
        ),
    ],
)
def test_the_line_is_gunicorns_own(resp: Resp, env: dict[str, Any]) -> None:
    took = timedelta(seconds=1, microseconds=23_456)
    assert access_line(resp, env, took) == gunicorn_line(resp, env, took)


def test_the_line_goes_through_the_access_logs_handlers_and_another_format_through_gunicorns_code() -> None:
    config = Config()
    config.set("accesslog", "-")
    config.set("access_log_format", ACCESS_LOG_FORMAT)
    logger = AccessLogger(config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.access_log.handlers = [handler]
    resp = Resp("202 ACCEPTED", [("X-Request-ID", "r-2")], 10)

    logger.access(resp, Req(), environ(), timedelta(milliseconds=3))
    config.set("access_log_format", "%(s)s %(m)s")
    logger.access(resp, Req(), environ(), timedelta(milliseconds=3))

    assert stream.getvalue().splitlines() == [
        '127.0.0.1 "POST /v1/claims?x=1 HTTP/1.1" 202 10 bytes 3ms request_id=r-2 "curl/8 \\"quoted\\""',
        "202 POST",
    ]
