"""The order of A/B runs on a shared machine: off, on, on, off, off, on, … (an ABBA sequence).

Runs of the two sides interleave so that a drift in the machine's load (other tenants, caches
warming) meets both sides alike; the medians of each side are then compared.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable


def on_at(n: int) -> bool:
    """Whether the n-th run (from 0) is on: off, on, on, off, off, on, …"""
    return n % 4 in (1, 2)


def off_on_order(rounds: int) -> list[bool]:
    """On (True) or off for each run: off, on, on, off, … (`rounds` of each side)."""
    return [on_at(n) for n in range(2 * rounds)]


def medians(runs: Iterable[tuple[bool, float]]) -> tuple[float, float]:
    """The median figure of the runs that were on, and of those that were off."""
    ran = list(runs)
    on = statistics.median(value for side, value in ran if side)
    off = statistics.median(value for side, value in ran if not side)
    return on, off
