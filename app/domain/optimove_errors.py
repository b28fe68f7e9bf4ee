"""The exceptions the Optimove client raises, as one documented tree (in the style of httpx).

Callers decide what to do from the class alone: a ``TransientOptimoveError`` is worth retrying
with backoff (Celery tasks, the outbox relay), a ``PermanentOptimoveError`` is not and must be
recorded and alerted on. ``ambiguous`` says whether Optimove may have applied the request although
we saw a failure (the request left this process and no answer came back, or a 5xx); a caller that
replays an ambiguous call must count the replay as a possible duplicate.

Messages never contain the API key: the client redacts it from echoed bodies and never puts
request headers into an exception.
"""

from __future__ import annotations

import email.utils
import math
from datetime import UTC, datetime
from typing import ClassVar

__all__ = [
    "OptimoveAuthError",
    "OptimoveConnectionError",
    "OptimoveError",
    "OptimoveProtocolError",
    "OptimoveRateLimited",
    "OptimoveRequestRejected",
    "OptimoveServerError",
    "OptimoveTimeout",
    "PermanentOptimoveError",
    "SkipIgnoredError",
    "TransientOptimoveError",
    "parse_retry_after",
]


class OptimoveError(Exception):
    """Root of every failure raised by the Optimove client."""

    # A short, stable label for metrics and logs; each leaf class overrides it.
    outcome: ClassVar[str] = "error"

    def __init__(
        self, message: str, *, endpoint: str, status: int | None = None, ambiguous: bool = False
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.status = status
        self.ambiguous = ambiguous


class TransientOptimoveError(OptimoveError):
    """A failure that may go away by itself; retry with backoff and jitter."""


class OptimoveTimeout(TransientOptimoveError):
    """No answer in time; ambiguous when the request had already been sent (read timeout)."""

    outcome = "timeout"


class OptimoveConnectionError(TransientOptimoveError):
    """The connection failed; ambiguous when it dropped after the request was sent."""

    outcome = "connection_error"


class OptimoveServerError(TransientOptimoveError):
    """Optimove answered 5xx; always ambiguous, since the server may have applied the call."""

    outcome = "5xx"


class OptimoveBudgetUnavailable(TransientOptimoveError):
    """No rate-limit slot could be taken (the shared ledger is down); nothing was sent."""

    outcome = "limiter_unavailable"


class OptimoveRateLimited(TransientOptimoveError):
    """Optimove answered 429; ``retry_after`` is the server's hint in seconds, if it sent one."""

    outcome = "429"

    def __init__(
        self, message: str, *, endpoint: str, status: int | None = 429, retry_after: float | None = None
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, ambiguous=False)
        self.retry_after = retry_after


class PermanentOptimoveError(OptimoveError):
    """A failure that a retry will not fix; record it and alert."""


class OptimoveAuthError(PermanentOptimoveError):
    """Optimove answered 401/403: the key is missing, wrong, disabled or lacks permission."""

    outcome = "auth"


class OptimoveRequestRejected(PermanentOptimoveError):
    """Optimove answered another 4xx; ``body`` holds the start of its answer for the record."""

    outcome = "4xx"

    def __init__(self, message: str, *, endpoint: str, status: int | None = None, body: str = "") -> None:
        super().__init__(message, endpoint=endpoint, status=status, ambiguous=False)
        self.body = body


class OptimoveProtocolError(PermanentOptimoveError):
    """Optimove answered 2xx with a body we cannot trust (an error string, not JSON, wrong shape)."""

    outcome = "protocol"


class SkipIgnoredError(PermanentOptimoveError):
    """The server ignored ``$skip`` and served the same page again; paging would never end."""

    outcome = "skip_ignored"


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Read a Retry-After header (delay-seconds or HTTP-date) as seconds from now, or None.

    Optimove does not document the header [GAP ref §1.3], so anything unreadable is None and the
    caller falls back to its own backoff instead of failing.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now if now is not None else datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
