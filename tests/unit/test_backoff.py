"""The one backoff: exponential with equal jitter, capped, with the server's Retry-After as a floor."""

from __future__ import annotations

import random

import pytest

from app.domain.backoff import Backoff


def test_each_step_doubles_and_the_delay_is_drawn_between_half_the_step_and_the_step() -> None:
    backoff = Backoff(base_seconds=1, max_seconds=1000)
    rng = random.Random(1)

    for attempts, step in [(1, 1), (2, 2), (3, 4), (6, 32)]:
        delays = [backoff.delay(attempts, rng=rng) for _ in range(200)]
        assert all(step / 2 <= d <= step for d in delays), attempts
        assert max(delays) - min(delays) > step / 4, "the delays are spread, not fixed"


def test_the_delay_never_exceeds_the_cap_however_many_attempts() -> None:
    backoff = Backoff(base_seconds=0.5, max_seconds=8)

    assert all(4 <= backoff.delay(attempts) <= 8 for attempts in (5, 9, 80, 10_000))


def test_retry_after_is_a_floor_but_still_capped() -> None:
    backoff = Backoff(base_seconds=1, max_seconds=60)

    assert backoff.delay(1, retry_after=30) == 30
    assert 8 <= backoff.delay(5, retry_after=0.5) <= 16, "a shorter Retry-After changes nothing"
    assert backoff.delay(1, retry_after=3600) == 60


@pytest.mark.parametrize("settings", [{"base_seconds": 0}, {"max_seconds": -1}])
def test_an_impossible_backoff_is_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Backoff(**settings)


def test_attempts_start_at_one() -> None:
    with pytest.raises(ValueError):
        Backoff().delay(0)
