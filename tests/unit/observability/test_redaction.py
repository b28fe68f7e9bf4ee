"""No log line ever contains a secret: API keys, Bearer tokens, URL passwords, listener tokens."""

from __future__ import annotations

import io
import json
import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.observability.redaction import MASK, _redact_every_pattern, redact_text, scrub, strip_url_password

log = logging.getLogger("tests.redaction")
SECRET = "s3cr3t-Value_9"


@pytest.mark.parametrize(
    ("message", "args"),
    [
        ("calling Optimove with X-API-KEY: %s", (SECRET,)),
        ("headers %s", ({"X-API-KEY": SECRET, "Accept": "application/json"},)),
        ("claims client sent Authorization: Bearer %s", (SECRET,)),
        ("Authorization=Basic %s", (SECRET,)),
        ("curl -H 'Authorization: Bearer %s'", (SECRET,)),
        ("database postgresql+psycopg2://promobridge:%s@db:5432/promobridge is down", (SECRET,)),
        ("broker redis://:%s@redis:6379/0 unreachable", (SECRET,)),
        ("GET /webhooks/optimove/%s HTTP/1.1", (SECRET,)),
        ("POST /webhooks/optimove/triggered/%s 200", (SECRET,)),
        ("retrying with token=%s&page=2", (SECRET,)),
        ('body {"api_key": "%s", "campaign": 1}', (SECRET,)),
        ("client key pb_0123456789abcdef_%s issued", (SECRET,)),
    ],
)
def test_secrets_in_messages_are_masked(json_log: io.StringIO, message: str, args: tuple[object]) -> None:
    log.warning(message, *args)

    output = json_log.getvalue()
    assert SECRET not in output
    assert MASK in json.loads(output)["message"]


@pytest.mark.parametrize(
    "extra",
    [
        {"api_key": SECRET},
        {"listener_token": SECRET},
        {"password": SECRET},
        {"Authorization": f"Bearer {SECRET}"},
        {"client_secret": SECRET},
        {"headers": {"X-API-KEY": SECRET, "nested": [{"token": SECRET}]}},
        {"url": f"redis://user:{SECRET}@host/0"},
        {"error": f"401 for Bearer {SECRET}"},
    ],
)
def test_secrets_in_extra_fields_are_masked(json_log: io.StringIO, extra: dict[str, object]) -> None:
    log.info("request failed", extra=extra)

    assert SECRET not in json_log.getvalue()


def test_secrets_in_tracebacks_are_masked(json_log: io.StringIO) -> None:
    try:
        raise ConnectionError(f"cannot reach postgresql://app:{SECRET}@db/app with X-API-KEY={SECRET}")
    except ConnectionError:
        log.exception("database down")

    output = json_log.getvalue()
    assert SECRET not in output
    assert "ConnectionError" in json.loads(output)["exc_info"]


def test_ordinary_fields_are_left_alone(json_log: io.StringIO) -> None:
    log.info("campaign %s approved", 1359, extra={"customers": 10_000, "outcome": "sent"})

    line = json.loads(json_log.getvalue())
    assert line["message"] == "campaign 1359 approved"
    assert (line["customers"], line["outcome"]) == (10_000, "sent")


def test_url_passwords_are_stripped_and_the_rest_kept() -> None:
    assert strip_url_password("redis://:pw@127.0.0.1:6379/0") == "redis://:***@127.0.0.1:6379/0"
    assert strip_url_password("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert strip_url_password("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_scrub_masks_a_known_secret_in_any_shape() -> None:
    assert scrub("auth failed for user 'app' (password hunter2)", "hunter2") == (
        "auth failed for user 'app' (password ***)"
    )


@pytest.mark.parametrize(
    "path",
    [
        f"/webhooks%2Foptimove%2F{SECRET}",
        f"/webhooks%2foptimove%2f{SECRET}",
        f"/webhooks%2Foptimove%2Ftriggered%2F{SECRET}",
        f"//webhooks//optimove//{SECRET}",
        f"/webhooks/optimove//triggered///{SECRET}",
        f"/%77ebhooks/optimove/{SECRET}",
        f"/webhooks%252Foptimove%252F{SECRET}",
        f"/WEBHOOKS/Optimove/{SECRET}",
        f"/webhooks/optimove/{SECRET}?probe=1",
        f"/webhooks/optimove/triggered/{SECRET}#frag",
    ],
)
def test_the_listener_token_is_masked_however_the_path_is_encoded(path: str) -> None:
    rest_of_line = 'HTTP/1.1" 401 38 bytes 3ms request_id=abc "curl/8"'
    redacted = redact_text(f'127.0.0.1 "POST {path} {rest_of_line}')
    assert SECRET not in redacted and MASK in redacted
    assert redacted.startswith('127.0.0.1 "POST /') and redacted.endswith(rest_of_line)


@pytest.mark.parametrize("encoded_token", ["%73" + SECRET[1:], "".join(f"%{ord(c):02X}" for c in SECRET)])
def test_a_token_that_is_itself_percent_encoded_is_masked(encoded_token: str) -> None:
    redacted = redact_text(f"POST /webhooks/optimove/{encoded_token} HTTP/1.1")
    assert SECRET[1:] not in redacted and encoded_token not in redacted


def test_paths_that_are_not_the_listener_are_left_alone() -> None:
    text = 'GET /v1/claims/3f2a%2Fx?wait=5 HTTP/1.1" 404 and https://example.com/a%20b/webhooks-docs'
    assert redact_text(text) == text


def test_decoding_a_path_to_find_the_token_cannot_split_the_log_line() -> None:
    redacted = redact_text(f"POST /webhooks%2Foptimove%2F{SECRET}%0A%0Dfake-line%20x HTTP/1.1")
    assert SECRET not in redacted and "\n" not in redacted and "\r" not in redacted


_FRAGMENTS = [
    "://", "Authorization", "bearer ", "KEY", "token", "Secret", "passwd", "password", "cookie", "pb_",
    "0123456789abcdef_", "%", "%2F", "optimove", "OPTIMOVE", "/webhooks/", "triggered/", "=", ": ", '"',
    " ", "/", "a", "Z", "9", "-", "_", "@", "user:", SECRET, "\u212a",
]  # fmt: skip


@given(st.lists(st.sampled_from(_FRAGMENTS), max_size=14).map("".join))
def test_the_quick_look_for_secret_markers_never_lets_a_secret_through(text: str) -> None:
    assert redact_text(text) == _redact_every_pattern(text)


def test_an_access_log_line_of_the_claims_api_has_nothing_to_redact() -> None:
    line = '127.0.0.1 "POST /v1/claims HTTP/1.1" 202 212 bytes 3ms request_id=4f1c2a "wrk"'
    assert redact_text(line) is line
