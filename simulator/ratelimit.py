"""Optimove's per-key sliding-window rate limit [C S12], changeable while the simulator runs."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RatePolicy:
    """At most ``limit`` requests per key in any ``window_seconds``; nothing is limited when disabled."""

    enabled: bool
    limit: int
    window_seconds: float


class SlidingWindowLimiter:
    """A log of accepted request times per API key.

    A true sliding window (not a token bucket) because that is what Optimove says it counts, and the
    service's shared limiter must be proven against the strict version. Rejected requests are not
    logged, so a client hammering through 429s does not extend its own penalty.
    """

    def __init__(self, policy: RatePolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self._policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[str, deque[float]] = {}

    @property
    def policy(self) -> RatePolicy:
        """The policy in force."""
        return self._policy

    def reconfigure(self, policy: RatePolicy) -> None:
        """Change the policy; logged requests keep counting against the new window."""
        with self._lock:
            self._policy = policy

    def clear(self) -> None:
        """Forget every logged request."""
        with self._lock:
            self._logs.clear()

    def try_acquire(self, key: str) -> int | None:
        """Log a request for ``key`` and return None, or return the Retry-After seconds if over the limit."""
        with self._lock:
            policy = self._policy
            if not policy.enabled:
                return None
            now = self._clock()
            log = self._logs.setdefault(key, deque())
            horizon = now - policy.window_seconds
            while log and log[0] <= horizon:
                log.popleft()
            if len(log) >= policy.limit:
                # The (len - limit + 1)-th oldest entry must leave before one more fits.
                blocking = log[len(log) - policy.limit]
                return max(1, math.ceil(blocking + policy.window_seconds - now))
            log.append(now)
            return None
