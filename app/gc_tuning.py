"""The garbage collector, tuned for processes that decode and write pages of 10,000 customers.

A page decoded from JSON is some 80,000 new containers. With the collector's defaults, every 700
of them start a young collection, and the survivors (the whole page, alive until it is written)
are moved up and scanned again, together with everything the process built at start-up: modules,
the app, connection pools. Measured in-process on a page of 10,000 (decode, read into columns,
policies, COPY text) beside a heap of a worker's size: 122-126 ms by default, 84-104 ms once the
start-up heap is frozen out of the collector's sight, 72-85 ms with young collections every
50,000 allocations as well. Cycles are still collected, only less often.
"""

from __future__ import annotations

import gc


def settle_heap_for_bulk_work(gen0_threshold: int) -> None:
    """Freeze what the process holds now (it lives as long as the process) and collect the young
    generation every `gen0_threshold` allocations (WORKER_GC_GEN0_THRESHOLD; Python's default 700)."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(gen0_threshold, gen1, gen2)
