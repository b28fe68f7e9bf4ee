"""The order of A/B runs on a shared machine: off, on, on, off, off, on, … (an ABBA sequence).

Runs of the two sides interleave so that a drift in the machine's load (other tenants, caches
warming) meets both sides alike; the medians of each side are then compared.
"""

from __future__ import annotations


def off_on_order(rounds: int) -> list[bool]:
    """On (True) or off for each run: off, on, on, off, … (`rounds` of each side)."""
    return [n % 4 in (1, 2) for n in range(2 * rounds)]
