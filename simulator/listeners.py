"""Where the simulated tenant sends its webhooks: event listeners and the triggered gateway."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Listener:
    """A registered event listener (one per EventTypeID, contract #2)."""

    event_type_id: int
    url: str
    channel_id: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The GetRegisteredEventListeners entry (shape inferred, contract #2)."""
        entry: dict[str, Any] = {"EventTypeID": self.event_type_id, "ListenerURL": self.url}
        if self.channel_id is not None:
            entry["ChannelID"] = self.channel_id
        return entry


class ListenerRegistry:
    """Listeners by EventTypeID, the triggered-webhook URL, and how often each was (re)registered.

    The registration count exists so tests can prove ``promobridge register`` is idempotent.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: dict[int, Listener] = {}
        self._triggered_url: str | None = None
        self._registrations = 0
        self._triggered_registrations = 0

    def register(self, listener: Listener) -> None:
        """Add or replace the listener for its EventTypeID."""
        with self._lock:
            self._listeners[listener.event_type_id] = listener
            self._registrations += 1

    def unregister(self, event_type_id: int) -> bool:
        """Remove the listener; True if there was one."""
        with self._lock:
            return self._listeners.pop(event_type_id, None) is not None

    def get(self, event_type_id: int) -> Listener | None:
        """The listener for ``event_type_id``, if any."""
        with self._lock:
            return self._listeners.get(event_type_id)

    def all(self) -> list[Listener]:
        """Every listener, by EventTypeID."""
        with self._lock:
            return [self._listeners[key] for key in sorted(self._listeners)]

    def register_triggered(self, url: str) -> None:
        """Set the triggered-campaign webhook URL (replaces the previous one, contract #3)."""
        with self._lock:
            self._triggered_url = url
            self._triggered_registrations += 1

    @property
    def triggered_url(self) -> str | None:
        """The registered triggered-campaign webhook URL, if any."""
        with self._lock:
            return self._triggered_url

    def snapshot(self) -> dict[str, Any]:
        """Listener facts for ``GET /_sim/state``."""
        with self._lock:
            return {
                "listeners": {str(k): v.url for k, v in sorted(self._listeners.items())},
                "triggered_webhook_url": self._triggered_url,
                "registrations": self._registrations,
                "triggered_registrations": self._triggered_registrations,
            }

    def clear(self) -> None:
        """Forget every registration."""
        with self._lock:
            self._listeners.clear()
            self._triggered_url = None
            self._registrations = 0
            self._triggered_registrations = 0
