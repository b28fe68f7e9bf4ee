"""Receiving Optimove's listener calls: validate, store once in the inbox, answer fast.

Nothing here talks to Redis: the event is durable once committed, and the dispatcher (relay
process) or the sweeper hands it to a worker.

Optimove sends no delivery id, so a redelivery is recognised by the event's identity fields (the
contract's fingerprint). The first event of a (EventTypeID, CampaignID) is the one acted on; a later
one that differs (another deadline, say) is stored, logged and shown in the campaign report, never
acted on and never silently dropped: a forged or mistaken first event must be visible when the
genuine one arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from app.clock import utcnow
from app.domain.campaigns import SUPPORTED_EVENT_TYPES
from app.domain.inbox import NewInboxEvent, Stored
from app.domain.optimove import CampaignEvent, InvalidCampaignEvent
from app.services.ports import EventContract
from app.services.unit_of_work import UnitOfWorkFactory

SOURCE_OPTIMOVE = "optimove"
log = logging.getLogger(__name__)


class UnsupportedEventType(ValueError):
    """Raised for a well-formed event of a type promobridge does not handle."""


@dataclass(frozen=True, slots=True)
class DeadlineWindow:
    """How far from now a ClearanceRequiredBy may sensibly be (Optimove sends it ~30 min ahead)."""

    past: timedelta = timedelta(days=7)
    ahead: timedelta = timedelta(days=90)


@dataclass(frozen=True, slots=True)
class ReceivedEvent:
    """The stored event and what storing it did (new, a duplicate, or a conflicting event)."""

    event: CampaignEvent
    stored: Stored
    differences: dict[str, tuple[object, object]] = field(default_factory=dict)

    @property
    def new(self) -> bool:
        """Whether this event will be acted on."""
        return self.stored == Stored.NEW


def receive_optimove_event(
    uow_factory: UnitOfWorkFactory,
    contract: EventContract,
    payload: Mapping[str, object],
    raw_body: str,
    *,
    window: DeadlineWindow = DeadlineWindow(),
    clock: Callable[[], datetime] = utcnow,
) -> ReceivedEvent:
    """Validate and store one listener call.

    Raises InvalidCampaignEvent (malformed, or a deadline outside `window`) or UnsupportedEventType
    before anything is written.
    """
    event = contract.parse(payload)
    if event.event_type_id not in SUPPORTED_EVENT_TYPES:
        raise UnsupportedEventType(f"EventTypeID {event.event_type_id} is not handled (only 4 and 5)")
    now = clock()
    _check_deadline(event, now, window)
    with uow_factory() as uow:
        result = uow.inbox.store(
            NewInboxEvent(
                source=SOURCE_OPTIMOVE,
                event_type_id=event.event_type_id,
                campaign_id=event.campaign_id,
                fingerprint=contract.fingerprint(event),
                payload=dict(payload),
                raw_body=raw_body,
                received_at=now,
            )
        )
        uow.commit()
    differences: dict[str, tuple[object, object]] = {}
    if result.stored == Stored.CONFLICT and result.first_payload is not None:
        differences = contract.differences(contract.parse(result.first_payload), event)
        log.warning(
            "webhook event differs from the first one received; stored, not acted on",
            extra={
                "campaign_id": event.campaign_id,
                "event_type_id": event.event_type_id,
                "first_event_id": result.first_event_id,
                "differences": {name: [str(a), str(b)] for name, (a, b) in differences.items()},
            },
        )
    return ReceivedEvent(event, result.stored, differences)


def _check_deadline(event: CampaignEvent, now: datetime, window: DeadlineWindow) -> None:
    deadline = event.clearance_required_by
    if deadline is None:
        return
    if not now - window.past <= deadline <= now + window.ahead:
        raise InvalidCampaignEvent(
            f"ClearanceRequiredBy {deadline.isoformat()} is outside the accepted window "
            f"(from {window.past} before now to {window.ahead} after)",
            field="ClearanceRequiredBy",
        )
