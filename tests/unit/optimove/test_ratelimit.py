"""The in-process sliding-window limiter, the no-op limiter and the Redis key naming.

The Redis limiter itself runs a Lua script, which fakeredis cannot execute without the optional
``lupa`` package (not installed here: EVAL answers "unknown command"), so it is tested against the
real Redis in tests/integration/ratelimit/.
"""

from __future__ import annotations

import threading
import time

import pytest

from app.adapters.ratelimit import (
    DEFAULT_MARGIN_SECONDS,
    LocalSlidingWindowLimiter,
    RateLimiter,
    RateLimitWaitExceeded,
    UnlimitedLimiter,
    limiter_key_for,
)


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def local_limiter(fake: FakeTime, **overrides: float) -> LocalSlidingWindowLimiter:
    settings = {"limit": 3, "window_seconds": 1.0, "margin_seconds": 0.25} | overrides
    return LocalSlidingWindowLimiter(
        limit=int(settings["limit"]),
        window_seconds=settings["window_seconds"],
        margin_seconds=settings["margin_seconds"],
        clock=fake.clock,
        sleep=fake.sleep,
    )


def test_the_first_acquisitions_up_to_the_limit_do_not_wait() -> None:
    fake = FakeTime()
    limiter = local_limiter(fake)

    waited = [limiter.acquire() for _ in range(3)]

    assert waited == [0.0, 0.0, 0.0]
    assert fake.sleeps == []
    assert (limiter.waits, limiter.waited_seconds) == (0, 0.0)


def test_a_full_window_blocks_until_the_oldest_slot_plus_margin_has_passed() -> None:
    fake = FakeTime()
    limiter = local_limiter(fake)
    for _ in range(3):
        limiter.acquire()
        fake.now += 0.1  # slots taken at 1000.0, 1000.1, 1000.2

    waited = limiter.acquire()  # asked at 1000.3; the first slot frees at 1000.0 + 1.0 + 0.25

    assert waited == pytest.approx(0.95)
    assert fake.now == pytest.approx(1001.25)
    assert limiter.waits == 1
    assert limiter.waited_seconds == pytest.approx(0.95)


def test_the_window_slides_rather_than_resetting() -> None:
    fake = FakeTime()
    limiter = local_limiter(fake, limit=2, margin_seconds=0.0)
    limiter.acquire()  # t=0
    fake.now += 0.9
    limiter.acquire()  # t=0.9
    fake.now += 0.2  # t=1.1: the first slot left, the second has not

    assert limiter.acquire() == 0.0
    assert limiter.acquire() == pytest.approx(0.8)  # waits for the t=0.9 slot to leave at t=1.9


def test_acquire_refuses_a_wait_longer_than_allowed_and_takes_no_slot() -> None:
    fake = FakeTime()
    limiter = local_limiter(fake, limit=1)
    limiter.acquire()

    with pytest.raises(RateLimitWaitExceeded) as caught:
        limiter.acquire(max_wait_seconds=0.5)

    assert caught.value.would_wait_seconds == pytest.approx(1.25)
    assert fake.sleeps == []
    assert limiter.acquire(max_wait_seconds=1.25) == pytest.approx(1.25), "the refused attempt took no slot"


def test_zero_max_wait_is_a_non_blocking_attempt() -> None:
    fake = FakeTime()
    limiter = local_limiter(fake, limit=1)

    assert limiter.acquire(max_wait_seconds=0) == 0.0
    with pytest.raises(RateLimitWaitExceeded):
        limiter.acquire(max_wait_seconds=0)


def test_on_wait_reports_each_wait() -> None:
    fake = FakeTime()
    reported: list[float] = []
    limiter = LocalSlidingWindowLimiter(
        limit=1,
        window_seconds=1.0,
        margin_seconds=0.0,
        on_wait=reported.append,
        clock=fake.clock,
        sleep=fake.sleep,
    )

    limiter.acquire()
    limiter.acquire()
    limiter.acquire()

    assert reported == [pytest.approx(1.0), pytest.approx(1.0)]
    assert limiter.waits == 2


def test_a_failing_on_wait_hook_does_not_fail_acquire() -> None:
    fake = FakeTime()

    def broken_hook(seconds: float) -> None:
        raise RuntimeError("metrics backend down")

    limiter = LocalSlidingWindowLimiter(
        limit=1, window_seconds=1.0, on_wait=broken_hook, clock=fake.clock, sleep=fake.sleep
    )

    limiter.acquire()
    assert limiter.acquire() == pytest.approx(1.25)


def test_threads_sharing_a_local_limiter_never_exceed_the_window() -> None:
    limit, window = 5, 0.2
    limiter = LocalSlidingWindowLimiter(limit=limit, window_seconds=window, margin_seconds=0.05)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(5):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    stamps.sort()
    assert len(stamps) == 20
    assert all(stamps[i + limit] - stamps[i] >= window for i in range(len(stamps) - limit))
    assert limiter.waits > 0


@pytest.mark.parametrize(
    "settings",
    [
        {"limit": 0, "window_seconds": 1.0},
        {"limit": 1, "window_seconds": 0.0},
        {"limit": 1, "window_seconds": 1.0, "margin_seconds": -0.1},
    ],
)
def test_impossible_budgets_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LocalSlidingWindowLimiter(**settings)  # type: ignore[arg-type]


def test_unlimited_limiter_never_waits() -> None:
    limiter: RateLimiter = UnlimitedLimiter()

    assert [limiter.acquire(max_wait_seconds=0) for _ in range(1000)] == [0.0] * 1000


def test_limiter_key_hides_the_api_key() -> None:
    key = limiter_key_for("secret-api-key")

    assert key.startswith("promobridge:ratelimit:optimove:")
    assert len(key.rsplit(":", 1)[1]) == 16
    assert "secret" not in key
    assert key == limiter_key_for("secret-api-key")
    assert key != limiter_key_for("another-api-key")


def test_default_margin_is_a_quarter_second() -> None:
    assert DEFAULT_MARGIN_SECONDS == 0.25


def test_the_local_limiter_can_be_peeked_without_taking_a_slot() -> None:
    from app.adapters.ratelimit import LocalSlidingWindowLimiter

    now = [100.0]
    limiter = LocalSlidingWindowLimiter(
        limit=1, window_seconds=10, margin_seconds=0, clock=lambda: now[0], sleep=lambda s: None
    )
    assert limiter.seconds_until_free() == 0
    assert limiter.seconds_until_free() == 0
    limiter.acquire()
    now[0] = 104.0
    assert limiter.seconds_until_free() == 6.0
