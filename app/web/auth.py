"""Client authentication (Bearer API keys) and per-client rate limits for the claims API."""

from __future__ import annotations

import functools
import logging
import math
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import current_app, g, request
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from app.services.clients import authenticate, may
from app.web.errors import error_response

View = TypeVar("View", bound=Callable[..., Any])
log = logging.getLogger(__name__)


class ClientRateLimiter:
    """A moving window per client, in Redis when one is configured (shared by every web process)."""

    def __init__(self, storage_uri: str) -> None:
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def allow(self, client_id: int, per_minute: int) -> float | None:
        """None when the request may go on; otherwise the seconds to wait before retrying."""
        item = RateLimitItemPerMinute(per_minute)
        try:
            if self.limiter.hit(item, "claims", str(client_id)):
                return None
        except RedisError as exc:
            # Fail open: a claim only needs PostgreSQL, and the limit protects us, not the customer.
            log.warning("client rate limit unavailable; allowing the request", extra={"error": repr(exc)})
            return None
        reset_at = self.limiter.get_window_stats(item, "claims", str(client_id)).reset_time
        return max(1.0, reset_at - time.time())


def require_client(scope: str) -> Callable[[View], View]:
    """Reject requests without a valid `Authorization: Bearer <key>` (401), whose key lacks `scope`
    (403), or over the client's limit (429)."""

    def decorate(view: View) -> View:
        return _guarded(view, scope)

    return decorate


def _guarded(view: View, scope: str) -> View:
    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        services = current_app.config["PROMOBRIDGE_SERVICES"]
        client = (
            authenticate(services.container.uow, key.strip(), cache=services.key_cache)
            if scheme.lower() == "bearer"
            else None
        )
        if client is None:
            response, status = error_response(
                401, "unauthorized", "a valid Authorization: Bearer <key> is required"
            )
            response.headers["WWW-Authenticate"] = 'Bearer realm="promobridge"'
            return response, status
        if not may(client, scope):
            return error_response(403, "forbidden", f"this key lacks the {scope!r} scope")
        retry_after = services.rate_limiter.allow(client.id, client.rate_limit_per_minute)
        if retry_after is not None:
            response, status = error_response(
                429, "too_many_requests", "this client's rate limit is exhausted"
            )
            response.headers["Retry-After"] = str(math.ceil(retry_after))
            return response, status
        g.client = client
        return view(*args, **kwargs)

    return cast(View, wrapper)
