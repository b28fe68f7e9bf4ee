"""Locks and doorbells on the real Redis, and failing open when Redis is away."""

from __future__ import annotations

import time

import redis

from app.adapters.coordination import UNCOORDINATED, RedisCoordination
from tests.support.databases import REDIS_TEST_URL


def test_a_lock_has_one_holder_and_only_its_token_refreshes_or_releases_it(redis_client: redis.Redis) -> None:
    coordination = RedisCoordination(redis_client)

    token = coordination.acquire("validate:1:P", 30)
    assert token is not None and token != UNCOORDINATED
    assert coordination.acquire("validate:1:P", 30) is None
    assert coordination.acquire("validate:1:Q", 30) is not None, "another promo code is another lock"

    assert not coordination.refresh("validate:1:P", "someone-else", 30)
    coordination.release("validate:1:P", "someone-else")
    assert coordination.acquire("validate:1:P", 30) is None, "a stranger's release changed nothing"

    assert coordination.refresh("validate:1:P", token, 30)
    coordination.release("validate:1:P", token)
    assert coordination.acquire("validate:1:P", 30) is not None


def test_a_lock_whose_holder_died_expires(redis_client: redis.Redis) -> None:
    coordination = RedisCoordination(redis_client)
    dead = coordination.acquire("validate:2:P", 0.05)
    assert dead is not None
    time.sleep(0.1)

    assert coordination.acquire("validate:2:P", 30) is not None
    assert not coordination.refresh("validate:2:P", dead, 30), "the dead holder cannot take it back"


def test_a_doorbell_publishes_the_first_ring_until_answered_or_forgotten(redis_client: redis.Redis) -> None:
    coordination = RedisCoordination(redis_client)

    assert coordination.ring("validate:3:P", 30)
    assert not coordination.ring("validate:3:P", 30)
    coordination.answer("validate:3:P")
    assert coordination.ring("validate:3:P", 0.05)
    time.sleep(0.1)
    assert coordination.ring("validate:3:P", 30), "a ring whose message was lost is forgotten"


def test_without_redis_locks_are_granted_every_ring_publishes_and_nothing_waits() -> None:
    coordination = RedisCoordination.connect("redis://127.0.0.1:1/0")  # nothing listens there
    started = time.monotonic()

    token = coordination.acquire("validate:4:P", 30)
    assert token == UNCOORDINATED and coordination.acquire("validate:4:P", 30) == UNCOORDINATED
    assert coordination.refresh("validate:4:P", token, 30)
    coordination.release("validate:4:P", token)
    assert coordination.ring("validate:4:P", 30) and coordination.ring("validate:4:P", 30)
    coordination.answer("validate:4:P")

    assert time.monotonic() - started < 1.0, "one refused connection, then Redis is left alone a while"


def test_redis_is_tried_again_after_the_pause(redis_client: redis.Redis) -> None:
    coordination = RedisCoordination.connect(REDIS_TEST_URL)
    coordination._paused_until = time.monotonic() + 0.05  # as after a failure
    assert coordination.acquire("validate:5:P", 30) == UNCOORDINATED
    time.sleep(0.06)
    assert coordination.acquire("validate:5:P", 30) not in (None, UNCOORDINATED)
