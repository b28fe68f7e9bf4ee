"""How long to wait before trying again: exponential backoff with jitter, bounded, Retry-After as a floor.

Framework-free, so that the one retry layer of a step (a Celery task's countdown, the time the
reconciler leaves a scheduled retry alone) comes from one function with one set of rules.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential steps from ``base_seconds``, never longer than ``max_seconds`` (seconds)."""

    base_seconds: float = 1.0
    max_seconds: float = 60.0
    # A queued retry must stay schedulable (a countdown beyond the broker's visibility timeout would be
    # delivered twice), so a server's Retry-After is capped too; a caller that simply sleeps (a CLI
    # command) waits it out in full: calling earlier would only fail again.
    cap_retry_after: bool = True

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.max_seconds <= 0:
            raise ValueError("backoff seconds must be positive")

    def delay(
        self, attempts: int, *, retry_after: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Seconds to wait after ``attempts`` failed attempts (1 = the first failed).

        The step doubles per attempt up to the cap; the delay is drawn between half the step and the
        step ("equal jitter": spread out, yet never an immediate retry). A server's ``Retry-After`` is a
        floor, itself capped at ``max_seconds`` unless ``cap_retry_after`` is off.
        """
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {attempts}")
        step = min(self.max_seconds, self.base_seconds * 2 ** min(attempts - 1, 62))
        delay = (rng or random).uniform(step / 2, step)
        if retry_after is not None and retry_after > delay:
            if not self.cap_retry_after:
                return retry_after
            delay = retry_after
        return min(delay, self.max_seconds)
