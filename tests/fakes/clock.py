"""A clock that stands still until a test moves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


class FixedClock:
    """Callable like ``app.clock.utcnow``; every call returns `now` until `advance` moves it."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        """Move time forward (``advance(seconds=30)``); the new now."""
        self.now += timedelta(**delta)
        return self.now
