"""Outbound rate limiting for the Optimove API key, shared by every process through Redis.

Why hand-written rather than the ``limits`` package: Optimove counts requests per API key over a
sliding window (50 requests per 10 s, ref §1.3), and our callers must *block* until a slot frees
rather than be refused and reschedule themselves. The window also needs sub-second precision plus
a safety margin, because Optimove counts a request when it *arrives*, slightly after we took the
slot; ``limits`` offers whole-second windows and non-blocking hits only.

The Redis limiter is a sliding log: a sorted set of the slots taken, scored by the Redis server's
clock (``TIME``, microseconds), so every host shares one clock and clock skew between workers does
not matter. One Lua script drops expired entries, counts, and either takes a slot or says how long
until the oldest one leaves, atomically. Requires Redis >= 5 (effects replication of ``TIME``).

If Redis is unreachable, ``acquire`` raises the redis error: the limiter fails closed, since sending
without it would spend the shared budget blind.
"""

from __future__ import annotations

import hashlib
import logging
import math
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from typing import Protocol

import redis

from app.domain.budget import BudgetUsage

__all__ = [
    "DEFAULT_MARGIN_SECONDS",
    "LocalSlidingWindowLimiter",
    "RateLimitWaitExceeded",
    "RateLimiter",
    "RedisSlidingWindowLimiter",
    "UnlimitedLimiter",
    "limiter_key_for",
]

logger = logging.getLogger(__name__)

DEFAULT_MARGIN_SECONDS = 0.25
MAX_JITTER_SECONDS = 0.020  # spreads wake-ups so waiting processes do not all retry at once
KEY_PREFIX = "promobridge:ratelimit:optimove:"
KEY_HASH_CHARS = 16

# KEYS[1] = the sorted set; ARGV = limit, window incl. margin (µs), unique member, key TTL (ms).
# Returns 0 when a slot was taken, else the milliseconds until the oldest entry leaves the window.
_ACQUIRE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
"""


# Read-only twin of the acquire script: how long until a slot frees, without taking one.
_PEEK_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, math.ceil((tonumber(oldest[2]) + window - now) / 1000))
"""


# Read-only: the slots taken in the window (inclusive of the margin), expired ones merely not counted.
_USAGE_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
"""


class RateLimiterUnavailable(Exception):
    """The shared ledger (Redis) cannot be reached, so no slot can be taken safely; retry later."""


class RateLimitWaitExceeded(Exception):
    """A slot would not free up within the caller's ``max_wait_seconds``."""

    def __init__(self, message: str, *, would_wait_seconds: float) -> None:
        super().__init__(message)
        self.would_wait_seconds = would_wait_seconds


class RateLimiter(Protocol):
    """Something that hands out request slots; ``acquire`` blocks until one is taken."""

    def acquire(self, *, max_wait_seconds: float | None = None) -> float:
        """Take a slot, sleeping as needed; return the seconds waited.

        Raises RateLimitWaitExceeded, without taking a slot, if that would take longer than
        ``max_wait_seconds`` (``0`` makes it a non-blocking attempt).
        """
        ...

    def seconds_until_free(self) -> float:
        """How long until a slot would be free, without taking one (0 when one is free now)."""
        ...

    def usage(self) -> BudgetUsage | None:
        """The slots taken in the current window, shared by every process; None when not shared."""
        ...


def limiter_key_for(api_key: str) -> str:
    """Name the Redis key for an API key's budget; only a hash prefix of the key is stored."""
    digest = hashlib.sha256(api_key.encode("utf-8")).hexdigest()
    return KEY_PREFIX + digest[:KEY_HASH_CHARS]


def _check_budget(limit: int, window_seconds: float, margin_seconds: float) -> None:
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    if not window_seconds > 0:
        raise ValueError(f"window_seconds must be positive, got {window_seconds}")
    if not margin_seconds >= 0:
        raise ValueError(f"margin_seconds must not be negative, got {margin_seconds}")


class _WaitStats:
    """Counters every limiter exposes: how many acquires waited, and for how long in total."""

    def __init__(self, on_wait: Callable[[float], None] | None) -> None:
        self.waits = 0
        self.waited_seconds = 0.0
        self._on_wait = on_wait
        self._stats_lock = threading.Lock()

    def _record_wait(self, seconds: float) -> None:
        with self._stats_lock:
            self.waits += 1
            self.waited_seconds += seconds
        if self._on_wait is not None:
            try:
                self._on_wait(seconds)
            except Exception:
                # A broken metrics hook must not fail the call that was waiting for a slot.
                logger.exception("rate limiter on_wait hook failed")


def _check_deadline(waited: float, next_wait: float, max_wait_seconds: float | None) -> None:
    if max_wait_seconds is not None and waited + next_wait > max_wait_seconds:
        raise RateLimitWaitExceeded(
            f"rate limit slot frees in {next_wait:.3f}s, beyond the {max_wait_seconds:.3f}s allowed",
            would_wait_seconds=waited + next_wait,
        )


