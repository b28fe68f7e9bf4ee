"""Receiving Optimove's listener calls: validate, store once in the inbox, answer fast.

Nothing here talks to Redis: the event is durable once committed, and the dispatcher (relay
process) or the sweeper hands it to a worker.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from app.adapters.db import inbox
from app.adapters.optimove.contract import CampaignEvent, parse_campaign_event
from app.clock import utcnow
from app.domain.campaigns import SUPPORTED_EVENT_TYPES

SOURCE_OPTIMOVE = "optimove"


class UnsupportedEventType(ValueError):
    """Raised for a well-formed event of a type promobridge does not handle."""


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """The stored event and whether it was new (False: a redelivery, deduplicated)."""

    event: CampaignEvent
    new: bool


def dedupe_key(event: CampaignEvent) -> str:
    """Optimove sends no delivery id, so one event per (EventTypeID, CampaignID) is kept."""
    return f"{event.event_type_id}:{event.campaign_id}"


def receive_optimove_event(
    engine: Engine,
    payload: Mapping[str, object],
    raw_body: str,
    timezone: ZoneInfo,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> ReceivedEvent:
    """Validate and store one listener call.

    Raises InvalidCampaignEvent (malformed) or UnsupportedEventType before anything is written.
    """
    event = parse_campaign_event(payload, timezone)
    if event.event_type_id not in SUPPORTED_EVENT_TYPES:
        raise UnsupportedEventType(f"EventTypeID {event.event_type_id} is not handled (only 4 and 5)")
    with engine.begin() as conn:
        new = inbox.store_event(
            conn,
            source=SOURCE_OPTIMOVE,
            dedupe_key=dedupe_key(event),
            event_type_id=event.event_type_id,
            campaign_id=event.campaign_id,
            payload=dict(payload),
            raw_body=raw_body,
            received_at=clock(),
        )
    return ReceivedEvent(event, new)
