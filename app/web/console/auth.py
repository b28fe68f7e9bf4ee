"""Who is signed in to the console, and the throttle on sign-in attempts per address."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import session
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.exceptions import RedisError

from app.domain.console import ConsoleUser
from app.services.console_users import active_user
from app.services.unit_of_work import UnitOfWorkFactory

log = logging.getLogger(__name__)
USER_KEY = "console_user_id"


class SignInThrottle:
    """At most N sign-in attempts per minute from one address (in Redis when configured)."""

    def __init__(self, storage_uri: str, per_minute: int) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self._item = RateLimitItemPerMinute(per_minute)

    def allow(self, address: str) -> bool:
        """Count an attempt from `address`; False when it is over the limit."""
        try:
            return self._limiter.hit(self._item, "console-sign-in", address)
        except RedisError as exc:
            # The per-user lockout still holds (it lives in PostgreSQL).
            log.warning("sign-in throttle unavailable; relying on the lockout", extra={"error": repr(exc)})
            return True


def start_session(user: ConsoleUser) -> None:
    """Sign `user` in: a fresh session (no value of the signed-out one survives)."""
    session.clear()
    session[USER_KEY] = user.id
    session.permanent = True


def end_session() -> None:
    """Sign out."""
    session.clear()


def signed_in_user(uow_factory: UnitOfWorkFactory) -> ConsoleUser | None:
    """The session's user, if still active (a disabled user's sessions stop at their next request)."""
    user_id = session.get(USER_KEY)
    if not isinstance(user_id, int) or isinstance(user_id, bool):
        return None
    return active_user(uow_factory, user_id)


def safe_next(target: str | None) -> str | None:
    """`target` if it is a console path on this site (never another site: no open redirect)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/console") or "\\" in target:
        return None
    return target
