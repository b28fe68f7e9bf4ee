"""Readiness aggregation and the hard deadline that keeps a hanging probe from hanging /readyz."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from app.observability import deadline
from app.observability.deadline import MAX_PROBES_IN_FLIGHT, ProbeTimeout, call_with_deadline
from app.observability.health import check_broker, readiness


def test_every_check_runs_and_each_failure_is_named() -> None:
    report = readiness(
        {"database": lambda: "error: down", "broker": lambda: "ok", "other": lambda: "skipped"}
    )

    assert not report.ready
    assert report.as_json() == {
        "status": "unavailable",
        "checks": {"database": "error: down", "broker": "ok", "other": "skipped"},
        "failing": ["database"],
    }


def _crash() -> str:
    raise RuntimeError("a bug in a check")


def test_checks_run_at_the_same_time_and_a_crashing_one_is_reported() -> None:
    both_running = threading.Barrier(2, timeout=5)  # breaks (→ error) if the checks ran one by one

    def meet() -> str:
        both_running.wait()
        return "ok"

    report = readiness({"database": meet, "broker": meet, "bug": _crash})

    assert report.checks == {"database": "ok", "broker": "ok", "bug": "error: RuntimeError"}
    assert report.failing == ["bug"]


def test_a_broker_we_cannot_check_is_skipped_not_failed(tmp_path: Path) -> None:
    assert check_broker("amqp://guest:guest@localhost//", tmp_path) == "skipped"


def test_a_probe_that_hangs_is_abandoned_at_the_deadline() -> None:
    release = threading.Event()
    try:
        with pytest.raises(ProbeTimeout, match=r"timed out after 0\.05s"):
            call_with_deadline(lambda: release.wait(5), 0.05)
    finally:
        release.set()


def _wait_until_no_probe_runs() -> None:
    # Threads released by an earlier test give their slots back asynchronously.
    give_up = time.monotonic() + 5
    while deadline._in_flight._value < MAX_PROBES_IN_FLIGHT and time.monotonic() < give_up:
        time.sleep(0.01)


def test_hanging_probes_are_capped_so_threads_cannot_pile_up() -> None:
    _wait_until_no_probe_runs()
    release = threading.Event()
    try:
        for _ in range(MAX_PROBES_IN_FLIGHT):
            with pytest.raises(ProbeTimeout):
                call_with_deadline(lambda: release.wait(5), 0.01)
        with pytest.raises(ProbeTimeout, match="still running"):
            call_with_deadline(lambda: True, 1.0)
    finally:
        release.set()


def test_a_probes_result_and_errors_reach_the_caller() -> None:
    _wait_until_no_probe_runs()  # the hanging probes of the test before may still hold every slot
    assert call_with_deadline(lambda: 42, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_deadline(lambda: 1 / 0, 1.0)
