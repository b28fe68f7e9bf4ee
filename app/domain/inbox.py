"""Webhook events kept in the inbox: stored once, acted on once, conflicts kept apart (framework-free)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any


class Stored(StrEnum):
    """What storing an event did."""

    NEW = "new"  # the first event of its (EventTypeID, CampaignID): it will be acted on
    DUPLICATE = "duplicate"  # a redelivery of an event already stored: nothing stored
    CONFLICT = "conflict"  # differs from the first event of its kind: stored apart, never acted on


@dataclass(frozen=True, slots=True)
class StoreResult:
    """The outcome, and the first event of the same kind when this one conflicts with it."""

    stored: Stored
    first_event_id: int | None = None
    first_payload: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class NewInboxEvent:
    """A webhook event to store, keyed by its kind and the fingerprint of its identity fields."""

    source: str
    event_type_id: int
    campaign_id: int
    fingerprint: str
    payload: dict[str, Any]
    raw_body: str
    received_at: datetime


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """A stored webhook event."""

    id: int
    event_type_id: int
    campaign_id: int
    payload: dict[str, Any]
    processed: bool


@dataclass(frozen=True, slots=True)
class EventConflict:
    """An event that differed from the first one of its kind and was not acted on."""

    event_id: int
    event_type_id: int
    first_event_id: int
    received_at: datetime
    payload: dict[str, Any]
