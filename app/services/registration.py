"""One-time setup: make sure Optimove calls our listener for EventTypeID 5 (and 4), idempotently."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from app.adapters.optimove.models import RegisteredListener
from app.domain.campaigns import EVENT_SCHEDULED_CONDITIONAL


class ListenerRegistry(Protocol):
    """Optimove's listener endpoints."""

    def get_registered_event_listeners(self) -> list[RegisteredListener]:
        """Every listener currently registered."""
        ...

    def register_event_listener(self, event_type_id: int, listener_url: str) -> None:
        """Register (or replace) the listener of one event type."""
        ...


@dataclass(frozen=True, slots=True)
class RegistrationOutcome:
    """What `ensure_listeners` did per event type: "already", "registered" or "replaced"."""

    actions: dict[int, str]


def ensure_listeners(
    registry: ListenerRegistry,
    listener_url: str,
    event_types: Sequence[int] = (EVENT_SCHEDULED_CONDITIONAL,),
) -> RegistrationOutcome:
    """List first, then register only what is missing or points elsewhere (e.g. after a token rotation)."""
    current = {
        listener.event_type_id: listener.listener_url
        for listener in registry.get_registered_event_listeners()
    }
    actions: dict[int, str] = {}
    for event_type in event_types:
        existing = current.get(event_type)
        if existing == listener_url:
            actions[event_type] = "already"
            continue
        registry.register_event_listener(event_type, listener_url)
        actions[event_type] = "registered" if existing is None else "replaced"
    return RegistrationOutcome(actions)
