"""JSON log lines, the correlation id in them, and its round trip through a Flask request."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from flask import Flask

from app.observability.context import (
    bind_context,
    bind_correlation_id,
    current_correlation_id,
    is_valid_correlation_id,
    new_correlation_id,
    reset_context,
)
from app.observability.logging import configure_logging
from app.web.ops import REQUEST_ID_HEADER, install_request_correlation

log = logging.getLogger("tests.observability")


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_json_line_has_timestamp_level_logger_message_correlation_id_and_extras(
    json_log: io.StringIO,
) -> None:
    bind_correlation_id("req-42")
    log.info("claim %s accepted", "c-1", extra={"campaign_id": 1359, "customers": 3})

    (line,) = _lines(json_log)
    assert list(line)[:5] == ["timestamp", "level", "logger", "message", "correlation_id"]
    assert line["level"] == "INFO"
    assert line["logger"] == "tests.observability"
    assert line["message"] == "claim c-1 accepted"
    assert line["correlation_id"] == "req-42"
    assert (line["campaign_id"], line["customers"]) == (1359, 3)
    assert line["timestamp"].endswith("+00:00")


def test_correlation_id_is_null_when_nothing_is_bound(json_log: io.StringIO) -> None:
    log.warning("no request here")

    assert _lines(json_log)[0]["correlation_id"] is None


def test_other_bound_fields_such_as_the_task_name_are_added(json_log: io.StringIO) -> None:
    bind_context(correlation_id="c", task_name="promobridge.claims.validate", task_id="t-1")
    log.info("validating")

    line = _lines(json_log)[0]
    assert (line["task_name"], line["task_id"]) == ("promobridge.claims.validate", "t-1")


def test_levels_below_the_configured_one_are_dropped(json_log: io.StringIO) -> None:
    log.debug("noise")
    assert json_log.getvalue() == ""


def test_configuring_twice_leaves_one_handler(restore_logging: None) -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", stream=first)
    configure_logging("INFO", stream=second)
    log.info("once")

    assert first.getvalue() == ""
    assert len(_lines(second)) == 1


def test_text_format_shows_the_correlation_id(restore_logging: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", json=False, stream=stream)
    log.info("unbound")
    bind_correlation_id("abc")
    log.info("bound")

    unbound, bound = stream.getvalue().splitlines()
    assert "[-] unbound" in unbound
    assert "[abc] bound" in bound


def test_resetting_a_binding_restores_the_previous_id() -> None:
    outer = bind_correlation_id("outer")
    inner = bind_correlation_id("inner")
    assert current_correlation_id() == "inner"
    reset_context(inner)
    assert current_correlation_id() == "outer"
    reset_context(outer)
    assert current_correlation_id() is None


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("abc-123_X.y", True),
        ("a" * 64, True),
        ("a" * 65, False),
        ("", False),
        ("a b", False),
        ("x\ny", False),
    ],
)
def test_request_ids_are_validated(value: str, valid: bool) -> None:
    assert is_valid_correlation_id(value) is valid


def test_generated_ids_are_valid() -> None:
    assert is_valid_correlation_id(new_correlation_id())


def _app() -> Flask:
    app = Flask("correlation-test")
    install_request_correlation(app)

    @app.get("/work")
    def work() -> dict[str, str | None]:
        log.info("handling")
        return {"seen": current_correlation_id()}

    return app


def test_a_valid_request_id_is_used_echoed_and_logged(json_log: io.StringIO) -> None:
    response = _app().test_client().get("/work", headers={REQUEST_ID_HEADER: "caller-id.1"})

    assert response.headers[REQUEST_ID_HEADER] == "caller-id.1"
    assert response.get_json() == {"seen": "caller-id.1"}
    assert _lines(json_log)[0]["correlation_id"] == "caller-id.1"
    assert current_correlation_id() is None  # unbound once the request is over


@pytest.mark.parametrize("incoming", [None, "has spaces", "x" * 65, "semi;colon"])
def test_a_missing_or_invalid_request_id_is_replaced_by_a_new_one(
    json_log: io.StringIO, incoming: str | None
) -> None:
    headers = {} if incoming is None else {REQUEST_ID_HEADER: incoming}
    response = _app().test_client().get("/work", headers=headers)

    generated = response.headers[REQUEST_ID_HEADER]
    assert generated != incoming and is_valid_correlation_id(generated)
    assert _lines(json_log)[0]["correlation_id"] == generated


def test_error_responses_carry_the_request_id_too() -> None:
    response = _app().test_client().get("/missing", headers={REQUEST_ID_HEADER: "r-404"})

    assert response.status_code == 404
    assert response.headers[REQUEST_ID_HEADER] == "r-404"
