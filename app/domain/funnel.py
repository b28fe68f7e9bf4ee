"""A campaign's claims as a funnel, and how fast they move (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class ClaimFunnel:
    """A campaign's claims: by state, why they were rejected or failed, and how far they got."""

    by_state: dict[str, int]
    rejected_by_reason: dict[str, int]
    failed_by_reason: dict[str, int]
    validated: int  # OptiPromo found them eligible (whatever happened next)
    rewarded: int  # the reward was granted (activated, completed, or confirmed after failing)

    @property
    def claimed(self) -> int:
        """Every claim of the campaign, rejected at once ones included."""
        return sum(self.by_state.values())

    @property
    def reported(self) -> int:
        """Claims whose status Optimove accepted (completed)."""
        return self.by_state.get("completed", 0)


EMPTY_FUNNEL = ClaimFunnel({}, {}, {}, 0, 0)


@dataclass(frozen=True, slots=True)
class TimeBucket:
    """How many claims fell in one bucket of time (a minute, or one validation batch's instant)."""

    at: datetime
    claims: int
