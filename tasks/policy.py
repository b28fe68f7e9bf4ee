"""The retry policy every promobridge task shares, written once.

Database outages (OperationalError: PostgreSQL restarting, a dropped connection) are always
transient: the task retries, never giving up, because its state lives in PostgreSQL and the work
must eventually happen. Every countdown comes from the one backoff (`app.domain.backoff`, sized by
RETRY_BACKOFF_*_SECONDS), capped far below the broker's visibility timeout (see celeryconfig), so
a waiting retry is never delivered twice.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from celery import Task, shared_task
from sqlalchemy.exc import OperationalError

from app.domain.optimove_errors import OptimoveRateLimited
from tasks.runtime import container

F = TypeVar("F", bound=Callable[..., Any])


def countdown(retries: int, exc: BaseException | None = None) -> float:
    """Seconds before retry number `retries` + 1, at least Optimove's Retry-After when it gave one."""
    retry_after = exc.retry_after if isinstance(exc, OptimoveRateLimited) else None
    return container().backoff.delay(retries + 1, retry_after=retry_after)


def promobridge_task(name: str, *, max_retries: int | None = None) -> Callable[[F], F]:
    """A bound `@shared_task` with an explicit, stable name and the shared database-outage retry."""

    def decorate(body: F) -> F:
        @functools.wraps(body)
        def run(self: Task[Any, Any], *args: Any, **kwargs: Any) -> Any:
            try:
                return body(self, *args, **kwargs)
            except OperationalError as exc:
                raise self.retry(
                    exc=exc, countdown=countdown(self.request.retries), max_retries=None
                ) from exc

        return cast(F, shared_task(bind=True, name=name, max_retries=max_retries)(run))

    return decorate
