"""Secret scrubbing for log lines and operator-facing messages.

Logs leave the process (aggregators, tickets, screenshots), so anything that can authenticate must
be removed before a record is formatted: the Optimove ``X-API-KEY``, claim clients' Bearer keys,
passwords inside database and Redis URLs, and the listener token that is part of the webhook path.
Redaction is by shape (the key a value is stored under, or the pattern of the text) because a
logger call site cannot be trusted to remember which of its values are secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

__all__ = [
    "MASK",
    "is_sensitive_key",
    "redact_text",
    "redact_value",
    "scrub",
    "strip_url_password",
    "url_password",
]

MASK = "***"
SENSITIVE_KEY_PARTS = ("key", "token", "secret", "password", "passwd", "authorization", "cookie")
MAX_DEPTH = 6  # nested extras deeper than this are left alone rather than walked forever

# URL userinfo: scheme://user:PASSWORD@host (also redis://:PASSWORD@host).
_URL_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s/@:]*:)[^\s/@]+@")
# An Authorization header's value with its scheme ("Basic x", "Bearer y") or a bare credential.
_AUTHORIZATION = re.compile(
    r"(?P<head>\bauthorization[\"']?\s*[:=]\s*[\"']?)"
    r"(?:(?:bearer|basic|digest|token|apikey|negotiate)\s+)?[^\s\"',;}]+",
    re.I,
)
_BEARER = re.compile(r"\bBearer\s+[A-Za-z0-9\-._~+/]+=*", re.I)
# key=value, key: value, "key": "value" where the key names a secret (X-API-KEY, api_key, token…).
_SENSITIVE_PAIR = re.compile(
    r"(?P<head>\b[\w.\-]*(?:key|token|secret|password|passwd|cookie)[\w.\-]*[\"']?\s*[:=]\s*[\"']?)"
    r"(?P<value>[^\s\"'&,;)}\]]+)",
    re.I,
)
# Claim-client API keys as issued by app.services.clients: pb_<key id>_<secret>.
_CLIENT_KEY = re.compile(r"\bpb_[0-9a-f]{8,}_[A-Za-z0-9_\-]{8,}")
# The listener token is a path segment of the webhook URLs (access logs print the path). Servers
# percent-decode the path and the router merges repeated slashes, so "/webhooks%2Foptimove%2F<token>"
# and "//webhooks//optimove//<token>" reach the listener too: the token is found in the decoded form.
_LISTENER_PATH = re.compile(r"(?P<head>/+webhooks/+optimove/+(?:triggered/+)?)[^/\s?#\"']+", re.I)
# A run of characters that may be (or contain) a URL path: it holds a slash, raw or percent-encoded.
_PATH_LIKE = re.compile(r"[^\s\"'<>]*(?:/|%2f)[^\s\"'<>]*", re.I)
_UNSAFE_IN_LOG = re.compile(r"[\x00-\x20\x7f]")
# Text none of the patterns above can match: each needs one of these (a URL's "://", a sensitive
# word, a client key's "pb_", or a path that may hold the listener token: "%" or "optimove"). Most
# log lines (every access log line of the claims API) have none, and one scan is cheaper than six.
_MAY_HOLD_A_SECRET = re.compile(
    r"://|authorization|bearer|key|token|secret|passw|cookie|pb_|%|optimove", re.I
)
_MAX_DECODING_ROUNDS = 3  # "%252F" is a slash encoded twice; a proxy may decode once more than we think


def is_sensitive_key(name: str) -> bool:
    """Whether a field called `name` holds a secret (its name contains key, token, password…)."""
    lowered = name.lower()
    return any(part in lowered for part in SENSITIVE_KEY_PARTS)


def _mask_pair(match: re.Match[str]) -> str:
    return match["head"] + MASK


def redact_text(text: str) -> str:
    """`text` with API keys, Bearer tokens, URL passwords and listener tokens replaced by ``***``."""
    if not text or _MAY_HOLD_A_SECRET.search(text) is None:
        return text
    return _redact_every_pattern(text)


def _redact_every_pattern(text: str) -> str:
    text = _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", text)
    text = _AUTHORIZATION.sub(_mask_pair, text)
    text = _BEARER.sub("Bearer " + MASK, text)
    text = _SENSITIVE_PAIR.sub(_mask_pair, text)
    text = _CLIENT_KEY.sub("pb_" + MASK, text)
    if "%" not in text and "optimove" not in text.lower():
        return text
    return _PATH_LIKE.sub(_mask_listener_token, text)


def _mask_listener_token(match: re.Match[str]) -> str:
    """The path with the listener token masked, shown decoded when that is how the token was found."""
    raw = match.group(0)
    decoded = raw
    for _ in range(_MAX_DECODING_ROUNDS):
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    masked = _LISTENER_PATH.sub(_mask_pair, decoded)
    if masked == decoded:
        return raw
    # Decoding must not let "%0A" split the log line: control characters and spaces stay encoded.
    return _UNSAFE_IN_LOG.sub(lambda char: f"%{ord(char.group(0)):02X}", masked)


def redact_value(key: str, value: Any, _depth: int = 0) -> Any:
    """A log field's value made safe: masked under a sensitive key, else scrubbed by pattern."""
    if value is None or _depth > MAX_DEPTH:
        return value
    if key and is_sensitive_key(key):
        return MASK
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(str(k), v, _depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value("", item, _depth + 1) for item in value)
    return value


def strip_url_password(url: str) -> str:
    """The URL with its password (if any) replaced by ``***``: safe to show in messages."""
    return _URL_PASSWORD.sub(lambda m: m["head"] + MASK + "@", url)


def url_password(url: str) -> str | None:
    """The password inside a URL, so messages that quote it in other shapes can be scrubbed too."""
    try:
        return urlsplit(url).password or None
    except ValueError:
        return None


def scrub(message: str, *secrets: str | None) -> str:
    """`message` pattern-redacted, with every literal occurrence of each known secret masked."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, MASK)
    return redact_text(message)