class RedisSlidingWindowLimiter(_WaitStats):
    """At most ``limit`` acquisitions in any ``window_seconds + margin_seconds``, across all processes.

    Waiting happens in the caller (sleep, then ask again), never in Redis, so a waiting process
    holds no Redis connection and no lock. Thread-safe as far as the redis client is.
    """

    def __init__(
        self,
        redis_client: redis.Redis,
        *,
        key: str,
        limit: int,
        window_seconds: float,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        on_wait: Callable[[float], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check_budget(limit, window_seconds, margin_seconds)
        super().__init__(on_wait)
        self.key = key
        self.limit = limit
        self.window_seconds = window_seconds
        self.margin_seconds = margin_seconds
        self._window_us = math.ceil((window_seconds + margin_seconds) * 1_000_000)
        self._ttl_ms = math.ceil((window_seconds + margin_seconds) * 1000)
        self._script = redis_client.register_script(_ACQUIRE_SCRIPT)
        self._peek = redis_client.register_script(_PEEK_SCRIPT)
        self._usage = redis_client.register_script(_USAGE_SCRIPT)
        self._sleep = sleep

    def seconds_until_free(self) -> float:
        """How long until a slot frees (0 when one is free now); takes nothing."""
        try:
            wait_ms = int(self._peek(keys=[self.key], args=[self.limit, self._window_us]))
        except redis.RedisError as exc:
            raise RateLimiterUnavailable(f"the rate-limit ledger is unreachable: {exc}") from exc
        return wait_ms / 1000

    def usage(self) -> BudgetUsage | None:
        """The slots every process took in the current window; reads the ledger, changes nothing."""
        try:
            used = int(self._usage(keys=[self.key], args=[self._window_us]))
        except redis.RedisError as exc:
            raise RateLimiterUnavailable(f"the rate-limit ledger is unreachable: {exc}") from exc
        return BudgetUsage(used, self.limit, self.window_seconds + self.margin_seconds)

    def acquire(self, *, max_wait_seconds: float | None = None) -> float:
        """Take a slot, sleeping until one frees; see ``RateLimiter.acquire``."""
        started = time.monotonic()
        waited = 0.0
        try:
            while True:
                member = uuid.uuid4().hex
                try:
                    wait_ms = int(
                        self._script(
                            keys=[self.key], args=[self.limit, self._window_us, member, self._ttl_ms]
                        )
                    )
                except redis.RedisError as exc:
                    # Going ahead without the shared budget would risk 429s for every process.
                    raise RateLimiterUnavailable(f"the rate-limit ledger is unreachable: {exc}") from exc
                if wait_ms <= 0:
                    return waited
                _check_deadline(waited, wait_ms / 1000, max_wait_seconds)
                self._sleep(wait_ms / 1000 + random.uniform(0, MAX_JITTER_SECONDS))
                waited = time.monotonic() - started
        finally:
            if waited > 0:
                self._record_wait(waited)


class LocalSlidingWindowLimiter(_WaitStats):
    """The Redis limiter's semantics inside one process, for the embedded mode without Redis."""

    def __init__(
        self,
        *,
        limit: int,
        window_seconds: float,
        margin_seconds: float = DEFAULT_MARGIN_SECONDS,
        on_wait: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        _check_budget(limit, window_seconds, margin_seconds)
        super().__init__(on_wait)
        self.limit = limit
        self.window_seconds = window_seconds
        self.margin_seconds = margin_seconds
        self._span = window_seconds + margin_seconds
        self._taken: deque[float] = deque()
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep

    def acquire(self, *, max_wait_seconds: float | None = None) -> float:
        """Take a slot, sleeping until one frees; see ``RateLimiter.acquire``."""
        started = self._clock()
        waited = 0.0
        try:
            while True:
                wait = self._try_take()
                if wait <= 0:
                    return waited
                _check_deadline(waited, wait, max_wait_seconds)
                self._sleep(wait)
                waited = self._clock() - started
        finally:
            if waited > 0:
                self._record_wait(waited)

    def seconds_until_free(self) -> float:
        """How long until a slot frees (0 when one is free now); takes nothing."""
        with self._lock:
            now = self._clock()
            while self._taken and self._taken[0] <= now - self._span:
                self._taken.popleft()
            return 0.0 if len(self._taken) < self.limit else self._taken[0] + self._span - now

    def usage(self) -> BudgetUsage | None:
        """None: this ledger belongs to one process, and says nothing of what the others took."""
        return None

    def _try_take(self) -> float:
        with self._lock:
            now = self._clock()
            while self._taken and self._taken[0] <= now - self._span:
                self._taken.popleft()
            if len(self._taken) < self.limit:
                self._taken.append(now)
                return 0.0
            return self._taken[0] + self._span - now


class UnlimitedLimiter:
    """A limiter that never waits: for tests and for endpoints without a budget."""

    waits = 0
    waited_seconds = 0.0

    def acquire(self, *, max_wait_seconds: float | None = None) -> float:
        """Return 0.0 at once."""
        return 0.0

    def seconds_until_free(self) -> float:
        """Always free."""
        return 0.0

    def usage(self) -> BudgetUsage | None:
        """None: there is no budget."""
        return None
