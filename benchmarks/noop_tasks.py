"""The claims benchmark's baseline: a bare Celery chain of three no-op tasks on promobridge's own worker.

A claim is a chain of Celery hops plus real work, so its honest denominator is what the same broker
and the same worker processes do with the hops alone. The worker loads these tasks with
`promobridge worker -c 2 -- --include benchmarks.noop_tasks` (extra arguments go to `celery
worker`), so the baseline runs on exactly the pool that runs the claims, with its settings (acks
late, prefetch 1, events on). The result backend is disabled there, so the last hop counts finished
chains with a Redis INCR on the broker's database instead.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import cast

import redis
from celery import Celery, chain, current_app, shared_task

NOOP_TASK = "promobridge.bench.noop"
NOOP_LAST_TASK = "promobridge.bench.noop_last"
CHAINS_DONE_KEY = "promobridge:bench:chains_done"
POLL_SECONDS = 0.01
PROGRESS_SECONDS = 2.0
_done_counter: redis.Redis | None = None


@shared_task(name=NOOP_TASK)
def noop(i: int) -> int:
    """A hop that does nothing: what Celery alone costs per task."""
    return i


@shared_task(name=NOOP_LAST_TASK)
def noop_last(i: int) -> int:
    """The last hop: one INCR, so the producer sees the chain finish without a result backend."""
    mark_chain_done()
    return i


def mark_chain_done() -> None:
    """Count one finished chain on the broker's Redis (the last task of every benchmark chain calls it)."""
    global _done_counter
    if _done_counter is None:  # created in the pool child that runs it, never across a fork
        _done_counter = redis.Redis.from_url(str(current_app.conf.broker_url))
    _done_counter.incr(CHAINS_DONE_KEY)


def chain_producer(broker_url: str) -> Celery:
    """A client-only Celery app that publishes to the queue promobridge's workers call `default`."""
    producer = Celery("promobridge-bench", broker=broker_url, set_as_current=False)
    producer.conf.update(task_default_queue="default", task_serializer="json", task_ignore_result=True)
    return producer


def run_chains(
    producer: Celery,
    broker: redis.Redis,
    count: int,
    *,
    timeout: float = 600.0,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Enqueue `count` chains of three no-ops from one producer; seconds until the last one finished."""
    broker.delete(CHAINS_DONE_KEY)
    started = time.perf_counter()
    for i in range(count):
        chain(
            producer.signature(NOOP_TASK, args=(i,), immutable=True),
            producer.signature(NOOP_TASK, args=(i,), immutable=True),
            producer.signature(NOOP_LAST_TASK, args=(i,), immutable=True),
        ).apply_async()
    return wait_for_chains(broker, count, started, timeout=timeout, what="no-op chains", progress=progress)


def wait_for_chains(
    broker: redis.Redis,
    count: int,
    started: float,
    *,
    timeout: float,
    what: str,
    progress: Callable[[int], None] | None = None,
) -> float:
    """Wait until `count` chains called `mark_chain_done`; seconds since `started` (perf_counter).

    `progress(done)` is called every PROGRESS_SECONDS while waiting.
    """
    next_report = time.perf_counter() + PROGRESS_SECONDS
    while (done := int(cast("bytes | None", broker.get(CHAINS_DONE_KEY)) or 0)) < count:
        now = time.perf_counter()
        if now - started > timeout:
            raise TimeoutError(f"{count} {what} did not finish in {timeout:.0f} s ({done} did)")
        if progress is not None and now >= next_report:
            next_report = now + PROGRESS_SECONDS
            progress(done)
        time.sleep(POLL_SECONDS)
    return time.perf_counter() - started
