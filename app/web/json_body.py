"""Reading and decoding request bodies strictly: one decoder for every JSON body the web takes.

Python's ``json`` accepts what PostgreSQL, other parsers and our own code do not: ``NaN`` and
``Infinity`` (and ``1e400``, read as infinity), a key given twice (the last one silently wins),
escaped lone surrogates (which no UTF-8 database column can hold), and nesting deep enough to
exhaust the interpreter's recursion limit. A body with any of those is refused here, before any
other code sees it, so a hostile body gets a 400 and writes nothing.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge

__all__ = ["MAX_JSON_DEPTH", "InvalidJsonBody", "decode_json_object", "read_limited_body"]

# Optimove's deepest documented payload (the triggered gateway's channel templates) is 5 levels.
MAX_JSON_DEPTH = 32
_QUOTED_KEY_CHARS = 64  # how much of an offending key an error message repeats

# A JSON string, or everything from an unterminated quote to the end. Matching the unterminated
# case too keeps the scan linear: a failed match could otherwise be retried from every later quote.
_STRING_OR_NON_BRACKETS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^"\[\]{}]+', re.DOTALL)
_BRACKET_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}
# Only a \uD800-\uDFFF escape can produce a surrogate: strict UTF-8 decoding refuses encoded ones.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


class InvalidJsonBody(ValueError):
    """Raised when a request body is not one acceptable JSON object; the message says why."""


def read_limited_body(max_bytes: int) -> bytes:
    """The raw request body; 413 when it is longer than `max_bytes`, chunked or not.

    Werkzeug silently truncates a chunked body at ``MAX_CONTENT_LENGTH``, which the app sets one
    byte above the limit, so getting that extra byte is how an oversized chunked body shows.
    """
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes:
        raise RequestEntityTooLarge(f"the body exceeds {max_bytes} bytes")
    return raw


def decode_json_object(raw: bytes, *, max_depth: int = MAX_JSON_DEPTH) -> dict[str, Any]:
    """Decode `raw` as one JSON object, or raise InvalidJsonBody saying what is wrong with it."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidJsonBody(f"the body is not valid UTF-8 (byte {exc.start})") from None
    if nesting_depth(text) > max_depth:
        raise InvalidJsonBody(f"the JSON is nested deeper than {max_depth} levels")
    try:
        payload = json.loads(
            text,
            object_pairs_hook=_object_without_duplicate_keys,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except InvalidJsonBody:
        raise
    except ValueError as exc:  # JSONDecodeError, or an integer too long to convert
        raise InvalidJsonBody(f"the body is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise InvalidJsonBody("the body must be a JSON object")
    if _SURROGATE_ESCAPE.search(text) and _holds_lone_surrogate(payload):
        raise InvalidJsonBody("the JSON holds an unpaired UTF-16 surrogate escape (\\uD800-\\uDFFF)")
    return payload


def nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest in `text`, counted without parsing it (no recursion).

    Brackets inside strings are ignored; on text that is not JSON the answer is only an estimate,
    which is enough: that text is refused anyway.
    """
    brackets = _STRING_OR_NON_BRACKETS.sub("", text)
    if not brackets:
        return 0
    return max(0, max(accumulate(map(_BRACKET_STEP.__getitem__, brackets))))


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InvalidJsonBody(f"the key {key[:_QUOTED_KEY_CHARS]!r} appears more than once")
            seen.add(key)
    return result


def _refuse_constant(name: str) -> Any:
    raise InvalidJsonBody(f"{name} is not a JSON number")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise InvalidJsonBody(f"the number {literal[:_QUOTED_KEY_CHARS]} is out of range")
    return value


def _holds_lone_surrogate(payload: dict[str, Any]) -> bool:
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
