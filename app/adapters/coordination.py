"""Coordination between every worker and web process, through Redis: single-flight locks and doorbells.

- A single-flight lock lets one holder per key work at a time (one validator per campaign and promo
  code, so a scarce Optimove budget is spent on full calls). It carries a random token, so only its
  holder can refresh or release it, and a time-to-live, so a holder that dies loses it.
- A doorbell deduplicates wake-ups: `ring` says whether the caller must publish the task (nobody rang
  since the last `answer`, or the ring expired); the worker `answer`s when it starts looking, so
  work that arrives from then on rings again. See ``app.services.validation`` for why no claim can
  be left behind.

Redis being unreachable must not stop claims: a lock that cannot be taken is granted (two holders
are only less efficient, never wrong: leases keep their work apart) and a ring always publishes.
It must not slow them either: the client neither retries nor waits long, and after a failure
Redis is left alone for `PAUSE_AFTER_FAILURE_SECONDS` (every call fails open at once meanwhile).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)
KEY_PREFIX = "promobridge:coordination:"
UNCOORDINATED = "uncoordinated"  # the token of a lock granted while Redis was unreachable
PAUSE_AFTER_FAILURE_SECONDS = 5.0
TIMEOUT_SECONDS = 0.5

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_REFRESH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisCoordination:
    """Locks and doorbells in Redis, shared by every process (``app.services.ports.Coordination``)."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._release = client.register_script(_RELEASE)
        self._refresh = client.register_script(_REFRESH)
        self._paused_until = 0.0

    @classmethod
    def connect(cls, url: str) -> RedisCoordination:
        """On the Redis at `url`, with short timeouts and no retries (see the module docstring)."""
        client = redis.Redis.from_url(
            url,
            socket_timeout=TIMEOUT_SECONDS,
            socket_connect_timeout=TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), retries=0),
        )
        return cls(client)

    def _available(self) -> bool:
        return time.monotonic() >= self._paused_until

    def _failed(self, what: str, exc: RedisError) -> None:
        self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE_SECONDS
        log.warning("coordination unavailable: %s", what, extra={"error": repr(exc)})

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        """A token if this caller now holds `key` for `ttl_seconds`; None when someone else does."""
        if not self._available():
            return UNCOORDINATED
        token = secrets.token_hex(8)
        try:
            taken = self._redis.set(KEY_PREFIX + key, token, nx=True, px=_ms(ttl_seconds))
        except RedisError as exc:
            self._failed("working without the lock", exc)
            return UNCOORDINATED
        return token if taken else None

    def refresh(self, key: str, token: str, ttl_seconds: float) -> bool:
        """Extend a held lock; False if it was lost (expired and taken by another)."""
        if token == UNCOORDINATED or not self._available():
            return True
        try:
            return bool(self._refresh(keys=[KEY_PREFIX + key], args=[token, _ms(ttl_seconds)]))
        except RedisError as exc:
            self._failed("could not refresh a lock", exc)
            return True

    def release(self, key: str, token: str) -> None:
        """Give a held lock back (nothing happens if it was lost meanwhile)."""
        if token == UNCOORDINATED or not self._available():
            return  # a lock left behind expires by itself
        try:
            self._release(keys=[KEY_PREFIX + key], args=[token])
        except RedisError as exc:
            self._failed("could not release a lock; it expires by itself", exc)

    def ring(self, key: str, window_seconds: float) -> bool:
        """True when the caller must publish the wake-up: nobody rang since the last answer."""
        if not self._available():
            return True
        try:
            return bool(self._redis.set(KEY_PREFIX + "ring:" + key, "1", nx=True, px=_ms(window_seconds)))
        except RedisError as exc:
            self._failed("every ring publishes", exc)
            return True

    def answer(self, key: str) -> None:
        """The worker is looking now: what arrives from here on rings again."""
        if not self._available():
            return
        try:
            self._redis.delete(KEY_PREFIX + "ring:" + key)
        except RedisError as exc:
            self._failed("could not answer a doorbell; it expires by itself", exc)


class LocalCoordination:
    """Without Redis (embedded mode): locks for this process only, and every ring publishes.

    Worker processes then do not exclude each other: validators may run side by side on one promo
    code, which leases keep correct (each takes different claims), just less economical.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        """A token if no thread of this process holds `key`."""
        with self._lock:
            if key in self._held:
                return None
            token = secrets.token_hex(8)
            self._held[key] = token
            return token

    def refresh(self, key: str, token: str, ttl_seconds: float) -> bool:
        """Whether this process still holds `key` with `token`."""
        with self._lock:
            return self._held.get(key) == token

    def release(self, key: str, token: str) -> None:
        """Give the lock back."""
        with self._lock:
            if self._held.get(key) == token:
                del self._held[key]

    def ring(self, key: str, window_seconds: float) -> bool:
        """Always publish: no shared memory of earlier rings."""
        return True

    def answer(self, key: str) -> None:
        """Nothing to clear."""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
