"""Run a blocking probe with a hard time limit, for health checks and scrape-time queries.

A statement timeout bounds a query, but not getting a connection: a database host that drops
packets, or a pool whose connections are all busy, can block ``engine.connect()`` for minutes.
Probes run in a daemon thread and the caller stops waiting at the deadline; the thread finishes
(or fails) on its own. A semaphore caps how many such threads can pile up while something hangs,
so a probe every few seconds against a dead host cannot exhaust threads or the connection pool.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["MAX_PROBES_IN_FLIGHT", "ProbeTimeout", "call_with_deadline"]

T = TypeVar("T")
MAX_PROBES_IN_FLIGHT = 4
_in_flight = threading.BoundedSemaphore(MAX_PROBES_IN_FLIGHT)


class ProbeTimeout(Exception):
    """The probe did not finish in time (or too many earlier probes are still hanging)."""


def call_with_deadline(probe: Callable[[], T], timeout_seconds: float) -> T:
    """`probe()`'s result, or its exception re-raised; ProbeTimeout after `timeout_seconds`."""
    if not _in_flight.acquire(blocking=False):
        raise ProbeTimeout(f"{MAX_PROBES_IN_FLIGHT} earlier probes are still running")
    outcome: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            outcome["value"] = probe()
        except BaseException as exc:  # handed to the caller below
            outcome["error"] = exc
        finally:
            _in_flight.release()

    thread = threading.Thread(target=run, name="promobridge-probe", daemon=True)
    try:
        thread.start()
    except BaseException:
        _in_flight.release()
        raise
    thread.join(timeout_seconds)
    if thread.is_alive():
        raise ProbeTimeout(f"timed out after {timeout_seconds:g}s")
    if "error" in outcome:
        error = outcome["error"]
        assert isinstance(error, BaseException)
        raise error
    return outcome["value"]  # type: ignore[return-value]
