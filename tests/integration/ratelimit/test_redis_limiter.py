"""The Redis sliding-window limiter on the real Redis (127.0.0.1:6379, see ``REDIS_TEST_URL``).

Nothing here is skipped: if Redis is down these tests fail, because the limiter is what keeps the
worker pool inside Optimove's budget and must be proven against the real server (fakeredis cannot
run its Lua script). ``redis_client`` is the shared fixture from tests/conftest.py.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Iterator
from multiprocessing.queues import Queue

import pytest
import redis

from app.adapters.ratelimit import RateLimitWaitExceeded, RedisSlidingWindowLimiter, limiter_key_for
from app.domain.budget import BudgetUsage
from tests.support.databases import REDIS_TEST_URL

PROCESSES = 4
LIMIT = 20
WINDOW_SECONDS = 1.0
HAMMER_SECONDS = 3.0
MIN_THROUGHPUT_SHARE = 0.70


def connect() -> redis.Redis:
    return redis.Redis.from_url(REDIS_TEST_URL, socket_timeout=5, socket_connect_timeout=5)


@pytest.fixture
def key(redis_client: redis.Redis) -> Iterator[str]:
    name = f"promobridge:test:ratelimit:{uuid.uuid4().hex}"
    yield name
    redis_client.delete(name)


def test_a_burst_up_to_the_limit_passes_then_the_next_caller_waits(
    redis_client: redis.Redis, key: str
) -> None:
    limiter = RedisSlidingWindowLimiter(
        redis_client, key=key, limit=5, window_seconds=0.5, margin_seconds=0.05
    )

    started = time.monotonic()
    burst = [limiter.acquire() for _ in range(5)]
    burst_seconds = time.monotonic() - started
    waited = limiter.acquire()

    assert burst == [0.0] * 5
    assert burst_seconds < 0.25
    assert 0.4 <= waited <= 0.8
    assert limiter.waits == 1
    assert limiter.waited_seconds == pytest.approx(waited)


def test_a_refused_wait_takes_no_slot(redis_client: redis.Redis, key: str) -> None:
    limiter = RedisSlidingWindowLimiter(
        redis_client, key=key, limit=1, window_seconds=0.3, margin_seconds=0.0
    )
    limiter.acquire()

    with pytest.raises(RateLimitWaitExceeded) as caught:
        limiter.acquire(max_wait_seconds=0.05)

    assert 0.05 < caught.value.would_wait_seconds <= 0.35
    assert redis_client.zcard(key) == 1
    assert limiter.acquire(max_wait_seconds=1.0) > 0


def test_the_key_expires_once_the_window_is_over(redis_client: redis.Redis, key: str) -> None:
    limiter = RedisSlidingWindowLimiter(
        redis_client, key=key, limit=3, window_seconds=0.2, margin_seconds=0.05
    )

    limiter.acquire()

    assert 0 < redis_client.pttl(key) <= 250
    time.sleep(0.35)
    assert redis_client.exists(key) == 0


def test_limiters_on_the_same_key_share_one_budget(redis_client: redis.Redis, key: str) -> None:
    first = RedisSlidingWindowLimiter(redis_client, key=key, limit=2, window_seconds=10.0)
    other_connection = connect()
    second = RedisSlidingWindowLimiter(other_connection, key=key, limit=2, window_seconds=10.0)

    first.acquire()
    second.acquire()

    with pytest.raises(RateLimitWaitExceeded):
        second.acquire(max_wait_seconds=0)
    other_connection.close()


def test_only_a_hash_of_the_api_key_reaches_redis(redis_client: redis.Redis) -> None:
    api_key = f"secret-{uuid.uuid4().hex}"
    key = limiter_key_for(api_key)
    limiter = RedisSlidingWindowLimiter(redis_client, key=key, limit=1, window_seconds=0.5)
    try:
        limiter.acquire()
        assert redis_client.exists(key) == 1
        assert list(redis_client.scan_iter(match=f"*{api_key}*")) == []
    finally:
        redis_client.delete(key)


def _hammer(key: str, start_at: float, stop_at: float, results: Queue[list[float]]) -> None:
    """Child process: acquire as fast as the limiter allows and report when each slot was taken."""
    limiter = RedisSlidingWindowLimiter(connect(), key=key, limit=LIMIT, window_seconds=WINDOW_SECONDS)
    time.sleep(max(0.0, start_at - time.time()))
    taken: list[float] = []
    while time.time() < stop_at:
        limiter.acquire()
        taken.append(time.time())
    results.put(taken)


def test_four_processes_never_exceed_the_limit_in_any_sliding_window(key: str) -> None:
    context = multiprocessing.get_context("fork")
    results: Queue[list[float]] = context.Queue()
    start_at = time.time() + 0.5
    stop_at = start_at + HAMMER_SECONDS
    workers = [
        context.Process(target=_hammer, args=(key, start_at, stop_at, results)) for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    per_process = [results.get(timeout=HAMMER_SECONDS + 10) for _ in workers]
    for worker in workers:
        worker.join(timeout=5)

    assert all(worker.exitcode == 0 for worker in workers)
    stamps = sorted(stamp for taken in per_process for stamp in taken if stamp < stop_at)
    crowded = [
        (stamps[i], stamps[i + LIMIT])
        for i in range(len(stamps) - LIMIT)
        if stamps[i + LIMIT] - stamps[i] < WINDOW_SECONDS
    ]
    assert crowded == [], f"more than {LIMIT} acquisitions within {WINDOW_SECONDS}s"
    throughput = len(stamps) / HAMMER_SECONDS
    assert throughput >= MIN_THROUGHPUT_SHARE * LIMIT / WINDOW_SECONDS, f"only {throughput:.1f}/s"
    assert sum(1 for taken in per_process if taken) >= 2, "the budget was shared, not taken by one process"


def test_an_unreachable_ledger_fails_the_call_as_transient_and_sends_nothing() -> None:
    import redis as redis_lib

    from app.adapters.optimove.client import OptimoveClient
    from app.adapters.ratelimit import RedisSlidingWindowLimiter
    from app.domain.optimove_errors import OptimoveBudgetUnavailable

    down = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    limiter = RedisSlidingWindowLimiter(down, key="promobridge:test:down", limit=5, window_seconds=1)
    client = OptimoveClient(base_url="http://127.0.0.1:1/current", api_key="k", rate_limiter=limiter)
    with pytest.raises(OptimoveBudgetUnavailable) as caught:
        client.get_registered_event_listeners()
    assert caught.value.ambiguous is False


def test_peeking_at_the_budget_takes_no_slot(redis_client: redis.Redis) -> None:
    limiter = RedisSlidingWindowLimiter(
        redis_client, key=f"promobridge:test:{uuid.uuid4().hex}", limit=2, window_seconds=1.0
    )
    assert limiter.seconds_until_free() == 0
    limiter.acquire()
    assert limiter.seconds_until_free() == 0  # one slot left, and peeking did not take it
    limiter.acquire()
    assert 0.5 < limiter.seconds_until_free() <= 1.25
    time.sleep(limiter.seconds_until_free())
    assert limiter.acquire(max_wait_seconds=0.05) < 0.05


def test_the_budget_usage_counts_every_process_slots_and_takes_none(
    redis_client: redis.Redis, key: str
) -> None:
    first = RedisSlidingWindowLimiter(redis_client, key=key, limit=5, window_seconds=0.5, margin_seconds=0)
    second = RedisSlidingWindowLimiter(connect(), key=key, limit=5, window_seconds=0.5, margin_seconds=0)
    assert first.usage() == BudgetUsage(0, 5, 0.5)
    first.acquire()
    second.acquire()
    second.acquire()
    assert first.usage() == second.usage() == BudgetUsage(3, 5, 0.5)
    assert first.usage() == BudgetUsage(3, 5, 0.5)  # reading twice took nothing
    time.sleep(0.6)
    assert first.usage() == BudgetUsage(0, 5, 0.5)  # the window slid past them
