"""Map one HTTP attempt's failure (a requests exception or a status code) to one Optimove error.

The central question is ``ambiguous``: could Optimove have applied the request? A connect failure
or connect timeout means nothing was sent (not ambiguous); a read timeout, a connection dropped
after sending, or a 5xx means it may have been applied (ambiguous).
"""

from __future__ import annotations

import json
from typing import Literal

import orjson
import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from app.domain.optimove_errors import (
    OptimoveAuthError,
    OptimoveConnectionError,
    OptimoveError,
    OptimoveProtocolError,
    OptimoveRateLimited,
    OptimoveRequestRejected,
    OptimoveServerError,
    OptimoveTimeout,
    parse_retry_after,
)

__all__ = ["MAX_ERROR_BODY_CHARS", "Expect", "decode_body", "describe_failure", "error_for_status"]

MAX_ERROR_BODY_CHARS = 500
MAX_ECHOED_STRING_CHARS = 200
HTTP_OK = 200
HTTP_NO_CONTENT = 204

# What a call expects back: POST functions answer "no payload" (ref §1.4), list GETs a JSON array.
Expect = Literal["nothing", "list", "json"]
_MAX_CAUSE_DEPTH = 10
_REDACTED = "***"


def _redacted(text: str, secret: str) -> str:
    """Hide the API key should a server echo it back, so it never reaches logs or exceptions."""
    return text.replace(secret, _REDACTED) if secret else text


def _failed_before_sending(exc: BaseException) -> bool:
    """True when the exception chain shows the TCP/TLS connection was never established."""
    if isinstance(exc, requests.ConnectTimeout | requests.exceptions.SSLError):
        return True
    seen: list[object] = [exc]
    for _ in range(_MAX_CAUSE_DEPTH):
        if not seen:
            break
        current = seen.pop()
        if isinstance(current, NewConnectionError | ConnectTimeoutError):
            return True
        if isinstance(current, BaseException):
            seen.extend(arg for arg in current.args if isinstance(arg, BaseException))
            seen.extend(link for link in (current.__cause__, current.__context__) if link is not None)
            reason = getattr(current, "reason", None)
            if isinstance(reason, BaseException):
                seen.append(reason)
    return False


def describe_failure(exc: requests.RequestException, endpoint: str) -> OptimoveError:
    """Turn a requests exception into the one error class that describes it (messages carry no key)."""
    not_sent = _failed_before_sending(exc)
    if isinstance(exc, requests.Timeout):
        phase = "connecting" if not_sent else "waiting for the answer"
        return OptimoveTimeout(f"timed out {phase}", endpoint=endpoint, ambiguous=not not_sent)
    if not_sent:
        return OptimoveConnectionError(f"could not connect: {type(exc).__name__}", endpoint=endpoint)
    # Dropped, reset or garbled after the request left: Optimove may have applied it.
    return OptimoveConnectionError(
        f"connection failed after sending: {type(exc).__name__}", endpoint=endpoint, ambiguous=True
    )


def error_for_status(response: requests.Response, endpoint: str, *, redact: str) -> OptimoveError | None:
    """Return the error a non-2xx answer stands for, or None for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return OptimoveRateLimited("rate limited (429)", endpoint=endpoint, retry_after=retry_after)
    if status >= 500:
        return OptimoveServerError(f"server error {status}", endpoint=endpoint, status=status, ambiguous=True)
    if status in (401, 403):
        return OptimoveAuthError(f"API key refused ({status})", endpoint=endpoint, status=status)
    if 400 <= status < 500:
        body = _redacted(response.text, redact)[:MAX_ERROR_BODY_CHARS]
        return OptimoveRequestRejected(
            f"request rejected ({status}): {body}", endpoint=endpoint, status=status, body=body
        )
    return OptimoveProtocolError(f"unexpected status {status}", endpoint=endpoint, status=status)


def decode_body(response: requests.Response, endpoint: str, expect: Expect, *, redact: str) -> object:
    """Decode a 2xx body; an empty body or 204 is ``[]`` (the end of a list), anything untrustworthy raises.

    A bare JSON string is an error message in disguise (ref §1.4) and raises OptimoveProtocolError,
    as does a non-JSON body or a non-list where a list is expected. POST answers are otherwise ignored.
    """
    status = response.status_code
    if expect == "list" and status != HTTP_NO_CONTENT:
        # Customer pages are megabytes: orjson reads the bytes at once, with no text decoding first;
        # anything it refuses (it is stricter: NaN, a BOM) is read again below the usual way.
        try:
            fast: object = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            pass
        else:
            if isinstance(fast, list):
                return fast
    text = response.text
    if status == HTTP_NO_CONTENT or not text.strip():
        return []
    try:
        decoded: object = json.loads(text)
    except ValueError:
        if expect == "nothing":
            return None
        raise OptimoveProtocolError("answer is not JSON", endpoint=endpoint, status=status) from None
    if isinstance(decoded, str):
        echoed = _redacted(decoded, redact)[:MAX_ECHOED_STRING_CHARS]
        raise OptimoveProtocolError(
            f"answer is a bare JSON string: {echoed!r}", endpoint=endpoint, status=status
        )
    if expect == "list" and not isinstance(decoded, list):
        message = f"answer is a JSON {type(decoded).__name__}, not a list"
        raise OptimoveProtocolError(message, endpoint=endpoint, status=status)
    return decoded
