"""Workers freeze their start-up heap and collect young objects less often (app.gc_tuning)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from app.config import Settings
from app.gc_tuning import settle_heap_for_bulk_work


@pytest.fixture
def collector_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_the_heap_is_frozen_and_young_collections_wait_for_the_threshold(collector_restored: None) -> None:
    _, gen1, gen2 = gc.get_threshold()
    held = [{"start-up": n} for n in range(1000)]

    settle_heap_for_bulk_work(50_000)

    assert gc.get_freeze_count() >= len(held)  # out of every collection's sight from now on
    assert gc.get_threshold() == (50_000, gen1, gen2)  # the older generations keep theirs


def test_a_prefork_child_settles_its_heap_when_celery_says_it_is_set_up(
    collector_restored: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery import signals

    import workers.signals

    monkeypatch.setenv("WORKER_GC_GEN0_THRESHOLD", "12345")
    monkeypatch.setattr(workers.signals, "process_settings", lambda: Settings())

    signals.worker_process_init.send(sender=None)

    assert gc.get_threshold()[0] == 12345 and gc.get_freeze_count() > 0
