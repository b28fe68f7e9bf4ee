"""An in-memory Coordination with the semantics of the Redis one (for in-process flows and unit tests)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


@dataclass
class MemoryCoordination:
    """Locks and doorbells in a dict; nothing expires unless a test says so (`expire`)."""

    held: dict[str, str] = field(default_factory=dict)
    rung: set[str] = field(default_factory=set)
    unavailable: bool = False  # behave as the Redis one does when Redis is down (fail open)
    _tokens: itertools.count[int] = field(default_factory=itertools.count)

    def acquire(self, key: str, ttl_seconds: float) -> str | None:
        if self.unavailable:
            return "uncoordinated"
        if key in self.held:
            return None
        token = f"t{next(self._tokens)}"
        self.held[key] = token
        return token

    def refresh(self, key: str, token: str, ttl_seconds: float) -> bool:
        return self.unavailable or self.held.get(key) == token

    def release(self, key: str, token: str) -> None:
        if self.held.get(key) == token:
            del self.held[key]

    def ring(self, key: str, window_seconds: float) -> bool:
        if self.unavailable or key not in self.rung:
            self.rung.add(key)
            return True
        return False

    def answer(self, key: str) -> None:
        self.rung.discard(key)

    def expire(self, key: str) -> None:
        """The lock's holder died and its time-to-live ran out; a lost ring was forgotten."""
        self.held.pop(key, None)
        self.rung.discard(key)
