"""How many long polls a web process holds at once: per client, and in all.

A waiting long poll holds one web thread. The total cap keeps threads free for webhooks, the
triggered gateway and probes; the per-client cap keeps one client from taking the whole total.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum


class Refusal(StrEnum):
    """Which cap a long poll ran into."""

    CLIENT = "client"
    PROCESS = "process"


class LongPollGate:
    """Counts the long polls in progress in this process; thread-safe."""

    def __init__(self, *, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._lock = threading.Lock()
        self._by_client: dict[int, int] = {}
        self._open = 0

    @contextmanager
    def admitted(self, client_id: int) -> Iterator[Refusal | None]:
        """Hold a place for the block; yields None when admitted, else the cap that refused it."""
        refusal = self._enter(client_id)
        try:
            yield refusal
        finally:
            if refusal is None:
                self._leave(client_id)

    def _enter(self, client_id: int) -> Refusal | None:
        with self._lock:
            if self._by_client.get(client_id, 0) >= self.per_client:
                return Refusal.CLIENT
            if self._open >= self.total:
                return Refusal.PROCESS
            self._by_client[client_id] = self._by_client.get(client_id, 0) + 1
            self._open += 1
            return None

    def _leave(self, client_id: int) -> None:
        with self._lock:
            self._open -= 1
            left = self._by_client[client_id] - 1
            if left:
                self._by_client[client_id] = left
            else:
                del self._by_client[client_id]

    @property
    def open(self) -> int:
        """Long polls in progress."""
        with self._lock:
            return self._open
