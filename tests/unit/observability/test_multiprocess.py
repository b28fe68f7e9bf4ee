"""Several processes writing to one PROMETHEUS_MULTIPROC_DIR are summed by one scrape.

The children are spawned (not forked) so that each imports prometheus-client afresh with the
variable set, exactly like a gunicorn worker or a Celery pool child started under it.
"""

from __future__ import annotations

import multiprocessing
import socket
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

CHILD_TIMEOUT_SECONDS = 60


def _record_in_child(webhooks: int, call_seconds: float) -> None:
    import os

    from prometheus_client import Gauge

    from app.observability import metrics

    directory = metrics.multiprocess_dir()
    assert directory is not None, "the child should be in multiprocess mode"
    for _ in range(webhooks):
        metrics.record_webhook("scheduled")
    metrics.record_optimove_call("customers/GetProcessedCampaignCustomers", "ok", call_seconds)
    metrics.record_ratelimit_wait(0.5)
    # What child_exit / worker_process_shutdown clean up: a dead process's live gauges.
    Gauge("test_live_gauge", "live", multiprocess_mode="livesum").set(1)
    # Only this child's file: the other child writes its own beside it at the same time.
    live = list(Path(directory).glob(f"gauge_livesum_*-{os.getpid()}.db"))
    assert len(live) == 1
    metrics.mark_process_dead(os.getpid())
    assert not live[0].exists()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_counters_of_two_processes_are_summed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.observability.metrics import scrape_registry

    tmp_path = tmp_path / "created-on-first-use"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    spawn = multiprocessing.get_context("spawn")
    children = [spawn.Process(target=_record_in_child, args=(n, 0.3)) for n in (2, 3)]
    for child in children:
        child.start()
    for child in children:
        child.join(CHILD_TIMEOUT_SECONDS)
    assert [child.exitcode for child in children] == [0, 0]
    files = sorted(path.name for path in tmp_path.glob("counter_*.db"))
    assert len(files) == 2  # one file per process, named by host and pid
    assert all(name.startswith(f"counter_{socket.gethostname().replace('_', '-')}-") for name in files)

    samples = _samples(generate_latest(scrape_registry(multiprocess_path=str(tmp_path))).decode())

    endpoint = "customers/GetProcessedCampaignCustomers"
    assert samples[("promobridge_webhooks_received_total", (("kind", "scheduled"),))] == 5
    assert samples[("promobridge_optimove_calls_total", (("endpoint", endpoint), ("outcome", "ok")))] == 2
    assert samples[("promobridge_optimove_call_seconds_count", (("endpoint", endpoint),))] == 2
    assert samples[("promobridge_optimove_call_seconds_sum", (("endpoint", endpoint),))] == pytest.approx(0.6)
    assert samples[("promobridge_ratelimit_waits_total", ())] == 2
    assert samples[("promobridge_ratelimit_wait_seconds_total", ())] == pytest.approx(1.0)


def _record_without_a_usable_directory() -> None:
    from app.observability import metrics  # importing must not fail

    assert metrics.multiprocess_dir() is None
    metrics.record_webhook("scheduled")
    assert not list(Path.cwd().glob("counter_*.db"))  # "" would mean files in the working directory


def test_an_unusable_directory_falls_back_to_in_memory_metrics(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    child = multiprocessing.get_context("spawn").Process(target=_record_without_a_usable_directory)
    child.start()
    child.join(CHILD_TIMEOUT_SECONDS)
    assert child.exitcode == 0
