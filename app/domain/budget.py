"""How much of Optimove's request budget is in use (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """Requests taken from the shared budget in the current sliding window, out of the limit."""

    used: int
    limit: int
    window_seconds: float

    @property
    def fraction(self) -> float:
        """How full the window is, 0 to 1."""
        return min(1.0, self.used / self.limit) if self.limit else 0.0
