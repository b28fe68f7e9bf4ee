"""The retry policy every promobridge task shares, written once as data.

Database outages (OperationalError: PostgreSQL restarting, a dropped connection) are always
transient: the task retries with exponential backoff and jitter, never giving up, because its
state lives in PostgreSQL and the work must eventually happen. Countdowns stay far below the
broker's visibility timeout (see celeryconfig), so a waiting retry is never redelivered twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from celery import shared_task
from sqlalchemy.exc import OperationalError

from app.adapters.optimove.errors import OptimoveRateLimited

RETRY_BACKOFF_MAX_SECONDS = 60


def promobridge_task(name: str, *, bind: bool = False, max_retries: int | None = None) -> Callable[..., Any]:
    """`@shared_task` with the shared database-outage retry policy and an explicit, stable name."""
    return shared_task(  # type: ignore[no-any-return, call-overload]
        bind=bind,
        name=name,
        autoretry_for=(OperationalError,),
        retry_backoff=True,
        retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS,
        retry_jitter=True,
        max_retries=max_retries,
    )


def backoff_countdown(retries: int, exc: BaseException | None = None) -> float:
    """Exponential backoff with full jitter, at least Optimove's Retry-After when it gave one."""
    delay = random.uniform(0, min(RETRY_BACKOFF_MAX_SECONDS, 2 ** (retries + 1)))
    if isinstance(exc, OptimoveRateLimited) and exc.retry_after:
        delay = max(delay, exc.retry_after)
    return delay
