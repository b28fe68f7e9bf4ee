"""One-time setup: make sure Optimove calls our listener for EventTypeID 5 (and 4), idempotently.

A one-time setup command can afford to wait out a bad minute of Optimove's: each call retries
transient failures (5xx, timeouts, dropped connections, 429 after its Retry-After) with
exponential backoff and jitter, a bounded number of times. Every call here sets state, so a retry
after an ambiguous failure is harmless. Permanent failures (401/403, other 4xx) end it at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from app.domain.backoff import Backoff
from app.domain.campaigns import EVENT_SCHEDULED_CONDITIONAL
from app.domain.optimove import RegisteredListener
from app.domain.optimove_errors import OptimoveRateLimited, TransientOptimoveError
from app.security import is_loopback_url

T = TypeVar("T")
DEFAULT_ATTEMPTS = 6
DEFAULT_BACKOFF_BASE_SECONDS = 1.0
DEFAULT_BACKOFF_MAX_SECONDS = 30.0

# (attempt that failed, its error, seconds until the next attempt)
OnRetry = Callable[[int, TransientOptimoveError, float], None]


class ListenerRegistry(Protocol):
    """Optimove's listener endpoints."""

    def get_registered_event_listeners(self) -> list[RegisteredListener]:
        """Every listener currently registered."""
        ...

    def register_event_listener(self, event_type_id: int, listener_url: str) -> None:
        """Register (or replace) the listener of one event type."""
        ...


class OptimoveRegistry(ListenerRegistry, Protocol):
    """The listener endpoints plus the triggered-campaign gateway's."""

    def register_triggered_webhook(self, url: str) -> None:
        """Set the tenant's triggered-campaign gateway URL."""
        ...


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    """What `ensure_listeners` did per event type: "already", "registered" or "replaced"."""

    actions: dict[int, str]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries per call, waiting the shared backoff between them.

    A 429's Retry-After is waited in full, even beyond the cap: calling earlier only fails again.
    """

    attempts: int = DEFAULT_ATTEMPTS
    backoff: Backoff = field(
        default_factory=lambda: Backoff(
            DEFAULT_BACKOFF_BASE_SECONDS, DEFAULT_BACKOFF_MAX_SECONDS, cap_retry_after=False
        )
    )

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy needs attempts >= 1")


def call_with_retries(
    call: Callable[[], T],
    policy: RetryPolicy,
    *,
    on_retry: OnRetry,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Run `call`, retrying transient Optimove errors; permanent ones, and the last failure, propagate."""
    rng = rng or random.Random()
    for attempt in range(1, policy.attempts):
        try:
            return call()
        except TransientOptimoveError as exc:
            retry_after = exc.retry_after if isinstance(exc, OptimoveRateLimited) else None
            delay = policy.backoff.delay(attempt, retry_after=retry_after, rng=rng)
            on_retry(attempt, exc, delay)
            sleep(delay)
    return call()


class RetryingRegistry:
    """An OptimoveRegistry whose every call retries transient failures under one policy."""

    def __init__(
        self,
        registry: OptimoveRegistry,
        policy: RetryPolicy,
        *,
        on_retry: OnRetry,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._registry = registry
        self._policy = policy
        self._on_retry = on_retry
        self._sleep = sleep

    def _retrying(self, call: Callable[[], T]) -> T:
        return call_with_retries(call, self._policy, on_retry=self._on_retry, sleep=self._sleep)

    def get_registered_event_listeners(self) -> list[RegisteredListener]:
        """Every listener currently registered."""
        return self._retrying(self._registry.get_registered_event_listeners)

    def register_event_listener(self, event_type_id: int, listener_url: str) -> None:
        """Register (or replace) the listener of one event type."""
        self._retrying(lambda: self._registry.register_event_listener(event_type_id, listener_url))

    def register_triggered_webhook(self, url: str) -> None:
        """Set the tenant's triggered-campaign gateway URL."""
        self._retrying(lambda: self._registry.register_triggered_webhook(url))


def ensure_listeners(
    registry: ListenerRegistry,
    listener_url: str,
    event_types: Sequence[int] = (EVENT_SCHEDULED_CONDITIONAL,),
) -> RegistrationOutcome:
    """List first, then register only what is missing or points elsewhere (e.g. after a token rotation)."""
    current = {
        listener.event_type_id: listener.listener_url
        for listener in registry.get_registered_event_listeners()
    }
    actions: dict[int, str] = {}
    for event_type in event_types:
        existing = current.get(event_type)
        if existing == listener_url:
            actions[event_type] = "already"
            continue
        registry.register_event_listener(event_type, listener_url)
        actions[event_type] = "registered" if existing is None else "replaced"
    return RegistrationOutcome(actions)


def unreachable_listener_warning(listener_url: str, optimove_url: str) -> str | None:
    """Why Optimove cannot call `listener_url`, when it names this machine and Optimove is elsewhere."""
    if not is_loopback_url(listener_url) or is_loopback_url(optimove_url):
        return None
    listener_host, optimove_host = urlsplit(listener_url).hostname, urlsplit(optimove_url).hostname
    return (
        f"the listener URL's host {listener_host} is this machine only, but Optimove ({optimove_host}) "
        "is not: it cannot call it. Set PROMOBRIDGE_PUBLIC_URL to the web process's public URL."
    )
